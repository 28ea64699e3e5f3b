//! Hits and their merge: each rule records a hit per claim; hits with the same root cause
//! merge into one finding.

use crate::diagnose::engine::View;
use crate::diagnose::engine::affected::{affected, pod_affected};
use crate::diagnose::engine::claim::Claim;
use std::collections::HashMap;

use crate::diagnose::catalogue::FindingId;
use crate::diagnose::finding::{Affected, Finding, ObjectRef};

/// One root cause found for one claim; hits with the same `(id, root)` merge into one finding.
pub(crate) struct Hit {
    pub(crate) id: FindingId,
    pub(crate) root: ObjectRef,
    pub(crate) summary: String,
    /// Summary when several claims share the root cause (`{n}` = number of claims).
    pub(crate) group_summary: Option<String>,
    pub(crate) evidence: Vec<String>,
    pub(crate) affected: Vec<Affected>,
    pub(crate) remediation: String,
}

/// One finding per `(id, root)`, evidence and affected objects combined, sorted by severity,
/// catalogue order and subject.
pub(crate) fn merge(hits: Vec<Hit>) -> Vec<Finding> {
    let mut order: Vec<(FindingId, ObjectRef)> = Vec::new();
    let mut groups: HashMap<(FindingId, ObjectRef), (Vec<Hit>, usize)> = HashMap::new();
    for hit in hits {
        let k = (hit.id, hit.root.clone());
        let entry = groups.entry(k.clone()).or_insert_with(|| {
            order.push(k);
            (Vec::new(), 0)
        });
        entry.1 += 1;
        entry.0.push(hit);
    }
    let mut findings: Vec<Finding> = order
        .into_iter()
        .filter_map(|k| {
            let (hits, n) = groups.remove(&k)?;
            let mut it = hits.into_iter();
            let first = it.next()?;
            // Hash sets for de-duplication: a root cause shared by thousands of claims (a
            // missing class, a dead provisioner) must not cost a quadratic merge.
            let mut evidence = Unique::new(first.evidence);
            let mut affected = Unique::new(first.affected);
            let mut remediation = Unique::new(vec![first.remediation]);
            for h in it {
                h.evidence.into_iter().for_each(|e| evidence.push(e));
                h.affected.into_iter().for_each(|a| affected.push(a));
                remediation.push(h.remediation);
            }
            let (evidence, affected, remediation) =
                (evidence.items, affected.items, remediation.items);
            let summary = match (n, first.group_summary) {
                (n, Some(g)) if n > 1 => g.replace("{n}", &n.to_string()),
                _ => first.summary,
            };
            let kind = k.0.spec();
            Some(Finding {
                id: k.0,
                severity: kind.severity,
                subject: k.1,
                summary,
                evidence,
                affected,
                remediation: remediation.join("\n"),
                hint: kind.hint(),
            })
        })
        .collect();
    sort(&mut findings);
    findings
}

/// `findings` and the merged `more`, in one order.
pub(crate) fn merge_into(mut findings: Vec<Finding>, more: Vec<Hit>) -> Vec<Finding> {
    if more.is_empty() {
        return findings;
    }
    findings.extend(merge(more));
    sort(&mut findings);
    findings
}

/// By severity, catalogue order and subject.
fn sort(findings: &mut [Finding]) {
    findings.sort_by(|a, b| {
        // FindingId's order is the catalogue's.
        (a.severity, a.id, &a.subject).cmp(&(b.severity, b.id, &b.subject))
    });
}

/// A list without duplicates, in first-seen order, with O(1) membership.
pub(crate) struct Unique<T: std::hash::Hash + Eq + Clone> {
    pub(crate) items: Vec<T>,
    pub(crate) seen: std::collections::HashSet<T>,
}

impl<T: std::hash::Hash + Eq + Clone> Unique<T> {
    pub(crate) fn new(items: Vec<T>) -> Self {
        let mut u = Self {
            items: Vec::with_capacity(items.len()),
            seen: Default::default(),
        };
        items.into_iter().for_each(|i| u.push(i));
        u
    }

    pub(crate) fn push(&mut self, item: T) {
        if self.seen.insert(item.clone()) {
            self.items.push(item);
        }
    }
}

/// The parts of a finding a rule names, by name: [`hit`] and [`pod_hit`] add what the claim
/// or pod affects.
pub(crate) struct Found {
    pub(crate) id: FindingId,
    pub(crate) root: ObjectRef,
    pub(crate) summary: String,
    pub(crate) evidence: Vec<String>,
    pub(crate) remediation: String,
}

impl Found {
    fn into_hit(self, affected: Vec<Affected>, group_summary: Option<String>) -> Hit {
        Hit {
            id: self.id,
            root: self.root,
            summary: self.summary,
            group_summary,
            evidence: self.evidence,
            affected,
            remediation: self.remediation,
        }
    }
}

/// A root cause of claim `c`.
pub(crate) fn hit<'a>(view: &View<'_, 'a>, c: &Claim<'a>, found: Found) -> Hit {
    found.into_hit(affected(view, c), None)
}

/// [`hit`] with the summary to print when one root cause hits many claims
/// (`{n}` = number of claims).
pub(crate) fn grouped_hit<'a>(
    view: &View<'_, 'a>,
    c: &Claim<'a>,
    found: Found,
    group_summary: String,
) -> Hit {
    found.into_hit(affected(view, c), Some(group_summary))
}

/// A root cause of `pod`, whose state the finding lists among what it affects.
pub(crate) fn pod_hit<'a>(
    view: &View<'_, 'a>,
    pod: &'a crate::k8s::model::Pod,
    state: String,
    found: Found,
) -> Hit {
    found.into_hit(pod_affected(view, pod, state), None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(id: FindingId, root: &str, claim: &str) -> Hit {
        Hit {
            id,
            root: ObjectRef::cluster("Node", root),
            summary: format!("claim {claim}"),
            group_summary: Some("{n} claims".into()),
            evidence: vec![format!("claim {claim}"), "shared".into()],
            affected: vec![Affected {
                object: ObjectRef::namespaced("PersistentVolumeClaim", "ns", claim),
                state: None,
            }],
            remediation: "same fix".into(),
        }
    }

    #[test]
    fn merge_groups_by_root_and_sorts_by_severity() {
        let findings = merge(vec![
            hit(FindingId::PvcWaitingForConsumer, "x", "c"),
            hit(FindingId::PvNodeUnavailable, "n1", "a"),
            hit(FindingId::PvNodeUnavailable, "n1", "b"),
            hit(FindingId::PvNodeUnavailable, "n2", "c"),
        ]);
        let got: Vec<(&str, &str, &str)> = findings
            .iter()
            .map(|f| (f.id.as_str(), f.subject.name.as_str(), f.summary.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("pv-node-unavailable", "n1", "2 claims"),
                ("pv-node-unavailable", "n2", "claim c"),
                ("pvc-waiting-for-consumer", "x", "claim c"),
            ]
        );
        assert_eq!(findings[0].evidence, ["claim a", "shared", "claim b"]);
        assert_eq!(findings[0].affected.len(), 2);
        assert_eq!(findings[0].remediation, "same fix");
    }
}

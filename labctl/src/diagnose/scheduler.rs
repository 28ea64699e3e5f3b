//! Parser for the scheduler's `FailedScheduling` text (Event note/message and the pod's
//! `PodScheduled` condition message).
//!
//! The format (kubernetes `pkg/scheduler/framework/types.go`, `FitError.Error`) is
//! `0/<N> nodes are available: <count> <reason>, <count> <reason>.` or
//! `0/<N> nodes are available: <PreFilter message>.`, optionally followed by a PostFilter part
//! `preemption: ` + the same format again. It changed between versions, so nothing here depends
//! on the order of reasons or on one exact wording (the wordings are this module's tests):
//! `..` endings, the ` ...` cut at 1024 characters, the aggregator's
//! `(combined from similar events): ` prefix and 1.34's `no new claims to deallocate, ` are all
//! accepted. Parsing never fails: what is not understood is kept as text.

/// The event aggregator prefixes messages it merged (client-go `tools/record`).
pub const COMBINED_PREFIX: &str = "(combined from similar events): ";

/// What kind of filter failure a histogram reason is, across the wordings of 1.27–1.35.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReasonKind {
    /// `node(s) had volume node affinity conflict`; 1.33+: `node(s) didn't match
    /// PersistentVolume's node affinity`.
    VolumeNodeAffinityConflict,
    /// `node(s) didn't satisfy plugin(s) [VolumeBinding]` (1.27–1.31 may hide the real reason).
    VolumeBindingPlugin,
    /// `node(s) didn't find available persistent volumes to bind`.
    NoPersistentVolumeToBind,
    /// `node(s) did not have enough free storage`.
    NotEnoughStorage,
    /// `node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)`.
    BoundToMissingPersistentVolume,
    /// `node(s) didn't match Pod's node affinity/selector`.
    NodeAffinitySelectorMismatch,
    /// `node(s) had untolerated taint {…}` / 1.35 `node(s) had untolerated taint(s)`.
    UntoleratedTaint,
    /// `node(s) were unschedulable` (cordoned).
    NodeUnschedulable,
    /// `node has pod using PersistentVolumeClaim with the same name and ReadWriteOncePod access mode`.
    ReadWriteOncePodInUse,
    /// `Preemption is not helpful for scheduling` and `No preemption victims found…`.
    PreemptionNotHelpful,
    /// `Insufficient cpu|memory|ephemeral-storage|<extended>` and `Too many pods`
    /// (NodeResourcesFit): the node lacks what the pod requests.
    Insufficient(Resource),
    /// `node(s) didn't have free ports for the requested pod ports`.
    NodePorts,
    /// `node(s) didn't match pod affinity rules` / `… pod anti-affinity rules` /
    /// `… existing pods anti-affinity rules`.
    PodAffinity,
    /// `node(s) didn't match pod topology spread constraints`.
    TopologySpread,
    /// Anything else: kept as text.
    Other,
}

/// A resource the NodeResourcesFit filter reports as insufficient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Resource {
    Cpu,
    Memory,
    /// `Too many pods` (the node's pod capacity).
    Pods,
    EphemeralStorage,
    /// An extended resource (`nvidia.com/gpu`, hugepages): its name is in the reason text.
    Extended,
}

impl Resource {
    /// The resource name as in `resources.requests` and `status.allocatable`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cpu => "cpu",
            Self::Memory => "memory",
            Self::Pods => "pods",
            Self::EphemeralStorage => "ephemeral-storage",
            Self::Extended => "extended resource",
        }
    }
}

impl ReasonKind {
    /// Classifies one reason text (without its count). Matching is on stable fragments so that
    /// every wording in this module's tests lands in the same kind.
    pub fn classify(reason: &str) -> Self {
        let r = reason.to_ascii_lowercase();
        if r.contains("volume node affinity conflict")
            || r.contains("didn't match persistentvolume's node affinity")
        {
            Self::VolumeNodeAffinityConflict
        } else if r.contains("plugin(s)") && r.contains("volumebinding") {
            Self::VolumeBindingPlugin
        } else if r.contains("available persistent volumes to bind") {
            Self::NoPersistentVolumeToBind
        } else if r.contains("enough free storage") {
            Self::NotEnoughStorage
        } else if r.contains("bound to non-existent pv") {
            Self::BoundToMissingPersistentVolume
        } else if r.contains("node affinity/selector")
            // 1.13-1.17: `node(s) didn't match node selector`; before 1.13 the predicate.
            || r.contains("match node selector")
            || r == "matchnodeselector"
        {
            Self::NodeAffinitySelectorMismatch
        } else if r.contains("untolerated taint")
            // 1.18-1.24: `node(s) had taints that the pod didn't tolerate`; 1.17 and before:
            // `node(s) had taint {key: value}, that the pod didn't tolerate`.
            || r.contains("that the pod didn't tolerate")
            || r == "podtoleratesnodetaints"
            // Before taint-based evictions (1.17): `node(s) were not ready`.
            || r.contains("were not ready")
        {
            Self::UntoleratedTaint
        } else if r.contains("were unschedulable")
            || r.contains("was unschedulable")
            || r == "nodeunschedulable"
        {
            Self::NodeUnschedulable
        } else if r.contains("readwriteoncepod") {
            Self::ReadWriteOncePodInUse
        } else if r.contains("preemption") {
            Self::PreemptionNotHelpful
        } else if r.contains("too many pods") {
            Self::Insufficient(Resource::Pods)
        } else if let Some(res) = r.trim().strip_prefix("insufficient ") {
            Self::Insufficient(match res.trim() {
                "cpu" => Resource::Cpu,
                "memory" => Resource::Memory,
                "pods" => Resource::Pods,
                "ephemeral-storage" => Resource::EphemeralStorage,
                _ => Resource::Extended,
            })
        } else if r.contains("free ports") {
            Self::NodePorts
        } else if r.contains("affinity rules") {
            Self::PodAffinity
        } else if r.contains("topology spread") {
            Self::TopologySpread
        } else {
            Self::Other
        }
    }
}

/// One `<count> <reason>` entry of the histogram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReasonCount {
    pub count: u32,
    pub reason: String,
    pub kind: ReasonKind,
}

/// One `0/<N> nodes are available: …` part.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Availability {
    /// `<N>`: nodes considered.
    pub total_nodes: Option<u32>,
    /// Per-reason node counts (each node counts once, for its first failing filter).
    pub reasons: Vec<ReasonCount>,
    /// A PreFilter message instead of a histogram, e.g. `pod has unbound immediate
    /// PersistentVolumeClaims`.
    pub prefilter: Option<String>,
}

impl Availability {
    /// Nodes rejected for `kind`.
    pub fn count(&self, kind: ReasonKind) -> u32 {
        self.reasons
            .iter()
            .filter(|r| r.kind == kind)
            .fold(0u32, |acc, r| acc.saturating_add(r.count))
    }

    /// True when every considered node was rejected for `kind` (unknown totals: any node).
    pub fn all_nodes(&self, kind: ReasonKind) -> bool {
        let n = self.count(kind);
        match self.total_nodes {
            Some(total) => n > 0 && n >= total,
            None => n > 0,
        }
    }
}

/// A parsed `FailedScheduling` message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SchedulingFailure {
    /// The filter part (`None` when the message is not a `nodes are available` message).
    pub filter: Option<Availability>,
    /// The PostFilter part after `preemption: `.
    pub preemption: Option<Availability>,
    /// Text that is not an availability message, e.g. `running PreBind plugin "VolumeBinding":
    /// binding volumes: context deadline exceeded`.
    pub other: Option<String>,
    /// The Event text was cut at 1024 characters (` ...`): the histogram may be incomplete.
    pub truncated: bool,
}

impl SchedulingFailure {
    /// Nodes rejected for `kind` in the filter part (0 when there is none).
    pub fn count(&self, kind: ReasonKind) -> u32 {
        self.filter.as_ref().map_or(0, |a| a.count(kind))
    }

    /// Every considered node rejected for `kind`.
    pub fn all_nodes(&self, kind: ReasonKind) -> bool {
        self.filter.as_ref().is_some_and(|a| a.all_nodes(kind))
    }

    /// The resources nodes lack, with how many nodes lack each, in the message's order.
    pub fn insufficient(&self) -> Vec<(Resource, u32)> {
        let mut out: Vec<(Resource, u32)> = Vec::new();
        for r in self.filter.iter().flat_map(|a| a.reasons.iter()) {
            if let ReasonKind::Insufficient(res) = r.kind {
                match out.iter_mut().find(|(x, _)| *x == res) {
                    Some((_, n)) => *n = n.saturating_add(r.count),
                    None => out.push((res, r.count)),
                }
            }
        }
        out
    }

    /// The filter part as one line: `3 nodes: 1 Insufficient memory, 2 node(s) didn't match …`.
    pub fn histogram(&self) -> Option<String> {
        let a = self.filter.as_ref()?;
        let parts: Vec<String> = a
            .reasons
            .iter()
            .map(|r| format!("{} {}", r.count, r.reason))
            .chain(a.prefilter.clone())
            .collect();
        let total = a
            .total_nodes
            .map(|n| format!("{n} node(s) considered: "))
            .unwrap_or_default();
        Some(format!("{total}{}", parts.join(", ")))
    }

    /// The PreBind `VolumeBinding` timeout (after the 600 s bind timeout the provisioner
    /// did not deliver): `context deadline exceeded`, older `timed out waiting for the condition`.
    pub fn is_volume_binding_timeout(&self) -> bool {
        self.other.as_deref().is_some_and(|o| {
            let o = o.to_ascii_lowercase();
            o.contains("volumebinding")
                && (o.contains("deadline exceeded") || o.contains("timed out waiting"))
        })
    }
}

/// Removes the aggregator prefix (possibly repeated) and surrounding white space.
pub fn strip_combined_prefix(message: &str) -> &str {
    let mut m = message.trim();
    while let Some(rest) = m.strip_prefix(COMBINED_PREFIX.trim_end()) {
        m = rest.trim_start();
    }
    m
}

/// The scheduler's message before 1.13 (the predicates era, `generic_scheduler.go`'s
/// `FitError`): `No nodes are available that match all of the following predicates::
/// Insufficient memory (3), MatchNodeSelector (2).`: reasons with their counts after them.
const PREDICATES: &str = "No nodes are available that match all of the following predicates";

/// Parses a `FailedScheduling` message. Total: any input gives a result, never a panic.
pub fn parse(message: &str) -> SchedulingFailure {
    let mut m = strip_combined_prefix(message);
    let mut truncated = false;
    // Event messages are cut at 1024 bytes with a ` ...` suffix (events API validation).
    if let Some(rest) = m.strip_suffix(" ...") {
        m = rest;
        truncated = true;
    }
    if let Some(i) = m.find(PREDICATES) {
        return SchedulingFailure {
            filter: Some(parse_predicates(&m[i + PREDICATES.len()..])),
            truncated,
            ..Default::default()
        };
    }
    let Some(head) = find_availability(m) else {
        let other = m.trim();
        return SchedulingFailure {
            other: (!other.is_empty()).then(|| other.to_owned()),
            truncated,
            ..Default::default()
        };
    };
    let before = m[..head].trim();
    let rest = &m[head..];
    // Split off the PostFilter part. `preemption:` cannot appear inside a reason.
    let (filter_text, preemption_text) = match rest.find("preemption:") {
        Some(i) => (&rest[..i], Some(&rest[i + "preemption:".len()..])),
        None => (rest, None),
    };
    SchedulingFailure {
        filter: Some(parse_availability(filter_text)),
        preemption: preemption_text.map(parse_availability),
        other: (!before.is_empty()).then(|| before.to_owned()),
        truncated,
    }
}

/// Byte index where `<a>/<N> nodes are available` starts, if anywhere.
fn find_availability(m: &str) -> Option<usize> {
    let marker = m.find("nodes are available")?;
    // Walk back over `<a>/<N> ` (digits, one slash, digits, spaces).
    let bytes = m.as_bytes();
    let mut i = marker;
    while i > 0 && bytes[i - 1] == b' ' {
        i -= 1;
    }
    while i > 0 && (bytes[i - 1].is_ascii_digit() || bytes[i - 1] == b'/') {
        i -= 1;
    }
    Some(i)
}

/// Parses `<a>/<N> nodes are available: <histogram or PreFilter message>` (the text may start
/// directly with the histogram when the marker is missing).
fn parse_availability(text: &str) -> Availability {
    let mut a = Availability::default();
    let mut body = text.trim();
    if let Some(i) = body.find("nodes are available") {
        let prefix = body[..i].trim();
        a.total_nodes = prefix
            .rsplit('/')
            .next()
            .and_then(|n| n.trim().parse::<u32>().ok());
        body = body[i + "nodes are available".len()..].trim_start();
        body = body.strip_prefix(':').unwrap_or(body).trim();
    }
    // 1.34 may put `no new claims to deallocate` (DynamicResources PostFilter) before
    // `preemption:`; it is not a node count.
    let cleaned = body.replace("no new claims to deallocate", "");
    let body = trim_punctuation(&cleaned);
    if body.is_empty() {
        return a;
    }
    let items = split_histogram(body);
    for item in items {
        let item = trim_punctuation(item);
        if item.is_empty() {
            continue;
        }
        match split_count(item) {
            Some((count, reason)) => {
                let reason = trim_punctuation(reason).to_owned();
                let kind = ReasonKind::classify(&reason);
                a.reasons.push(ReasonCount {
                    count,
                    reason,
                    kind,
                });
            }
            None => {
                // A PreFilter message: the whole body, not a list.
                let msg = match &a.prefilter {
                    Some(p) => format!("{p}, {item}"),
                    None => item.to_owned(),
                };
                a.prefilter = Some(msg);
            }
        }
    }
    a
}

/// The predicates' list of [`PREDICATES`]: `:: Insufficient memory (3), MatchNodeSelector (2).`
/// (the total of nodes is not said).
fn parse_predicates(text: &str) -> Availability {
    let body = trim_punctuation(text.trim_start_matches([':', ' ']));
    let reasons = body
        .split(", ")
        .filter_map(|item| {
            let item = trim_punctuation(item);
            let (reason, count) = item.strip_suffix(')')?.rsplit_once(" (")?;
            let count = count.trim().parse::<u32>().ok()?;
            Some(ReasonCount {
                count,
                reason: reason.trim().to_owned(),
                kind: ReasonKind::classify(reason.trim()),
            })
        })
        .collect();
    Availability {
        total_nodes: None,
        reasons,
        prefilter: None,
    }
}

/// Splits `1 a, 2 b, 10 c` at every `, ` that is followed by a count, so that commas inside a
/// reason (`[NodeAffinity, VolumeBinding]`) stay in it.
fn split_histogram(body: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut search = 0;
    while let Some(off) = body[search..].find(", ") {
        let comma = search + off;
        let after = &body[comma + 2..];
        if split_count(after).is_some() {
            parts.push(&body[start..comma]);
            start = comma + 2;
        }
        search = comma + 2;
    }
    parts.push(&body[start..]);
    parts
}

/// `12 node(s) …` → `(12, "node(s) …")`; `None` when the text does not start with a count.
fn split_count(item: &str) -> Option<(u32, &str)> {
    let digits = item.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 || !item[digits..].starts_with(' ') {
        return None;
    }
    // A count too large for u32 is not a node count: saturate rather than fail.
    let count = item[..digits].parse::<u32>().unwrap_or(u32::MAX);
    Some((count, item[digits..].trim_start()))
}

/// Strips the trailing `.`, `..`, `,` and white space of the various versions.
fn trim_punctuation(s: &str) -> &str {
    s.trim().trim_end_matches(['.', ',', ' ']).trim()
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLASSIC: &str = "0/3 nodes are available: 1 node(s) had volume node affinity conflict, 2 node(s) didn't match Pod's node affinity/selector. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.";

    /// The taint and selector wordings before 1.25, still printed by clusters in the field.
    #[test]
    fn older_taint_and_selector_wordings() {
        for (message, kind) in [
            // 1.18-1.24 (`pkg/scheduler/framework/plugins/tainttoleration`).
            (
                "0/1 nodes are available: 1 node(s) had taints that the pod didn't tolerate.",
                ReasonKind::UntoleratedTaint,
            ),
            // 1.17 and before: the taint named.
            (
                "0/1 nodes are available: 1 node(s) had taint {node.kubernetes.io/unreachable: }, that the pod didn't tolerate.",
                ReasonKind::UntoleratedTaint,
            ),
            (
                "0/1 nodes are available: 1 node(s) were not ready.",
                ReasonKind::UntoleratedTaint,
            ),
            (
                "0/1 nodes are available: 1 node(s) didn't match node selector.",
                ReasonKind::NodeAffinitySelectorMismatch,
            ),
        ] {
            let f = parse(message);
            assert!(f.all_nodes(kind), "{message}: {f:?}");
        }
    }

    /// Before 1.13: the predicates' names and counts after them.
    #[test]
    fn the_predicates_wording() {
        let f = parse(
            "No nodes are available that match all of the following predicates:: Insufficient memory (3).",
        );
        assert_eq!(f.insufficient(), [(Resource::Memory, 3)]);
        let f = parse(
            "No nodes are available that match all of the following predicates:: Insufficient cpu (1), MatchNodeSelector (2), PodToleratesNodeTaints (1).",
        );
        assert_eq!(f.count(ReasonKind::NodeAffinitySelectorMismatch), 2);
        assert_eq!(f.count(ReasonKind::UntoleratedTaint), 1);
        assert_eq!(f.insufficient(), [(Resource::Cpu, 1)]);
        assert_eq!(f.other, None);
    }

    #[test]
    fn classic_histogram_and_preemption() {
        let f = parse(CLASSIC);
        let filter = f.filter.as_ref().unwrap();
        assert_eq!(filter.total_nodes, Some(3));
        assert_eq!(f.count(ReasonKind::VolumeNodeAffinityConflict), 1);
        assert_eq!(f.count(ReasonKind::NodeAffinitySelectorMismatch), 2);
        let pre = f.preemption.as_ref().unwrap();
        assert_eq!(pre.total_nodes, Some(3));
        assert_eq!(pre.count(ReasonKind::PreemptionNotHelpful), 3);
        assert!(!f.truncated);
        assert_eq!(f.other, None);
    }

    #[test]
    fn wording_133_and_reordered() {
        let f = parse(
            "0/3 nodes are available: 2 node(s) didn't match Pod's node affinity/selector, 1 node(s) didn't match PersistentVolume's node affinity. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.",
        );
        assert_eq!(f.count(ReasonKind::VolumeNodeAffinityConflict), 1);
        assert_eq!(f.count(ReasonKind::NodeAffinitySelectorMismatch), 2);
    }

    #[test]
    fn plugin_wording_and_double_dot() {
        let f = parse(
            "0/3 nodes are available: 1 node(s) didn't satisfy plugin(s) [VolumeBinding], 2 node(s) didn't match Pod's node affinity/selector..",
        );
        assert_eq!(f.count(ReasonKind::VolumeBindingPlugin), 1);
        assert_eq!(f.count(ReasonKind::NodeAffinitySelectorMismatch), 2);
        assert_eq!(f.preemption, None);
    }

    #[test]
    fn combined_prefix_truncation_and_dra_part() {
        let f = parse(
            "(combined from similar events): 0/12 nodes are available: 10 node(s) didn't match Pod's node affinity/selector, 2 node(s) had untolerated taint {node.kubernetes.io/unreachable: }. no new claims to deallocate, preemption: 0/12 nodes are available: 12 Preemption is not helpful for scheduling. ...",
        );
        assert!(f.truncated);
        assert_eq!(f.count(ReasonKind::NodeAffinitySelectorMismatch), 10);
        assert_eq!(f.count(ReasonKind::UntoleratedTaint), 2);
        assert_eq!(f.filter.as_ref().unwrap().total_nodes, Some(12));
        assert_eq!(
            f.preemption
                .as_ref()
                .unwrap()
                .count(ReasonKind::PreemptionNotHelpful),
            12
        );
    }

    #[test]
    fn all_nodes_mismatch() {
        let f = parse(
            "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.",
        );
        assert!(f.all_nodes(ReasonKind::NodeAffinitySelectorMismatch));
        assert!(!f.all_nodes(ReasonKind::VolumeNodeAffinityConflict));
    }

    #[test]
    fn prefilter_message() {
        let f = parse(
            "0/3 nodes are available: pod has unbound immediate PersistentVolumeClaims. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.",
        );
        let filter = f.filter.unwrap();
        assert_eq!(
            filter.prefilter.as_deref(),
            Some("pod has unbound immediate PersistentVolumeClaims")
        );
        assert!(filter.reasons.is_empty());
    }

    #[test]
    fn prebind_timeout_is_other() {
        for m in [
            "running PreBind plugin \"VolumeBinding\": binding volumes: context deadline exceeded",
            "running PreBind plugin \"VolumeBinding\": binding volumes: timed out waiting for the condition",
        ] {
            let f = parse(m);
            assert!(f.filter.is_none());
            assert!(f.is_volume_binding_timeout(), "{m}");
        }
    }

    #[test]
    fn taints_135_and_cordon_and_rwop() {
        let f = parse(
            "0/3 nodes are available: 1 node(s) had untolerated taint(s), 1 node(s) were unschedulable, 1 node has pod using PersistentVolumeClaim with the same name and ReadWriteOncePod access mode.",
        );
        assert_eq!(f.count(ReasonKind::UntoleratedTaint), 1);
        assert_eq!(f.count(ReasonKind::NodeUnschedulable), 1);
        assert_eq!(f.count(ReasonKind::ReadWriteOncePodInUse), 1);
    }

    #[test]
    fn resources_ports_and_affinity_are_kept_as_data() {
        // 1.33-1.36 NodeResourcesFit wordings; a node counts once, for its first failing filter.
        let f = parse(
            "0/3 nodes are available: 1 Insufficient memory, 1 Too many pods, 1 node(s) didn't match Pod's node affinity/selector. preemption: 0/3 nodes are available: 1 No preemption victims found for incoming pod, 2 Preemption is not helpful for scheduling.",
        );
        assert_eq!(f.count(ReasonKind::Insufficient(Resource::Memory)), 1);
        assert_eq!(f.count(ReasonKind::Insufficient(Resource::Pods)), 1);
        assert_eq!(
            f.insufficient(),
            [(Resource::Memory, 1), (Resource::Pods, 1)]
        );
        let f = parse(
            "0/1 nodes are available: 1 Insufficient cpu, 1 Insufficient ephemeral-storage, 1 Insufficient nvidia.com/gpu.",
        );
        assert_eq!(
            f.insufficient(),
            [
                (Resource::Cpu, 1),
                (Resource::EphemeralStorage, 1),
                (Resource::Extended, 1)
            ]
        );
        assert_eq!(
            f.histogram().unwrap(),
            "1 node(s) considered: 1 Insufficient cpu, 1 Insufficient ephemeral-storage, 1 Insufficient nvidia.com/gpu"
        );
        let f = parse(
            "0/3 nodes are available: 1 node(s) didn't have free ports for the requested pod ports, 1 node(s) didn't match pod anti-affinity rules, 1 node(s) didn't match pod topology spread constraints.",
        );
        assert_eq!(f.count(ReasonKind::NodePorts), 1);
        assert_eq!(f.count(ReasonKind::PodAffinity), 1);
        assert_eq!(f.count(ReasonKind::TopologySpread), 1);
        assert!(f.insufficient().is_empty());
    }

    #[test]
    fn comma_inside_reason_stays() {
        let f = parse(
            "0/2 nodes are available: 2 node(s) didn't satisfy plugin(s) [NodeAffinity, VolumeBinding].",
        );
        let r = &f.filter.unwrap().reasons;
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].count, 2);
    }

    #[test]
    fn odd_inputs() {
        for m in [
            "",
            " ...",
            "0/",
            "nodes are available",
            "0/x nodes are available: ,,, 1",
            "99999999999 nodes are available: 99999999999 x",
        ] {
            let _ = parse(m);
        }
        assert_eq!(parse("").other, None);
    }

    mod props {
        use super::super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn never_panics(s in any::<String>()) {
                let _ = parse(&s);
            }

            /// Resource reasons, counts and totals in any combination: never a panic, and the
            /// counts add up whatever the order.
            #[test]
            fn never_panics_on_resource_reasons(cpu in 0u32..20, mem in 0u32..20, pods in 0u32..20, eph in 0u32..20, junk in "[ a-z/.]{0,20}", rot in 0usize..4, cut in any::<bool>()) {
                let mut parts = [
                    format!("{cpu} Insufficient cpu"),
                    format!("{mem} Insufficient memory"),
                    format!("{pods} Too many pods"),
                    format!("{eph} Insufficient ephemeral-storage{junk}"),
                ];
                parts.rotate_left(rot);
                let total = cpu + mem + pods + eph;
                let mut msg = format!("0/{total} nodes are available: {}. preemption: 0/{total} nodes are available: {total} No preemption victims found for incoming pod.", parts.join(", "));
                if cut { msg.truncate(msg.len() / 2); msg.push_str(" ..."); }
                let f = parse(&msg);
                if !cut {
                    prop_assert_eq!(f.count(ReasonKind::Insufficient(Resource::Cpu)), cpu);
                    prop_assert_eq!(f.count(ReasonKind::Insufficient(Resource::Memory)), mem);
                    prop_assert_eq!(f.count(ReasonKind::Insufficient(Resource::Pods)), pods);
                }
                let _ = f.histogram();
                let _ = f.insufficient();
            }

            #[test]
            fn never_panics_near_format(s in "(\\(combined from similar events\\): )?[0-9]{0,3}/?[0-9]{0,3} ?nodes are available:?[ 0-9a-zA-Z(),.:'/\\[\\]{}-]{0,80}( preemption:[ 0-9a-z,.]{0,30})?( \\.\\.\\.)?") {
                let _ = parse(&s);
            }

            /// Reasons in any order give the same per-kind counts.
            #[test]
            fn order_does_not_matter(a in 0u32..50, b in 0u32..50, c in 0u32..50, perm in 0usize..6, new_wording in any::<bool>()) {
                let conflict = if new_wording { "node(s) didn't match PersistentVolume's node affinity" } else { "node(s) had volume node affinity conflict" };
                let mut parts = [
                    format!("{a} {conflict}"),
                    format!("{b} node(s) didn't match Pod's node affinity/selector"),
                    format!("{c} node(s) were unschedulable"),
                ];
                let rot = perm % 3;
                parts.rotate_left(rot);
                if perm >= 3 { parts.swap(0, 1); }
                let total = a + b + c;
                let msg = format!("0/{total} nodes are available: {}. preemption: 0/{total} nodes are available: {total} Preemption is not helpful for scheduling.", parts.join(", "));
                let f = parse(&msg);
                prop_assert_eq!(f.count(ReasonKind::VolumeNodeAffinityConflict), a);
                prop_assert_eq!(f.count(ReasonKind::NodeAffinitySelectorMismatch), b);
                prop_assert_eq!(f.count(ReasonKind::NodeUnschedulable), c);
                prop_assert_eq!(f.filter.unwrap().total_nodes, Some(total));
            }
        }
    }
}

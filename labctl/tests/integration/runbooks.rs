//! Every hint labctl can print points at a runbook section that exists (anchor = id): the
//! checks', the findings' and the lint rules'. A finding's section has the parts an operator
//! reads in order.

use crate::support::labctl::repo_root;
use crate::support::runbook::section;

#[test]
fn every_hint_has_a_runbook_section() {
    let checks = [
        labctl::checks::catalogue::preflight(),
        labctl::checks::catalogue::verify(),
    ];
    let hints = checks
        .iter()
        .flatten()
        .map(|c| c.hint())
        .chain(labctl::diagnose::CATALOGUE.iter().map(|f| f.hint()))
        .chain(labctl::lint::CATALOGUE.iter().map(|r| r.hint()));
    let mut missing = Vec::new();
    for hint in hints {
        if section(repo_root(), &hint).is_none() {
            missing.push(hint);
        }
    }
    assert!(missing.is_empty(), "runbook sections missing: {missing:#?}");
}

#[test]
fn every_finding_section_is_complete() {
    for finding in labctl::diagnose::CATALOGUE {
        let hint = finding.hint();
        assert_eq!(hint, format!("runbooks/failure-modes.md#{}", finding.id));
        let text = section(repo_root(), &hint).unwrap_or_default();
        for part in [
            "**Symptoms**",
            "**What labctl prints**",
            "**Confirm by hand**",
            "**Remediation**",
            "**Prevention**",
        ] {
            assert!(text.contains(part), "section {} lacks {part}", finding.id);
        }
    }
}

#[test]
fn check_ids_are_unique_kebab_case() {
    for catalogue in [
        labctl::checks::catalogue::preflight(),
        labctl::checks::catalogue::verify(),
    ] {
        let mut ids: Vec<_> = catalogue.iter().map(|c| c.id).collect();
        for id in &ids {
            assert!(
                id.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
                "{id}"
            );
        }
        let n = ids.len();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), n, "duplicate check id");
    }
}

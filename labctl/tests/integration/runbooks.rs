//! Every check's hint points at a runbook section that exists (anchor = check id).

use std::path::Path;

use crate::support::runbook::anchors;

#[test]
fn every_check_hint_has_a_runbook_section() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut missing = Vec::new();
    let catalogues = [
        labctl::checks::catalogue::preflight(),
        labctl::checks::catalogue::verify(),
    ];
    for check in catalogues.iter().flatten() {
        let hint = check.hint();
        let (file, anchor) = hint.split_once('#').unwrap();
        let text = std::fs::read_to_string(root.join(file)).unwrap_or_default();
        if !anchors(&text).iter().any(|a| a == anchor) {
            missing.push(hint);
        }
    }
    assert!(missing.is_empty(), "runbook sections missing: {missing:#?}");
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

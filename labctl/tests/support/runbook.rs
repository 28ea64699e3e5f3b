//! Runbook anchors, for the tests that check every hint points at a section that exists.

/// `## <id>` headings of a runbook. GitHub makes the anchor from the heading text, and ids are
/// already kebab-case, so the heading text is the anchor.
pub fn anchors(markdown: &str) -> Vec<String> {
    markdown
        .lines()
        .filter_map(|l| l.strip_prefix("## "))
        .map(|h| h.trim().trim_matches('`').to_owned())
        .collect()
}

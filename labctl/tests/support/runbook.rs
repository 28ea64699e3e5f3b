//! Runbook sections, for the test that checks every hint points at a section that exists.

use std::path::Path;

/// The section a hint (`runbooks/<file>.md#<id>`) points at, from its `## <id>` heading to the
/// next: `None` if the file or the heading is missing. GitHub makes the anchor from the heading
/// text, and ids are already kebab-case, so the heading text is the anchor.
pub fn section(root: &Path, hint: &str) -> Option<String> {
    let (file, anchor) = hint.split_once('#')?;
    let text = std::fs::read_to_string(root.join(file)).ok()?;
    let mut lines = text.lines();
    lines.find(|l| {
        l.strip_prefix("## ")
            .is_some_and(|h| h.trim().trim_matches('`') == anchor)
    })?;
    let body: Vec<&str> = lines.take_while(|l| !l.starts_with("## ")).collect();
    Some(body.join("\n"))
}

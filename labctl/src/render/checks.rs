//! Renderers of check reports: `table` (linkerd-style: category headers, one symbol line per
//! check, indented detail and `see <hint>` when not OK, a final status line), `short` (only
//! what is not OK) and `json` (one stable, versioned document).

use crate::checks::{Cause, Status};
use crate::render::{OutputFormat, Palette, SCHEMA};
use crate::runner::{Report, Summary};

/// Renders `report` in the requested format (`strict` only changes the final verdict).
pub fn render(report: &Report, format: OutputFormat, palette: Palette, strict: bool) -> String {
    match format {
        OutputFormat::Table => table(report, palette, strict),
        OutputFormat::Short => short(report, palette),
        OutputFormat::Json => json(report),
    }
}

/// `verify`'s report: the checks, then the root causes the diagnosis found (`causes`: `None`
/// renders exactly as [`render`]; in JSON a `causes` list, empty when none was found).
pub fn render_with_causes(
    report: &Report,
    causes: &[Cause],
    format: OutputFormat,
    palette: Palette,
    strict: bool,
) -> String {
    match format {
        OutputFormat::Table => {
            let mut out = table(report, palette, strict);
            if !causes.is_empty() {
                out.push_str(&causes_block(causes, palette));
            }
            out
        }
        OutputFormat::Short => {
            let mut out = short(report, palette);
            for c in causes {
                out.push_str(&format!(
                    "cause {} {}: {} (labctl diagnose)\n",
                    c.id, c.subject, c.summary
                ));
            }
            out
        }
        OutputFormat::Json => {
            let doc = JsonVerifyReport {
                schema: SCHEMA,
                as_of: report.as_of,
                checks: &report.checks,
                summary: report.summary(),
                causes,
            };
            crate::render::to_json_document(&doc)
                .unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}\n"))
        }
    }
}

fn causes_block(causes: &[Cause], p: Palette) -> String {
    let mut out = String::from("\n");
    out.push_str(&p.bold("Root cause"));
    out.push('\n');
    out.push_str("----------\n");
    for c in causes {
        out.push_str(&format!(
            "{} {} {}: {}\n",
            symbol(Status::Fail, p),
            p.bold(c.id.as_str()),
            c.subject,
            c.summary
        ));
    }
    out.push_str(&format!(
        "    details: labctl diagnose (see {})\n",
        causes
            .iter()
            .map(|c| c.hint.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    ));
    out
}

#[derive(serde::Serialize)]
struct JsonVerifyReport<'a> {
    schema: u32,
    /// The instant a recording was judged as of (`verify --snapshot`); absent live.
    #[serde(skip_serializing_if = "Option::is_none")]
    as_of: Option<crate::snapshot::AsOf>,
    checks: &'a [crate::runner::CheckResult],
    summary: Summary,
    causes: &'a [Cause],
}

fn symbol(status: Status, p: Palette) -> String {
    match status {
        Status::Pass => p.green("✔"),
        Status::Warn => p.yellow("‼"),
        Status::Fail => p.red("✖"),
        Status::Skip => p.dim("○"),
    }
}

/// The linkerd-style report, under the instant it was judged as of when that is a recording's.
pub fn table(report: &Report, p: Palette, strict: bool) -> String {
    let mut out = String::new();
    if let Some(as_of) = &report.as_of {
        out.push_str(&p.dim(&as_of.line()));
        out.push_str("\n\n");
    }
    let mut category: Option<&str> = None;
    for c in &report.checks {
        if category != Some(c.category.as_str()) {
            if category.is_some() {
                out.push('\n');
            }
            out.push_str(&p.bold(&c.category));
            out.push('\n');
            out.push_str(&"-".repeat(c.category.chars().count()));
            out.push('\n');
            category = Some(&c.category);
        }
        out.push_str(&format!("{} {}", symbol(c.status, p), c.title));
        if c.status == Status::Pass {
            if !c.message.is_empty() {
                out.push_str(&p.dim(&format!(" ({})", c.message)));
            }
            out.push('\n');
            continue;
        }
        out.push('\n');
        out.push_str(&format!("    {}\n", c.message));
        for line in &c.evidence {
            out.push_str(&format!("    {}\n", p.dim(line)));
        }
        if c.status != Status::Skip {
            out.push_str(&format!("    see {}\n", c.hint));
        }
    }
    out.push('\n');
    out.push_str(&status_line(report.summary(), p, strict));
    out.push('\n');
    out
}

fn status_line(s: Summary, p: Palette, strict: bool) -> String {
    let verdict = if s.fail > 0 || (strict && s.warn > 0) {
        symbol(Status::Fail, p)
    } else if s.warn > 0 {
        symbol(Status::Warn, p)
    } else {
        symbol(Status::Pass, p)
    };
    format!(
        "Status check results are {verdict} ({} passed, {} warnings, {} failed, {} skipped)",
        s.pass, s.warn, s.fail, s.skip
    )
}

/// Only what is not OK, one line per check (nothing at all when everything passed).
pub fn short(report: &Report, p: Palette) -> String {
    let mut out = String::new();
    for c in report.checks.iter().filter(|c| c.status != Status::Pass) {
        out.push_str(&format!("{} {}: {}", symbol(c.status, p), c.id, c.message));
        if c.status != Status::Skip {
            out.push_str(&format!(" (see {})", c.hint));
        }
        out.push('\n');
    }
    out
}

/// `--list`: the catalogue itself (id, category, title, hint).
pub fn list(catalogue: &[crate::checks::Check], format: OutputFormat) -> String {
    #[derive(serde::Serialize)]
    struct Entry<'a> {
        id: &'a str,
        category: &'a str,
        title: &'a str,
        hint: String,
    }
    let entries: Vec<Entry<'_>> = catalogue
        .iter()
        .map(|c| Entry {
            id: c.id,
            category: c.category,
            title: c.title,
            hint: c.hint(),
        })
        .collect();
    match format {
        // `{"schema": 1, "checks": [...]}`, versioned like every JSON document labctl prints.
        OutputFormat::Json => crate::render::to_json_document(&serde_json::json!({
            "schema": SCHEMA,
            "checks": entries,
        }))
        .unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}\n")),
        _ => {
            let width = entries.iter().map(|e| e.id.len()).max().unwrap_or(0);
            entries
                .iter()
                .map(|e| format!("{:width$}  {:16}  {}\n", e.id, e.category, e.title))
                .collect()
        }
    }
}

#[derive(serde::Serialize)]
struct JsonReport<'a> {
    schema: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    as_of: Option<crate::snapshot::AsOf>,
    checks: &'a [crate::runner::CheckResult],
    summary: Summary,
}

/// `{"schema": 1, "checks": [...], "summary": {...}}`.
pub fn json(report: &Report) -> String {
    let doc = JsonReport {
        schema: SCHEMA,
        as_of: report.as_of,
        checks: &report.checks,
        summary: report.summary(),
    };
    // Serialising plain strings and numbers cannot fail.
    crate::render::to_json_document(&doc).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}\n"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::CheckResult;
    use std::time::Duration;

    fn r(
        id: &str,
        category: &str,
        status: Status,
        message: &str,
        evidence: &[&str],
    ) -> CheckResult {
        CheckResult {
            id: id.into(),
            category: category.into(),
            title: format!("{id} title"),
            status,
            message: message.into(),
            evidence: evidence.iter().map(|s| s.to_string()).collect(),
            hint: format!("runbooks/verification.md#{id}"),
            elapsed: Duration::ZERO,
        }
    }

    fn sample() -> Report {
        Report {
            checks: vec![
                r(
                    "api-reachable",
                    "kubernetes-api",
                    Status::Pass,
                    "v1.33.2",
                    &[],
                ),
                r(
                    "pvc-bound",
                    "storage",
                    Status::Fail,
                    "PVC models is Pending",
                    &["event: x"],
                ),
                r(
                    "pv-node-affinity",
                    "storage",
                    Status::Warn,
                    "no PV yet",
                    &[],
                ),
                r(
                    "argocd-app-healthy",
                    "argocd",
                    Status::Skip,
                    "cannot get applications",
                    &[],
                ),
            ],
            ..Report::default()
        }
    }

    #[test]
    fn table_golden() {
        insta::assert_snapshot!(table(&sample(), Palette::new(false), false));
    }

    #[test]
    fn short_golden() {
        insta::assert_snapshot!(short(&sample(), Palette::new(false)));
    }

    #[test]
    fn json_golden() {
        insta::assert_snapshot!(json(&sample()));
    }

    #[test]
    fn short_is_empty_when_all_pass() {
        let report = Report {
            checks: vec![r("a", "c", Status::Pass, "", &[])],
            ..Report::default()
        };
        assert_eq!(short(&report, Palette::new(false)), "");
    }

    #[test]
    fn strict_turns_warnings_into_a_failed_verdict() {
        let report = Report {
            checks: vec![r("a", "c", Status::Warn, "meh", &[])],
            ..Report::default()
        };
        assert!(table(&report, Palette::new(false), false).contains("results are ‼"));
        assert!(table(&report, Palette::new(false), true).contains("results are ✖"));
    }

    #[test]
    fn a_recording_is_judged_under_its_instant_in_the_table_and_json() {
        use crate::snapshot::AsOf;
        use crate::snapshot::as_of::Source;
        let live = sample();
        assert!(!table(&live, Palette::new(false), false).contains("Judged as of"));
        assert!(!json(&live).contains("as_of"));
        let recorded = Report {
            as_of: Some(AsOf {
                at: "2026-11-30T03:51:10Z".parse().unwrap(),
                source: Source::NewestInFile,
            }),
            ..sample()
        };
        let t = table(&recorded, Palette::new(false), false);
        assert!(
            t.starts_with(
                "Judged as of 2026-11-30T03:51:10Z, the newest time in the file\n\nkubernetes-api\n"
            ),
            "{t}"
        );
        for doc in [
            json(&recorded),
            render_with_causes(
                &recorded,
                &[],
                OutputFormat::Json,
                Palette::new(false),
                false,
            ),
        ] {
            let j: serde_json::Value = serde_json::from_str(&doc).unwrap();
            assert_eq!(j["as_of"]["time"], "2026-11-30T03:51:10Z", "{doc}");
            assert_eq!(j["as_of"]["source"], "newest-time-in-file", "{doc}");
        }
    }

    fn cause() -> Cause {
        Cause {
            id: crate::diagnose::FindingId::InsufficientResources,
            severity: crate::severity::Severity::Error,
            subject: crate::diagnose::ObjectRef::cluster("Node", "lab-node-1"),
            summary: "Pod inference-x cannot be placed: node lab-node-1, where it is pinned, lacks the memory it requests".into(),
            hint: "runbooks/failure-modes.md#insufficient-resources".into(),
        }
    }

    #[test]
    fn verify_names_the_root_cause_under_the_failed_checks() {
        let report = sample();
        let causes = [cause()];
        let t = render_with_causes(
            &report,
            &causes,
            OutputFormat::Table,
            Palette::new(false),
            false,
        );
        let status = t.find("Status check results").unwrap();
        let root = t.find("Root cause\n----------\n✖ insufficient-resources Node lab-node-1: Pod inference-x cannot be placed").unwrap();
        assert!(root > status, "{t}");
        assert!(t.ends_with("    details: labctl diagnose (see runbooks/failure-modes.md#insufficient-resources)\n"), "{t}");
        let s = render_with_causes(
            &report,
            &causes,
            OutputFormat::Short,
            Palette::new(false),
            false,
        );
        assert!(s.ends_with("cause insufficient-resources Node lab-node-1: Pod inference-x cannot be placed: node lab-node-1, where it is pinned, lacks the memory it requests (labctl diagnose)\n"), "{s}");
        let j: serde_json::Value = serde_json::from_str(&render_with_causes(
            &report,
            &causes,
            OutputFormat::Json,
            Palette::new(false),
            false,
        ))
        .unwrap();
        assert_eq!(j["causes"][0]["id"], "insufficient-resources");
        assert_eq!(j["causes"][0]["subject"]["name"], "lab-node-1");
        assert_eq!(j["causes"][0]["severity"], "error");
        // Without causes the table is the plain report; JSON has an empty list.
        assert_eq!(
            render_with_causes(
                &report,
                &[],
                OutputFormat::Table,
                Palette::new(false),
                false
            ),
            table(&report, Palette::new(false), false)
        );
        let j: serde_json::Value = serde_json::from_str(&render_with_causes(
            &report,
            &[],
            OutputFormat::Json,
            Palette::new(false),
            false,
        ))
        .unwrap();
        assert_eq!(j["causes"], serde_json::json!([]));
    }
}

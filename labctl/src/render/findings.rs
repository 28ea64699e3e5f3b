//! Renderers of a [`Diagnosis`]: `table` (one block per finding: severity, id, subject, summary,
//! evidence, affected objects, remediation, runbook hint; a closing count line), `short` (one
//! line per finding) and `json` (docs/architecture.md "JSON documents", `"schema": 1`).
//!
//! Pure functions from a document to a `String`, so golden tests can compare them.

use crate::diagnose::finding::Id;
use crate::diagnose::{Diagnosis, Finding, Severity};
use crate::exit::ExitStatus;
use crate::lint::LintReport;
use crate::render::{OutputFormat, Palette};

/// Renders `diagnosis` in `format`. `strict` only changes the closing verdict.
pub fn render<I: Id>(
    diagnosis: &Diagnosis<I>,
    format: OutputFormat,
    palette: Palette,
    strict: bool,
) -> anyhow::Result<String> {
    render_about(diagnosis, format, palette, strict, "storage")
}

/// [`render`] for a diagnosis of `about` (`storage`, `pod`, or empty for everything): the
/// table's verdict names it.
pub fn render_about<I: Id>(
    diagnosis: &Diagnosis<I>,
    format: OutputFormat,
    palette: Palette,
    strict: bool,
    about: &str,
) -> anyhow::Result<String> {
    Ok(match format {
        OutputFormat::Table => table_about(diagnosis, palette, strict, about),
        OutputFormat::Short => short(diagnosis, palette),
        OutputFormat::Json => crate::render::to_json_document(diagnosis)?,
    })
}

fn severity_label(s: Severity, p: Palette) -> String {
    match s {
        Severity::Error => p.red("ERROR"),
        Severity::Warning => p.yellow("WARNING"),
        Severity::Info => p.dim("INFO"),
    }
}

fn block<I: Id>(f: &Finding<I>, p: Palette, out: &mut String) {
    out.push_str(&format!(
        "{} {} {}\n",
        severity_label(f.severity, p),
        p.bold(f.id.as_str()),
        f.subject
    ));
    out.push_str(&format!("  {}\n", f.summary));
    if !f.evidence.is_empty() {
        out.push_str("  evidence:\n");
        for e in &f.evidence {
            out.push_str(&format!("    - {e}\n"));
        }
    }
    if !f.affected.is_empty() {
        out.push_str("  affects:\n");
        for a in &f.affected {
            match &a.state {
                Some(s) => out.push_str(&format!("    - {} ({s})\n", a.object)),
                None => out.push_str(&format!("    - {}\n", a.object)),
            }
        }
    }
    out.push_str("  fix:\n");
    for line in f.remediation.lines() {
        out.push_str(&format!("    {line}\n"));
    }
    out.push_str(&format!("  see {}\n", f.hint));
}

fn counts<I>(d: &Diagnosis<I>) -> String {
    let s = d.summary;
    format!(
        "{} error(s), {} warning(s), {} info",
        s.error, s.warning, s.info
    )
}

/// One block per finding, each followed by a blank line.
fn blocks<I: Id>(d: &Diagnosis<I>, p: Palette) -> String {
    let mut out = String::new();
    for (i, f) in d.findings.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        block(f, p, &mut out);
    }
    if !d.findings.is_empty() {
        out.push('\n');
    }
    out
}

/// One block per finding, then a closing line.
pub fn table<I: Id>(d: &Diagnosis<I>, p: Palette, strict: bool) -> String {
    table_about(d, p, strict, "storage")
}

fn table_about<I: Id>(d: &Diagnosis<I>, p: Palette, strict: bool, about: &str) -> String {
    let mut out = String::new();
    if let Some(as_of) = &d.as_of {
        out.push_str(&p.dim(&as_of.line()));
        out.push_str("\n\n");
    }
    out.push_str(&blocks(d, p));
    let about = if about.is_empty() {
        String::new()
    } else {
        format!("{about} ")
    };
    let verdict = if d.exit_code(strict) == ExitStatus::Success {
        p.green(&format!("no {about}problem found"))
    } else {
        p.red(&format!("{about}problems found"))
    };
    out.push_str(&format!("Diagnosis: {verdict} ({})\n", counts(d)));
    out
}

/// Renders a lint report in `format`: the findings as `diagnose` prints them, closed by lint's
/// own verdict line, which names what was linted.
pub fn render_lint(
    report: &LintReport,
    format: OutputFormat,
    p: Palette,
    strict: bool,
) -> anyhow::Result<String> {
    Ok(match format {
        OutputFormat::Table => {
            let d = &report.diagnosis;
            let mut out = blocks(d, p);
            let verdict = if d.exit_code(strict) == ExitStatus::Success {
                p.green("no problem found")
            } else {
                p.red("problems found")
            };
            out.push_str(&format!(
                "Lint: {verdict} in {} objects from {} ({})\n",
                report.objects,
                report.source,
                counts(d)
            ));
            out
        }
        OutputFormat::Short => short(&report.diagnosis, p),
        OutputFormat::Json => crate::render::to_json_document(report)?,
    })
}

/// `severity id subject: summary`, one line per finding.
pub fn short<I: Id>(d: &Diagnosis<I>, p: Palette) -> String {
    let mut out = String::new();
    for f in &d.findings {
        out.push_str(&format!(
            "{} {} {}: {}\n",
            severity_label(f.severity, p),
            f.id,
            f.subject,
            f.summary
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::{Affected, ObjectRef, Summary};

    fn sample() -> Diagnosis {
        Diagnosis {
            schema: 1,
            as_of: None,
            findings: vec![Finding {
                id: crate::diagnose::FindingId::PvNodeAffinityConflict,
                severity: Severity::Error,
                subject: ObjectRef::namespaced("PersistentVolumeClaim", "mlops-lab", "models"),
                summary: "Deployment inference is pinned away from its volume".into(),
                evidence: vec!["PersistentVolumeClaim mlops-lab/models: Bound".into()],
                affected: vec![Affected {
                    object: ObjectRef::namespaced("Service", "mlops-lab", "inference"),
                    state: Some("no ready endpoints".into()),
                }],
                remediation: "kubectl uncordon lab-node-1".into(),
                hint: "runbooks/failure-modes.md#pv-node-affinity-conflict".into(),
            }],
            summary: Summary {
                error: 1,
                warning: 0,
                info: 0,
            },
        }
    }

    #[test]
    fn table_lists_every_part() {
        let t = table(&sample(), Palette::new(false), false);
        for part in [
            "ERROR pv-node-affinity-conflict PersistentVolumeClaim mlops-lab/models",
            "    - Service mlops-lab/inference (no ready endpoints)",
            "    kubectl uncordon lab-node-1",
            "  see runbooks/failure-modes.md#pv-node-affinity-conflict",
            "Diagnosis: storage problems found (1 error(s), 0 warning(s), 0 info)",
        ] {
            assert!(t.contains(part), "{part}\n{t}");
        }
    }

    #[test]
    fn json_has_the_documented_shape() {
        let v: serde_json::Value = serde_json::from_str(
            &render(&sample(), OutputFormat::Json, Palette::new(false), false).unwrap(),
        )
        .unwrap();
        assert_eq!(v["schema"], 1);
        assert_eq!(
            v["summary"],
            serde_json::json!({"error": 1, "warning": 0, "info": 0})
        );
        let f = &v["findings"][0];
        assert_eq!(
            f["subject"],
            serde_json::json!({"kind": "PersistentVolumeClaim", "namespace": "mlops-lab", "name": "models"})
        );
        assert_eq!(f["severity"], "error");
        assert_eq!(
            f["hint"],
            "runbooks/failure-modes.md#pv-node-affinity-conflict"
        );
        assert!(
            f["evidence"].is_array() && f["remediation"].is_string() && f["summary"].is_string()
        );
        assert!(v.get("as_of").is_none(), "live: no as_of");
    }

    #[test]
    fn a_recording_is_diagnosed_under_its_instant() {
        use crate::snapshot::AsOf;
        use crate::snapshot::as_of::{Clock, Source};
        let d = sample().as_of(AsOf {
            at: "2026-11-30T03:51:10Z".parse().unwrap(),
            source: Source::Captured(Clock::ApiServer),
        });
        let t = table(&d, Palette::new(false), false);
        assert!(
            t.starts_with("Judged as of 2026-11-30T03:51:10Z, when labctl snapshot took it (the API server's clock)\n\nERROR "),
            "{t}"
        );
        let v: serde_json::Value = serde_json::from_str(
            &render(&d, OutputFormat::Json, Palette::new(false), false).unwrap(),
        )
        .unwrap();
        assert_eq!(
            v["as_of"],
            serde_json::json!({"time": "2026-11-30T03:51:10Z", "source": "captured-api-server-clock"})
        );
    }
}

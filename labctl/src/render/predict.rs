//! Renders a prediction: a small key/value table, or the JSON document.

use crate::predict::Prediction;
use crate::render::OutputFormat;

pub fn render(p: &Prediction, format: OutputFormat) -> anyhow::Result<String> {
    match format {
        OutputFormat::Json => crate::render::to_json_document(p),
        OutputFormat::Short => Ok(format!("{}\n", p.y)),
        OutputFormat::Table => {
            let mut table = comfy_table::Table::new();
            table.load_preset(comfy_table::presets::NOTHING);
            let dns = p
                .dns_server
                .clone()
                .unwrap_or_else(|| "none (--resolve)".to_owned());
            let rows = [
                ("y", p.y.to_string()),
                ("x", p.x.to_string()),
                ("model version", p.model_version.clone()),
                ("host", p.host.clone()),
                ("address", p.address.clone()),
                ("dns server", dns),
                ("latency", format!("{:.1} ms", p.latency_ms)),
            ];
            for (k, v) in rows {
                table.add_row(vec![k.to_owned(), v]);
            }
            // comfy-table pads with a leading space per cell; trim it per line for clean output.
            let text: Vec<String> = table
                .to_string()
                .lines()
                .map(|l| l.trim().to_owned())
                .collect();
            Ok(format!("{}\n", text.join("\n")))
        }
    }
}

pub fn print(p: &Prediction, format: OutputFormat) -> anyhow::Result<()> {
    crate::render::write_stdout(&render(p, format)?)?;
    Ok(())
}

/// With `-o json` a failure is a document too, so a script reads stdout either way:
/// `{"error": "…", "hop": "dns", "host": "model.homelab"}` (the message also goes to stderr).
pub fn print_failure(
    err: &crate::http::HopError,
    host: &str,
    format: OutputFormat,
) -> anyhow::Result<()> {
    if format == OutputFormat::Json {
        let doc = serde_json::json!({"error": err.message, "hop": err.hop, "host": host});
        crate::render::write_stdout(&crate::render::to_json_document(&doc)?)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Prediction {
        Prediction {
            x: 4.2,
            y: 9.4,
            model_version: "20261128T090000Z-abc123".into(),
            host: "model.homelab".into(),
            address: "192.168.1.50:80".into(),
            dns_server: Some("192.168.1.2:53".into()),
            latency_ms: 3.25,
        }
    }

    #[test]
    fn table_golden() {
        insta::assert_snapshot!(render(&sample(), OutputFormat::Table).unwrap());
    }

    #[test]
    fn json_has_exactly_the_documented_fields() {
        let v: serde_json::Value =
            serde_json::from_str(&render(&sample(), OutputFormat::Json).unwrap()).unwrap();
        let mut keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "address",
                "dns_server",
                "host",
                "latency_ms",
                "model_version",
                "x",
                "y"
            ]
        );
    }
}

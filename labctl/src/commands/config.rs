//! `labctl config`: prints the effective lab description (defaults ← labctl.toml ← flags).

use crate::cli::config::ConfigArgs;
use crate::context::{Context, OutputFormat};
use crate::exit::ExitStatus;

#[derive(serde::Serialize)]
struct Versioned<'a> {
    schema: u32,
    #[serde(flatten)]
    config: &'a crate::config::LabConfig,
}

pub fn run(ctx: &Context, _args: &ConfigArgs) -> anyhow::Result<ExitStatus> {
    let document = match ctx.output {
        // The description's fields beside `"schema": 1`, like every JSON document labctl prints.
        OutputFormat::Json => crate::render::to_json_document(&Versioned {
            schema: crate::render::SCHEMA,
            config: &ctx.config,
        })?,
        OutputFormat::Table | OutputFormat::Short => {
            let source = match &ctx.config_path {
                Some(p) => format!("# read from {} (flags override it)\n", p.display()),
                None => "# defaults (no labctl.toml; flags override them)\n".to_owned(),
            };
            format!("{source}{}", ctx.config.to_toml()?)
        }
    };
    crate::render::write_stdout(&document)?;
    Ok(ExitStatus::Success)
}

//! `labctl config`: prints the effective lab description (defaults ← labctl.toml ← flags).

use crate::context::{Context, OutputFormat};

#[derive(Debug, clap::Args)]
pub struct ConfigArgs {}

pub fn run(ctx: &Context, _args: &ConfigArgs) -> anyhow::Result<i32> {
    let document = match ctx.output {
        OutputFormat::Json => crate::render::to_json_document(&ctx.config)?,
        OutputFormat::Table | OutputFormat::Short => {
            let source = match &ctx.config_path {
                Some(p) => format!("# read from {} (flags override it)\n", p.display()),
                None => "# defaults (no labctl.toml; flags override them)\n".to_owned(),
            };
            format!("{source}{}", ctx.config.to_toml()?)
        }
    };
    crate::render::write_stdout(&document)?;
    Ok(crate::exit::OK)
}

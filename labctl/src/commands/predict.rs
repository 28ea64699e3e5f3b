//! `labctl predict <x>`: asks the served model for y(x) the way a LAN client does — resolve the
//! host through Pi-hole, then GET /predict through the ingress with the lab's Host header — and
//! says which hop failed when it does not work.

use crate::cli::predict::PredictArgs;
use crate::exit::ExitStatus;

use crate::context::Context;
use crate::predict::{parse_x, predict};

pub async fn run(ctx: &Context, args: &PredictArgs) -> anyhow::Result<ExitStatus> {
    // Bad input is refused before any packet leaves (exit 2).
    let x = parse_x(&args.x)?;
    if args.resolve.is_none() && ctx.config.pihole_dns.is_none() {
        anyhow::bail!(
            "cannot resolve {}: no Pi-hole DNS server configured (pass --dns IP[:PORT], set \
             pihole_dns in labctl.toml, or skip DNS with --resolve IP)",
            ctx.config.host
        );
    }
    match predict(&ctx.config, x, args.resolve, ctx.timeout).await {
        Ok(prediction) => {
            crate::render::predict::print(&prediction, ctx.output)?;
            Ok(ExitStatus::Success)
        }
        Err(err) => {
            // The objects that route the host tell "not routed" from "routed to nothing".
            let err = match crate::checks::dataplane::host_route(ctx).await {
                Some(route) => crate::http::explain_with_route(err, &route, &ctx.config.host),
                None => err,
            };
            // Name the hop first: it is what the operator acts on.
            crate::render::note(&format!(
                "labctl: predict failed at {}: {}",
                err.hop, err.message
            ));
            crate::render::predict::print_failure(&err, &ctx.config.host, ctx.output)?;
            Ok(ExitStatus::Failure)
        }
    }
}

//! `labctl diagnose [pvc|pods]`: say why a PersistentVolumeClaim or its consumers are stuck
//! (`pvc`), why the pipeline's pods and workloads are not running (`pods`), or both in one
//! report (no subcommand); live or from a snapshot file (`--snapshot`). Thin: build the
//! snapshot, run the pure engine, render.

use crate::cli::diagnose::{DiagnoseArgs, DiagnoseTarget};
use crate::exit::ExitStatus;

use anyhow::Context as _;

use crate::context::Context;
use crate::diagnose::{Scope, Target};
use crate::render::{Palette, findings};
use crate::snapshot::live::Namespaces;

impl DiagnoseArgs {
    fn scope(&self, ctx: &Context) -> Scope {
        let pvc = match &self.target {
            Some(DiagnoseTarget::Pvc(p)) => p.pvc.clone(),
            _ => None,
        };
        Scope {
            namespace: (!self.common.all_namespaces).then(|| ctx.config.namespace.clone()),
            pvc,
        }
    }

    fn target(&self) -> Target {
        match &self.target {
            Some(DiagnoseTarget::Pvc(_)) => Target::Pvc,
            Some(DiagnoseTarget::Pods) => Target::Pods,
            None => Target::All,
        }
    }
}

pub async fn run(ctx: &Context, args: &DiagnoseArgs) -> anyhow::Result<ExitStatus> {
    let scope = args.scope(ctx);
    let target = args.target();
    let snapshot = match &args.common.snapshot {
        Some(path) => crate::snapshot::load_path(path)?,
        None => {
            let client = ctx.client().await?;
            let namespaces = match &scope.namespace {
                Some(ns) => Namespaces::One(ns.clone()),
                None => Namespaces::All,
            };
            tokio::time::timeout(
                ctx.timeout,
                crate::snapshot::live::load_whole(&client, &namespaces, &ctx.config),
            )
            .await
            .with_context(|| format!("reading the cluster took longer than {:?}", ctx.timeout))??
        }
    };
    if ctx.verbose > 0 {
        crate::render::note(&format!(
            "labctl: snapshot holds {} objects",
            snapshot.len()
        ));
    }
    let in_scope = snapshot.persistent_volume_claims.iter().filter(|p| {
        scope
            .namespace
            .as_deref()
            .is_none_or(|ns| p.metadata.namespace.as_deref() == Some(ns))
            && scope
                .pvc
                .as_deref()
                .is_none_or(|n| p.metadata.name.as_deref() == Some(n))
    });
    if target == Target::Pvc && in_scope.count() == 0 {
        let where_ = scope.namespace.as_deref().map_or_else(
            || "any namespace".to_owned(),
            |ns| format!("namespace {ns}"),
        );
        match &scope.pvc {
            // Asking about a claim that is not there is a usage error, as in kubectl.
            Some(name) => anyhow::bail!("no PersistentVolumeClaim {name:?} in {where_}"),
            None => crate::render::note(&format!("labctl: no PersistentVolumeClaim in {where_}")),
        }
    }
    let diagnosis = if args.common.snapshot.is_some() {
        // Offline, the report says which day its verdict is about.
        let as_of = snapshot.as_of_or(ctx.clock);
        crate::diagnose::diagnose_at(&snapshot, &ctx.config, &scope, target, Some(as_of.at))
            .as_of(as_of)
    } else {
        crate::diagnose::diagnose_target(&snapshot, &ctx.config, &scope, target)
    };
    let about = match target {
        Target::Pvc => "storage",
        Target::Pods => "pod",
        Target::All => "",
    };
    let document = findings::render_about(
        &diagnosis,
        ctx.output,
        Palette::new(ctx.color),
        ctx.strict,
        about,
    )?;
    crate::render::write_stdout(&document)?;
    Ok(diagnosis.exit_code(ctx.strict))
}

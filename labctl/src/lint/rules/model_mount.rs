//! The model volume mounted read-only by the server.

use super::{Template, all_containers, finding};
use crate::config::LabConfig;
use crate::lint::{LintFinding, RuleId};

/// `model-mount-writable`: long-running workloads (inference) mount the model claim read-only;
/// only the trainer (a Job or CronJob) writes it.
pub fn model_mount(templates: &[Template<'_>], config: &LabConfig) -> Vec<LintFinding> {
    let mut out = Vec::new();
    for t in templates.iter().filter(|t| t.long_running) {
        let volumes: Vec<(&str, bool)> = t
            .spec
            .volumes
            .iter()
            .flatten()
            .filter_map(|v| {
                let pvc = v.persistent_volume_claim.as_ref()?;
                (pvc.claim_name == config.pvc)
                    .then_some((v.name.as_str(), pvc.read_only == Some(true)))
            })
            .collect();
        if volumes.is_empty() {
            continue;
        }
        let mut writable = Vec::new();
        for c in all_containers(t.spec) {
            for mount in c.volume_mounts.iter().flatten() {
                let Some((_, source_ro)) = volumes.iter().find(|(n, _)| *n == mount.name) else {
                    continue;
                };
                if mount.read_only != Some(true) && !source_ro {
                    writable.push(format!(
                        "container {}: volumeMount {} at {} is read-write (claim {})",
                        c.name, mount.name, mount.mount_path, config.pvc
                    ));
                }
            }
        }
        if writable.is_empty() {
            continue;
        }
        out.push(finding(
            RuleId::ModelMountWritable,
            t.workload.clone(),
            format!(
                "{} mounts the model volume {} writable: only the trainer may write models",
                t.workload, config.pvc
            ),
            writable,
            format!(
                "Set readOnly: true on the volumeMount (and on the persistentVolumeClaim volume \
                 source) of claim {} in {}: a serving pod that can write the model store can \
                 corrupt or delete the published model.",
                config.pvc, t.workload
            ),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lint::rules::templates;
    use crate::lint::rules::test_support::*;
    use crate::lint::source::parse;

    #[test]
    fn a_read_only_volume_source_is_enough_for_the_model_mount() {
        // DEPLOYMENT mounts without readOnly on the mount, but the claim source is read-only.
        assert!(lint("").is_empty());
        let writable = DEPLOYMENT.replace("claimName: models, readOnly: true", "claimName: models");
        let m = parse(&writable, "test", "mlops-lab").unwrap().objects;
        let ids: Vec<_> = model_mount(&templates(&m), &LabConfig::default())
            .into_iter()
            .map(|f| f.id)
            .collect();
        assert_eq!(ids, [RuleId::ModelMountWritable]);
    }
}

//! Remediation commands a finding prints.

use crate::diagnose::engine::View;
use crate::diagnose::engine::claim::Claim;
use crate::diagnose::index::Workload;
use crate::k8s::WorkloadKind;

/// `kubectl patch` that pins a workload's pods with `nodeSelector key=value` (immutable pods and
/// Jobs must be recreated instead).
pub(crate) fn pin_command(ns: &str, w: &Workload<'_>, key: &str, value: &str) -> String {
    let sel = format!("{{\"nodeSelector\":{{\"{key}\":\"{value}\"}}}}");
    match w.kind {
        WorkloadKind::Deployment | WorkloadKind::StatefulSet | WorkloadKind::ReplicaSet => format!(
            "kubectl -n {ns} patch {} {} --type merge -p '{{\"spec\":{{\"template\":{{\"spec\":{sel}}}}}}}'",
            w.kind.as_str().to_lowercase(),
            w.name
        ),
        WorkloadKind::CronJob => format!(
            "kubectl -n {ns} patch cronjob {} --type merge -p '{{\"spec\":{{\"jobTemplate\":{{\"spec\":{{\"template\":{{\"spec\":{sel}}}}}}}}}}}'",
            w.name
        ),
        kind => format!(
            "recreate {kind} {ns}/{} with nodeSelector {key}={value}",
            w.name
        ),
    }
}

/// The Argo CD Application that reconciles an object from Git: its name, the path it renders,
/// and whether it self-heals (then a `kubectl` change is undone within seconds, so a fix is a
/// commit and `kubectl` only confirms it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Manager {
    pub(crate) app: String,
    pub(crate) path: String,
    pub(crate) self_heal: bool,
}

/// Argo CD 3.x tracks what it applied with this annotation, `<app>:<group>/<Kind>:<ns>/<name>`;
/// 2.x installs may track with the `app.kubernetes.io/instance` label instead.
const TRACKING_ID: &str = "argocd.argoproj.io/tracking-id";
const INSTANCE_LABEL: &str = "app.kubernetes.io/instance";

/// The Application (in the snapshot) that manages an object, if any.
pub(crate) fn managed_by<'a>(
    view: &View<'_, 'a>,
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
) -> Option<Manager> {
    let tracked = meta
        .annotations
        .as_ref()
        .and_then(|a| a.get(TRACKING_ID))
        .and_then(|id| id.split_once(':'))
        .map(|(app, _)| app)
        .or_else(|| {
            meta.labels
                .as_ref()?
                .get(INSTANCE_LABEL)
                .map(String::as_str)
        })?;
    let app = view
        .ix
        .applications
        .iter()
        .find(|a| a.metadata.name.as_deref() == Some(tracked))?;
    let app = crate::k8s::application::Application::from_object(app)?;
    Some(Manager {
        self_heal: app.self_heals(),
        app: app.metadata.name,
        path: app.spec.source.path,
    })
}

/// The fix that pins `workloads` to `key=value`: `kubectl patch` commands, or, when Argo
/// CD manages them from Git, the Git change first and `kubectl` only to confirm it.
pub(crate) fn pin_fixes<'a, 'w>(
    view: &View<'_, 'a>,
    ns: &str,
    workloads: impl IntoIterator<Item = &'w Workload<'a>>,
    key: &str,
    value: &str,
) -> String
where
    'a: 'w,
{
    let workloads: Vec<&Workload<'a>> = workloads.into_iter().collect();
    let manager = workloads.iter().find_map(|w| managed_by(view, w.meta));
    let Some(m) = manager else {
        return workloads
            .iter()
            .map(|w| pin_command(ns, w, key, value))
            .collect::<Vec<_>>()
            .join(" && ");
    };
    gitops_pin(ns, &workloads, key, value, &m)
}

/// The pin as a Git change of the manifests Argo CD renders, then how to confirm it.
fn gitops_pin(
    ns: &str,
    workloads: &[&Workload<'_>],
    key: &str,
    value: &str,
    m: &Manager,
) -> String {
    let names: Vec<String> = workloads
        .iter()
        .map(|w| format!("{} {}", w.kind, w.name))
        .collect();
    let confirm: Vec<String> = workloads
        .iter()
        .map(|w| {
            let template = if w.kind == WorkloadKind::CronJob {
                ".spec.jobTemplate.spec.template.spec.nodeSelector"
            } else {
                ".spec.template.spec.nodeSelector"
            };
            format!(
                "kubectl -n {ns} get {} {} -o jsonpath='{{{template}}}'",
                w.kind.as_str().to_lowercase(),
                w.name
            )
        })
        .collect();
    let settings = if m.path.is_empty() {
        "settings.yaml".to_owned()
    } else {
        format!("{}/settings.yaml", m.path)
    };
    gitops_change(
        &names.join(" and "),
        &format!(
            "set the pod templates' nodeSelector {key}: {value} (this repository's overlays set it from `node` in {settings})"
        ),
        &confirm.join("; "),
        m,
    )
}

/// How a deleted claim comes back: `kubectl apply -k` of the manifests, or, when Argo CD
/// manages the claim, Argo CD itself (after a commit when the manifest changed first).
pub(crate) fn reapply<'a>(view: &View<'_, 'a>, c: &Claim<'a>) -> String {
    match managed_by(view, &c.pvc.metadata) {
        Some(m) if m.self_heal => format!(
            " (Argo CD's Application {} re-creates it from Git: change the manifest in Git first and push)",
            m.app
        ),
        Some(m) => format!(
            " && argocd app sync {} (Argo CD re-creates it from Git: change the manifest in Git first and push)",
            m.app
        ),
        None => " && kubectl apply -k <your overlay>".to_owned(),
    }
}

/// A change to a workload's template: when Argo CD manages the workload, the change in Git
/// first (a `kubectl` edit of a self-healing Application is reverted) and `kubectl` only to
/// confirm; otherwise the `kubectl` command.
pub(crate) fn template_fix<'a>(
    view: &View<'_, 'a>,
    workload: &str,
    meta: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta>,
    change: &str,
    kubectl: &str,
    confirm: &str,
) -> String {
    match meta.and_then(|m| managed_by(view, m)) {
        Some(m) => gitops_change(workload, change, confirm, &m),
        None => kubectl.to_owned(),
    }
}

/// `change` as a commit to the manifests the Application renders, then how to confirm it.
pub(crate) fn gitops_change(workload: &str, change: &str, confirm: &str, m: &Manager) -> String {
    let why = if m.self_heal {
        format!(
            "Argo CD's Application {} (selfHeal) manages {workload}: a kubectl change is reverted within seconds",
            m.app
        )
    } else {
        format!("Argo CD's Application {} manages {workload}", m.app)
    };
    let sync = if m.self_heal {
        "commit and push; Argo CD applies it".to_owned()
    } else {
        format!("commit, push and sync (argocd app sync {})", m.app)
    };
    format!(
        "{why}. In Git: {change} in the manifests under {path}, then {sync}. Confirm: {confirm}",
        path = if m.path.is_empty() {
            "the Application's path"
        } else {
            &m.path
        },
    )
}

/// `; then re-run the trainer: kubectl … create job --from=cronjob/trainer …` when a CronJob
/// consumer can regenerate the data.
pub(crate) fn rerun_hint(c: &Claim<'_>) -> String {
    c.consumers
        .iter()
        .find(|con| con.workload.kind == WorkloadKind::CronJob)
        .map(|con| {
            format!(
                "; then regenerate it: kubectl -n {} create job --from=cronjob/{} {}-manual",
                c.ns, con.workload.name, con.workload.name
            )
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::k8s::model::PodSpec;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn workload<'a>(kind: WorkloadKind, spec: &'a PodSpec, meta: &'a ObjectMeta) -> Workload<'a> {
        Workload {
            kind,
            namespace: "mlops-lab",
            name: "w",
            meta,
            spec,
            pod_labels: None,
            idle: None,
            never_ran: false,
        }
    }

    #[test]
    fn pin_commands_patch_the_pod_template_where_it_lives() {
        let (spec, meta) = (PodSpec::default(), ObjectMeta::default());
        let d = pin_command(
            "ns",
            &workload(WorkloadKind::Deployment, &spec, &meta),
            "k",
            "v",
        );
        assert_eq!(
            d,
            r#"kubectl -n ns patch deployment w --type merge -p '{"spec":{"template":{"spec":{"nodeSelector":{"k":"v"}}}}}'"#
        );
        let c = pin_command(
            "ns",
            &workload(WorkloadKind::CronJob, &spec, &meta),
            "k",
            "v",
        );
        assert!(c.contains(r#"{"spec":{"jobTemplate":{"spec":{"template":{"spec":{"nodeSelector":{"k":"v"}}}}}}}"#), "{c}");
        let p = pin_command("ns", &workload(WorkloadKind::Pod, &spec, &meta), "k", "v");
        assert_eq!(p, "recreate Pod ns/w with nodeSelector k=v");
    }

    #[test]
    fn a_self_healing_app_gets_the_git_change_first_and_kubectl_to_confirm() {
        let (spec, meta) = (PodSpec::default(), ObjectMeta::default());
        let d = workload(WorkloadKind::Deployment, &spec, &meta);
        let c = workload(WorkloadKind::CronJob, &spec, &meta);
        let m = Manager {
            app: "mlops-lab".into(),
            path: "manifests/overlays/lab".into(),
            self_heal: true,
        };
        let fix = gitops_pin("ns", &[&d, &c], "kubernetes.io/hostname", "n1", &m);
        assert!(
            fix.starts_with("Argo CD's Application mlops-lab (selfHeal) manages Deployment w and CronJob w: a kubectl change is reverted within seconds. In Git: set the pod templates' nodeSelector kubernetes.io/hostname: n1 (this repository's overlays set it from `node` in manifests/overlays/lab/settings.yaml) in the manifests under manifests/overlays/lab, then commit and push"),
            "{fix}"
        );
        assert!(
            fix.contains("manifests/overlays/lab/settings.yaml"),
            "{fix}"
        );
        assert!(!fix.contains("kubectl -n ns patch"), "{fix}");
        assert!(
            fix.ends_with("Confirm: kubectl -n ns get deployment w -o jsonpath='{.spec.template.spec.nodeSelector}'; kubectl -n ns get cronjob w -o jsonpath='{.spec.jobTemplate.spec.template.spec.nodeSelector}'"),
            "{fix}"
        );
        // Without selfHeal the commit needs a sync.
        let fix = gitops_pin(
            "ns",
            &[&d],
            "k",
            "v",
            &Manager {
                self_heal: false,
                ..m
            },
        );
        assert!(
            fix.contains("commit, push and sync (argocd app sync mlops-lab)"),
            "{fix}"
        );
    }
}

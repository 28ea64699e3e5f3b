//! The security baseline: non-root, read-only root filesystem, no capabilities.

use k8s_openapi::api::core::v1::SecurityContext;

use super::{Template, all_containers, finding};
use crate::lint::{LintFinding, RuleId};

/// `security-settings-missing`: the restricted Pod Security settings the lab promises.
pub fn security(templates: &[Template<'_>]) -> Vec<LintFinding> {
    let mut out = Vec::new();
    for t in templates {
        let pod = t.spec.security_context.as_deref();
        let mut missing = Vec::new();
        if t.spec.automount_service_account_token != Some(false) {
            missing.push("pod: automountServiceAccountToken is not false".to_owned());
        }
        for c in all_containers(t.spec) {
            let sc: Option<&SecurityContext> = c.security_context.as_deref();
            let mut lacks = Vec::new();
            let non_root = sc
                .and_then(|s| s.run_as_non_root)
                .or(pod.and_then(|p| p.run_as_non_root));
            if non_root != Some(true) {
                lacks.push("runAsNonRoot: true".to_owned());
            }
            let uid = sc
                .and_then(|s| s.run_as_user)
                .or(pod.and_then(|p| p.run_as_user));
            if uid == Some(0) {
                lacks.push("a non-zero runAsUser".to_owned());
            }
            if sc.and_then(|s| s.allow_privilege_escalation) != Some(false) {
                lacks.push("allowPrivilegeEscalation: false".to_owned());
            }
            if sc.and_then(|s| s.read_only_root_filesystem) != Some(true) {
                lacks.push("readOnlyRootFilesystem: true".to_owned());
            }
            if sc.and_then(|s| s.privileged) == Some(true) {
                lacks.push("privileged: false".to_owned());
            }
            let drops_all = sc
                .and_then(|s| s.capabilities.as_ref())
                .and_then(|c| c.drop.as_ref())
                .is_some_and(|d| d.iter().any(|x| x == "ALL"));
            if !drops_all {
                lacks.push("capabilities.drop: [ALL]".to_owned());
            }
            let seccomp = sc
                .and_then(|s| s.seccomp_profile.as_ref())
                .or(pod.and_then(|p| p.seccomp_profile.as_ref()))
                .map(|p| p.type_.as_str());
            if !matches!(seccomp, Some("RuntimeDefault" | "Localhost")) {
                lacks.push("seccompProfile.type: RuntimeDefault".to_owned());
            }
            if !lacks.is_empty() {
                missing.push(format!("container {}: needs {}", c.name, lacks.join(", ")));
            }
        }
        if missing.is_empty() {
            continue;
        }
        out.push(finding(
            RuleId::SecuritySettingsMissing,
            t.workload.clone(),
            format!(
                "{} runs without the lab's security settings: {}",
                t.workload,
                missing.join("; ")
            ),
            missing,
            "Every pod of the lab: securityContext {runAsNonRoot: true, runAsUser: 65532, \
             seccompProfile: {type: RuntimeDefault}}, every container securityContext \
             {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: \
             {drop: [ALL]}}, and automountServiceAccountToken: false (the images need no API \
             access). Namespace mlops-lab enforces the restricted Pod Security Standard, so such \
             a pod is also refused at admission."
                .to_owned(),
        ));
    }
    out
}

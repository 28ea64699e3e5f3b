//! What a finding affects, listed with each object's state: from a claim, its volume, the
//! pods and workloads that mount it and the Services that select them; from a pod, its
//! workload and Services.

use crate::diagnose::engine::View;
use crate::diagnose::engine::claim::{Claim, push_unique};
use crate::diagnose::finding::{Affected, ObjectRef};
use crate::k8s::WorkloadKind;
use crate::k8s::model::Pod;
use crate::k8s::names::{name as meta_name, namespace as meta_ns};
use crate::k8s::pod::{pod_phase, unscheduled_condition};

/// PVC → PV → pods → workloads → Services that select the pods.
pub(crate) fn affected<'a>(view: &View<'_, 'a>, c: &Claim<'a>) -> Vec<Affected> {
    let mut out = vec![Affected {
        object: c.reference(),
        state: Some(if c.pvc.metadata.deletion_timestamp.is_some() {
            format!("{} (Terminating)", c.phase)
        } else {
            c.phase.to_owned()
        }),
    }];
    if let Some(v) = c.volume_name() {
        let state = view
            .ix
            .pv_by_name
            .get(v)
            .map(|pv| {
                pv.status
                    .as_ref()
                    .and_then(|s| s.phase.clone())
                    .unwrap_or_default()
            })
            .unwrap_or_else(|| "missing".into());
        out.push(Affected {
            object: ObjectRef::cluster("PersistentVolume", v),
            state: Some(state),
        });
    }
    for con in &c.consumers {
        for pod in &con.pods {
            let mut state = pod_phase(pod).to_owned();
            if let Some((reason, _)) = unscheduled_condition(pod) {
                state.push_str(&format!(" ({reason})"));
            }
            out.push(Affected {
                object: ObjectRef::namespaced("Pod", c.ns, meta_name(&pod.metadata)),
                state: Some(state),
            });
        }
        if con.workload.kind != WorkloadKind::Pod {
            let state = con
                .workload
                .idle
                .map(str::to_owned)
                .or_else(|| con.workload.never_ran.then(|| "has not run yet".to_owned()));
            push_unique(
                &mut out,
                Affected {
                    object: con.reference(),
                    state,
                },
            );
        }
    }
    // Services that select a consumer's pods: the ones left without endpoints.
    let mut services: Vec<&k8s_openapi::api::core::v1::Service> = Vec::new();
    for con in &c.consumers {
        let labels = con
            .workload
            .pod_labels
            .into_iter()
            .chain(con.pods.iter().filter_map(|p| p.metadata.labels.as_ref()));
        for l in labels {
            for svc in view.ix.services_selecting(c.ns, l) {
                if !services.iter().any(|s| std::ptr::eq(*s, svc)) {
                    services.push(svc);
                }
            }
        }
    }
    for svc in services {
        let svc_name = meta_name(&svc.metadata);
        let ready = view
            .ix
            .ready_endpoints
            .get(&(c.ns, svc_name))
            .copied()
            .unwrap_or(0);
        let state = if ready == 0 {
            "no ready endpoints".to_owned()
        } else {
            format!("{ready} ready endpoint(s)")
        };
        push_unique(
            &mut out,
            Affected {
                object: ObjectRef::namespaced("Service", c.ns, svc_name),
                state: Some(state),
            },
        );
    }
    out
}

/// The workload a pod belongs to (its top owner), or the pod itself.
pub(crate) fn pod_workload<'a>(view: &View<'_, 'a>, pod: &'a Pod) -> ObjectRef {
    view.ix.top_owner_ref(&pod.metadata).unwrap_or_else(|| {
        ObjectRef::namespaced(
            WorkloadKind::Pod.as_str(),
            meta_ns(&pod.metadata),
            meta_name(&pod.metadata),
        )
    })
}

/// Pod → its workload → the Services that select it.
pub(crate) fn pod_affected<'a>(view: &View<'_, 'a>, pod: &'a Pod, state: String) -> Vec<Affected> {
    let ns = meta_ns(&pod.metadata);
    let mut out = vec![Affected {
        object: ObjectRef::namespaced("Pod", ns, meta_name(&pod.metadata)),
        state: Some(state),
    }];
    let w = pod_workload(view, pod);
    if w.kind != "Pod" {
        out.push(Affected {
            object: w,
            state: None,
        });
    }
    if let Some(labels) = pod.metadata.labels.as_ref() {
        for svc in view.ix.services_selecting(ns, labels) {
            let svc_name = meta_name(&svc.metadata);
            let ready = view
                .ix
                .ready_endpoints
                .get(&(ns, svc_name))
                .copied()
                .unwrap_or(0);
            push_unique(
                &mut out,
                Affected {
                    object: ObjectRef::namespaced("Service", ns, svc_name),
                    state: Some(if ready == 0 {
                        "no ready endpoints".to_owned()
                    } else {
                        format!("{ready} ready endpoint(s)")
                    }),
                },
            );
        }
    }
    out
}

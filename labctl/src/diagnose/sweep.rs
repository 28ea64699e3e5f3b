//! Never silent: after the rules, a sweep over everything in scope. An object that is failing
//! and that no finding names (as its subject or among what it affects, itself, its pods or its
//! owner) gets `unexplained-failure`, with its raw state and newest Warning events. Where the
//! sweep's own reading of the state is the cause, it names it: `service-selects-no-pod` (the
//! pipeline's Service selects none of its Deployment's pods) and `host-not-routed` (no route of
//! the lab's host, or one to a Service port that does not exist). "No problem
//! found" is then said only when nothing in scope is failing: a wrong "nothing is wrong" is the
//! one answer a diagnosis must never give.
//!
//! Failing means: a pod neither Succeeded nor Running and Ready (a container waiting for a
//! reason other than being created, a pod Failed or Evicted, a pod stuck Pending or not Ready
//! past [`YOUNG`] or with a Warning event); a Job that Failed (unless a newer run of the same
//! owner succeeded); a Deployment or StatefulSet whose rollout stopped progressing, or that
//! has no pod at all while it wants some; a claim Pending that no finding explains; the
//! pipeline's Service missing or without a ready endpoint; no Ingress or HTTPRoute routing the
//! lab's host, or one whose backend Service or port does not exist; an Argo CD Application
//! Degraded or whose last operation failed while nothing else is found.
//!
//! A pure function of the index, the lab description and "now" (the snapshot's instant).

use std::collections::HashSet;

use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::jiff::Timestamp;

use crate::config::LabConfig;
use crate::diagnose::catalogue::{FindingId, Severity};
use crate::diagnose::causes::Cause;
use crate::diagnose::engine::evidence::event_line;
use crate::diagnose::engine::merge::Hit;
use crate::diagnose::finding::{Affected, Finding, ObjectRef};
use crate::diagnose::index::{EventRecord, Index};
use crate::diagnose::scope::Scope;
use crate::k8s::model::{Deployment, Job, Pod, StatefulSet};
use crate::k8s::names::{name as meta_name, namespace as meta_ns};
use crate::k8s::routing;

/// How long an object may be on its way up (Pending, not yet Ready, a rollout without pods)
/// with no Warning event before it counts as stuck: long enough for a Raspberry Pi to pull an
/// image, short enough that a user waiting for it is told.
pub(crate) const YOUNG: i64 = 5 * 60;

/// Waiting reasons of a container that is on its way up, not failing.
const STARTING: [&str; 2] = ["ContainerCreating", "PodInitializing"];

/// How many Warning events of an unexplained object are quoted.
const WARNINGS: usize = 3;

/// The `unexplained-failure` hits for what is failing in scope and no finding names.
pub(crate) fn unexplained(
    ix: &Index<'_>,
    config: &LabConfig,
    scope: &Scope,
    sweep: Sweep,
    now: Option<Timestamp>,
    findings: &[Finding],
) -> Vec<Hit> {
    let named = Named::of(findings);
    let judge = Judge { ix, now };
    let mut failing: Vec<Failing> = Vec::new();
    let in_scope = |meta: &ObjectMeta| scope.includes_namespace(meta_ns(meta));
    if sweep.workloads {
        let pods = ix.snapshot.pods.iter().filter(|p| in_scope(&p.metadata));
        failing.extend(pods.filter_map(|p| judge.pod(p)));
        let jobs = ix.snapshot.jobs.iter().filter(|j| in_scope(&j.metadata));
        failing.extend(jobs.filter_map(|j| judge.job(j)));
        let deployments = ix.snapshot.deployments.iter();
        failing.extend(
            deployments
                .filter(|d| in_scope(&d.metadata))
                .filter_map(|d| judge.deployment(d)),
        );
        let sets = ix.snapshot.stateful_sets.iter();
        failing.extend(
            sets.filter(|s| in_scope(&s.metadata))
                .filter_map(|s| judge.stateful_set(s)),
        );
        if scope.includes_namespace(&config.namespace) {
            failing.extend(judge.service(config));
            failing.extend(judge.route(config));
        }
    }
    if sweep.claims {
        let claims = ix.snapshot.persistent_volume_claims.iter();
        failing.extend(
            claims
                .filter(|c| in_scope(&c.metadata))
                .filter(|c| {
                    scope
                        .pvc
                        .as_deref()
                        .is_none_or(|n| n == meta_name(&c.metadata))
                })
                .filter_map(|c| judge.claim(c)),
        );
    }
    let mut hits: Vec<Hit> = failing
        .into_iter()
        .filter(|f| !named.explains(f))
        .map(|f| f.hit())
        .collect();
    // A degraded Application is explained by whatever else was found; alone, it is not.
    if sweep.workloads && !named.failure && hits.is_empty() {
        hits.extend(judge.applications(config).map(|f| f.hit()));
    }
    hits
}

/// What the sweep covers: the pods, Jobs, workloads, Service, route and Application
/// (`diagnose pods`, `diagnose`), and the claims (`diagnose pvc`, `diagnose`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sweep {
    pub(crate) workloads: bool,
    pub(crate) claims: bool,
}

/// The objects the findings name (subjects and affected objects): by a failure (an error or
/// a warning), and by any finding. An info finding explains a claim's normal wait, never a
/// pod's failure ("waits for pod x to be scheduled" says nothing of why it is not).
struct Named<'f> {
    by_failure: HashSet<&'f ObjectRef>,
    by_any: HashSet<&'f ObjectRef>,
    failure: bool,
}

impl<'f> Named<'f> {
    fn of(findings: &'f [Finding]) -> Self {
        let (mut by_failure, mut by_any) = (HashSet::new(), HashSet::new());
        for f in findings {
            let objects = std::iter::once(&f.subject).chain(f.affected.iter().map(|a| &a.object));
            for o in objects {
                by_any.insert(o);
                if f.severity != Severity::Info {
                    by_failure.insert(o);
                }
            }
        }
        Named {
            by_failure,
            by_any,
            failure: findings.iter().any(|f| f.severity != Severity::Info),
        }
    }

    /// Whether a finding explains `f`.
    fn explains(&self, f: &Failing) -> bool {
        let set = if f.object.kind == "PersistentVolumeClaim" {
            &self.by_any
        } else {
            &self.by_failure
        };
        f.names.iter().any(|o| set.contains(o))
    }
}

/// An object found failing: itself, the objects whose naming explains it (itself, its owner,
/// its pods), its state and its Warning events; `cause` when the sweep's own reading of the
/// state is the cause (a Service that selects none of the pipeline's pods, a host no route
/// serves), with its finding and fix.
struct Failing {
    object: ObjectRef,
    names: Vec<ObjectRef>,
    state: String,
    warnings: Vec<String>,
    cause: Option<Cause>,
}

impl Failing {
    fn hit(self) -> Hit {
        let Failing {
            object,
            state,
            warnings,
            cause,
            ..
        } = self;
        let cause = cause.unwrap_or_else(|| Cause::unexplained(&object, &state));
        let mut evidence = vec![format!("{object}: {state}")];
        evidence.extend(warnings);
        Hit {
            id: cause.id,
            summary: cause.summary,
            group_summary: None,
            evidence,
            affected: vec![Affected {
                object: object.clone(),
                state: Some(state),
            }],
            root: object,
            remediation: cause.remediation,
        }
    }
}

struct Judge<'i, 'a> {
    ix: &'i Index<'a>,
    now: Option<Timestamp>,
}

impl<'a> Judge<'_, 'a> {
    /// Seconds from `since` to "now"; `None` when either is unknown.
    fn age(&self, since: Option<Timestamp>) -> Option<i64> {
        Some(self.now?.as_second() - since?.as_second())
    }

    /// Whether an object that started at `since` is still on its way up.
    fn young(&self, since: Option<Timestamp>) -> bool {
        self.age(since).is_some_and(|a| a < YOUNG)
    }

    /// The newest Warning events about an object, as evidence lines.
    fn warnings(&self, kind: &str, meta: &'a ObjectMeta) -> Vec<String> {
        let mut events: Vec<_> = self
            .ix
            .events_for(kind, meta)
            .filter(|e| e.type_ == "Warning")
            .collect();
        events.sort_by_key(|e| std::cmp::Reverse(e.last_seen));
        let mut lines: Vec<String> = Vec::new();
        for e in events {
            let line = event_line(kind, meta_ns(meta), meta_name(meta), e);
            if !lines.contains(&line) {
                lines.push(line);
            }
            if lines.len() == WARNINGS {
                break;
            }
        }
        lines
    }

    /// The object and what names it: itself and its top owner.
    fn names(&self, kind: &str, meta: &'a ObjectMeta) -> (ObjectRef, Vec<ObjectRef>) {
        let object = ObjectRef::namespaced(kind, meta_ns(meta), meta_name(meta));
        let mut names = vec![object.clone()];
        names.extend(self.ix.top_owner_ref(meta));
        (object, names)
    }

    fn pod(&self, pod: &'a Pod) -> Option<Failing> {
        let meta = &pod.metadata;
        // Leaving (its deletion is under way), or a Job's: the Job is judged instead.
        if meta.deletion_timestamp.is_some() || owner_kind(meta) == Some("Job") {
            return None;
        }
        let status = pod.status.as_ref();
        let phase = status.and_then(|s| s.phase.as_deref()).unwrap_or("Unknown");
        let ready = condition(pod, "Ready").is_some_and(|c| c.status == "True");
        // Most pods are fine: they cost no look-up of their events.
        if phase == "Succeeded" || (phase == "Running" && ready && !waiting_broken(pod)) {
            return None;
        }
        let warnings = self.warnings("Pod", meta);
        let state = match phase {
            "Succeeded" => return None,
            // A pod its workload has replaced with a ready one (an eviction it recovered
            // from) is history, listed until someone deletes it.
            "Failed" if crate::diagnose::rules::pressure::recovered(self.ix, pod) => return None,
            "Failed" => Some(pod_state(pod)),
            _ => {
                if waiting_broken(pod) {
                    Some(pod_state(pod))
                } else {
                    // On its way up: Pending, or not yet Ready since it last changed.
                    let since = condition(pod, "Ready")
                        .and_then(|c| c.last_transition_time.as_ref())
                        .or(meta.creation_timestamp.as_ref())
                        .map(|t| t.0);
                    let stuck = !warnings.is_empty() || !self.young(since);
                    stuck.then(|| pod_state(pod))
                }
            }
        }?;
        let (object, mut names) = self.names("Pod", meta);
        // A pod of a Deployment is named when its ReplicaSet is.
        if let Some(rs) = meta
            .owner_references
            .iter()
            .flatten()
            .find(|o| o.kind == "ReplicaSet")
        {
            names.push(ObjectRef::namespaced("ReplicaSet", meta_ns(meta), &rs.name));
        }
        // What the pod's own state says, when it says it: gates nothing removes, a volume
        // the kubelet cannot attach or mount.
        let cause = Cause::scheduling_gated(pod, self.template_gated(pod)).or_else(|| {
            (phase == "Pending")
                .then(|| Cause::volume_mount(self.ix, pod, &self.warning_events("Pod", meta)))
                .flatten()
        });
        Some(Failing {
            object,
            names,
            state,
            warnings,
            cause,
        })
    }

    /// Warning events about an object, newest first.
    fn warning_events<'s>(
        &'s self,
        kind: &'s str,
        meta: &'s ObjectMeta,
    ) -> Vec<&'s EventRecord<'a>> {
        let mut events: Vec<_> = self
            .ix
            .events_for(kind, meta)
            .filter(|e| e.type_ == "Warning")
            .collect();
        events.sort_by_key(|e| std::cmp::Reverse(e.last_seen));
        events
    }

    /// Whether the pod's scheduling gates come from its workload's pod template (Git), not
    /// from a controller or webhook that added them to this pod.
    fn template_gated(&self, pod: &Pod) -> bool {
        let gated = |spec: Option<&crate::k8s::model::PodSpec>| {
            spec.and_then(|s| s.scheduling_gates.as_ref())
                .is_some_and(|g| !g.is_empty())
        };
        let Some(owner) = self.ix.top_owner_ref(&pod.metadata) else {
            return false;
        };
        let ns = owner.namespace.as_deref().unwrap_or_default();
        let s = self.ix.snapshot;
        match owner.kind.as_str() {
            "Deployment" => self
                .ix
                .deployment_by_key
                .get(&(ns, owner.name.as_str()))
                .is_some_and(|d| gated(d.spec.as_ref().and_then(|s| s.template.spec.as_ref()))),
            "Job" => s.jobs.iter().any(|j| {
                meta_ns(&j.metadata) == ns
                    && meta_name(&j.metadata) == owner.name
                    && gated(j.spec.as_ref().and_then(|s| s.template.spec.as_ref()))
            }),
            "CronJob" => s.cron_jobs.iter().any(|c| {
                meta_ns(&c.metadata) == ns
                    && meta_name(&c.metadata) == owner.name
                    && gated(
                        c.spec
                            .as_ref()
                            .and_then(|s| s.job_template.spec.as_ref())
                            .and_then(|s| s.template.spec.as_ref()),
                    )
            }),
            _ => false,
        }
    }

    fn job(&self, job: &'a Job) -> Option<Failing> {
        let (reason, message) = crate::k8s::job::failed(job)?;
        // A newer run of the same owner that succeeded: the failure is history.
        if crate::diagnose::rules::training::superseded(self.ix, job) {
            return None;
        }
        let (object, mut names) = self.names("Job", &job.metadata);
        let pods = job
            .metadata
            .uid
            .as_deref()
            .and_then(|u| self.ix.pods_by_owner.get(u));
        names.extend(
            pods.into_iter().flatten().map(|p| {
                ObjectRef::namespaced("Pod", meta_ns(&p.metadata), meta_name(&p.metadata))
            }),
        );
        Some(Failing {
            object,
            names,
            state: format!("Failed {reason}: {message}"),
            warnings: self.warnings("Job", &job.metadata),
            cause: None,
        })
    }

    /// A rollout stopped (`Progressing=False`), or no pod at all while it wants some.
    fn deployment(&self, d: &'a Deployment) -> Option<Failing> {
        let wanted = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
        let status = d.status.as_ref();
        let conditions = status.and_then(|s| s.conditions.as_ref());
        let stalled = conditions
            .into_iter()
            .flatten()
            .find(|c| c.type_ == "Progressing" && c.status == "False")
            .map(|c| {
                format!(
                    "Progressing=False {}: {}",
                    c.reason.as_deref().unwrap_or(""),
                    c.message.as_deref().unwrap_or("")
                )
            });
        let replicas = status.and_then(|s| s.replicas).unwrap_or(0);
        let available = status.and_then(|s| s.available_replicas).unwrap_or(0);
        let mut failing = self.workload(
            "Deployment",
            &d.metadata,
            wanted,
            replicas,
            available,
            stalled,
        )?;
        let events: Vec<&EventRecord<'a>> = self
            .replica_sets_of(&d.metadata)
            .into_iter()
            .flat_map(|rs| self.warning_events("ReplicaSet", rs))
            .collect();
        failing.cause = Cause::rollout(d, &events);
        Some(failing)
    }

    fn stateful_set(&self, s: &'a StatefulSet) -> Option<Failing> {
        let wanted = s.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
        let status = s.status.as_ref();
        let replicas = status.map_or(0, |s| s.replicas);
        let available = status.and_then(|s| s.available_replicas).unwrap_or(0);
        self.workload(
            "StatefulSet",
            &s.metadata,
            wanted,
            replicas,
            available,
            None,
        )
    }

    fn workload(
        &self,
        kind: &str,
        meta: &'a ObjectMeta,
        wanted: i32,
        replicas: i32,
        available: i32,
        stalled: Option<String>,
    ) -> Option<Failing> {
        let (object, mut names) = self.names(kind, meta);
        let pods = self.pods_of(meta);
        names.extend(
            pods.iter().map(|p| {
                ObjectRef::namespaced("Pod", meta_ns(&p.metadata), meta_name(&p.metadata))
            }),
        );
        let mut warnings = self.warnings(kind, meta);
        let created = meta.creation_timestamp.as_ref().map(|t| t.0);
        let state = match stalled {
            Some(s) => {
                for rs in self.replica_sets_of(meta) {
                    warnings.extend(self.warnings("ReplicaSet", rs));
                }
                warnings.truncate(WARNINGS);
                s
            }
            // Pods that fail are the pods' own entries; a workload without any is its own.
            None if wanted > 0 && pods.is_empty() && available < wanted => {
                let sets = self.replica_sets_of(meta);
                for rs in &sets {
                    warnings.extend(self.warnings("ReplicaSet", rs));
                    names.push(ObjectRef::namespaced(
                        "ReplicaSet",
                        meta_ns(rs),
                        meta_name(rs),
                    ));
                }
                if warnings.is_empty() && self.young(created) {
                    return None;
                }
                format!("{available} of {wanted} replicas available, {replicas} created, no pod")
            }
            None => return None,
        };
        Some(Failing {
            object,
            names,
            state,
            warnings,
            cause: None,
        })
    }

    /// Pods whose owner chain leads to the object (a ReplicaSet between them).
    fn pods_of(&self, meta: &'a ObjectMeta) -> Vec<&'a Pod> {
        let Some(uid) = meta.uid.as_deref() else {
            return Vec::new();
        };
        let mut pods: Vec<&'a Pod> = self.ix.pods_by_owner.get(uid).cloned().unwrap_or_default();
        for rs in self.replica_sets_of(meta) {
            if let Some(more) = rs.uid.as_deref().and_then(|u| self.ix.pods_by_owner.get(u)) {
                pods.extend(more);
            }
        }
        pods
    }

    fn replica_sets_of(&self, meta: &'a ObjectMeta) -> Vec<&'a ObjectMeta> {
        let sets = meta
            .uid
            .as_deref()
            .and_then(|uid| self.ix.replica_sets_by_owner.get(uid));
        sets.cloned().unwrap_or_default()
    }

    /// A claim Pending that no finding explains (the normal wait of a WaitForFirstConsumer
    /// claim is a finding, `pvc-waiting-for-consumer`).
    fn claim(&self, pvc: &'a PersistentVolumeClaim) -> Option<Failing> {
        let meta = &pvc.metadata;
        let phase = pvc.status.as_ref().and_then(|s| s.phase.as_deref());
        if phase != Some("Pending") && phase != Some("Lost") {
            return None;
        }
        let warnings = self.warnings("PersistentVolumeClaim", meta);
        let created = meta.creation_timestamp.as_ref().map(|t| t.0);
        if phase == Some("Pending") && warnings.is_empty() && self.young(created) {
            return None;
        }
        let (object, names) = self.names("PersistentVolumeClaim", meta);
        Some(Failing {
            object,
            names,
            state: phase.unwrap_or_default().to_owned(),
            warnings,
            cause: None,
        })
    }

    /// The pipeline's Deployment, when the pipeline is deployed in the lab's namespace: the
    /// Service and the route are judged only then (an empty namespace is not failing).
    fn pipeline(&self, config: &LabConfig) -> Option<&'a Deployment> {
        let key = (config.namespace.as_str(), config.deployment.as_str());
        self.ix.deployment_by_key.get(&key).copied()
    }

    /// The pipeline's Service: missing, or selecting none of the Deployment's pods (when the
    /// snapshot holds Services). A Service whose selected pods are not ready is explained by
    /// those pods, judged on their own.
    fn service(&self, config: &LabConfig) -> Option<Failing> {
        let s = self.ix.snapshot;
        let deployment = self.pipeline(config)?;
        let ns = config.namespace.as_str();
        let object = ObjectRef::namespaced("Service", ns, &config.service);
        let svc: Option<&Service> = s
            .services
            .iter()
            .find(|x| meta_ns(&x.metadata) == ns && meta_name(&x.metadata) == config.service);
        let state = match svc {
            None if holds(s, "v1/services", !s.services.is_empty()) => format!(
                "not found: nothing routes to Deployment {ns}/{}",
                config.deployment
            ),
            None => return None,
            Some(svc) => {
                let ready = self
                    .ix
                    .ready_endpoints
                    .get(&(ns, config.service.as_str()))
                    .copied()
                    .unwrap_or(0);
                let selector = svc.spec.as_ref().and_then(|sp| sp.selector.as_ref());
                let pods = self.pods_of(&deployment.metadata);
                let selected = pods
                    .iter()
                    .filter(|p| {
                        selector.is_some_and(|sel| {
                            crate::k8s::service::selects(sel, p.metadata.labels.as_ref())
                        })
                    })
                    .count();
                // Ready, or its pods are there and judged on their own, or none exist yet
                // (the Deployment is judged).
                if ready > 0 || selected > 0 || pods.is_empty() {
                    return None;
                }
                let text = |m: Option<&std::collections::BTreeMap<String, String>>| {
                    m.map(|m| {
                        m.iter()
                            .map(|(k, v)| format!("{k}={v}"))
                            .collect::<Vec<_>>()
                            .join(",")
                    })
                    .unwrap_or_default()
                };
                let (want, have) = (text(selector), text(pods[0].metadata.labels.as_ref()));
                let state = format!(
                    "no ready endpoint: its selector {want} selects none of the {} pod(s) of Deployment {ns}/{}, labelled {have}",
                    pods.len(),
                    config.deployment,
                );
                let cause = Cause {
                    id: FindingId::ServiceSelectsNoPod,
                    summary: format!(
                        "Service {} selects none of Deployment {}'s pods: selector {want}, pods labelled {have}",
                        config.service, config.deployment
                    ),
                    remediation: format!(
                        "In Git: make Service {}'s selector match the labels of Deployment {}'s pod template \
                         (manifests/, the Service or the template); Argo CD applies it and the endpoints fill. \
                         Confirm: kubectl -n {ns} get endpointslices -l kubernetes.io/service-name={}",
                        config.service, config.deployment, config.service
                    ),
                };
                return Some(Failing {
                    names: vec![object.clone()],
                    object,
                    state,
                    warnings: Vec::new(),
                    cause: Some(cause),
                });
            }
        };
        Some(Failing {
            names: vec![object.clone()],
            object,
            state,
            warnings: Vec::new(),
            cause: None,
        })
    }

    /// The lab's host routed by no Ingress (or HTTPRoute, with the Gateway API), or routed
    /// to a Service or port that does not exist.
    fn route(&self, config: &LabConfig) -> Option<Failing> {
        self.pipeline(config)?;
        let s = self.ix.snapshot;
        let ns = config.namespace.as_str();
        let services_known = holds(s, "v1/services", !s.services.is_empty());
        let route = if config.ingress_controller == crate::config::IngressController::Gateway {
            let resource = format!("{}/httproutes", crate::k8s::gateway::API_VERSION);
            if !holds(s, &resource, !s.http_routes.is_empty()) {
                return None;
            }
            let routes: Vec<_> = s
                .http_routes
                .iter()
                .map(crate::k8s::gateway::HttpRoute::from_object)
                .collect();
            routing::http_route(
                &routes,
                &s.services,
                &s.endpoint_slices,
                ns,
                &config.host,
                services_known,
            )
        } else {
            if !holds(s, "networking.k8s.io/v1/ingresses", !s.ingresses.is_empty()) {
                return None;
            }
            routing::ingress_route(
                &s.ingresses,
                &s.services,
                &s.endpoint_slices,
                ns,
                &config.host,
                services_known,
            )
        };
        // A route without backends (a default backend, a filter) is not judged here.
        if route.by.is_some() && (route.reaches_a_service() || route.backends.is_empty()) {
            return None;
        }
        let state = not_routed_state(&route, ns, &config.host);
        let fallback = if route.kind == "Ingress" {
            &config.ingress
        } else {
            &config.http_route
        };
        let name = route.by.as_deref().unwrap_or(fallback);
        let object = ObjectRef::namespaced(route.kind, ns, name);
        let cause = Cause::host_not_routed(config, route.kind, name, &state);
        let warnings = if route.kind == "Ingress" {
            self.ingress_warnings(ns, name)
        } else {
            Vec::new()
        };
        Some(Failing {
            names: vec![object.clone()],
            object,
            state,
            warnings,
            cause: Some(cause),
        })
    }

    fn ingress_warnings(&self, ns: &str, name: &str) -> Vec<String> {
        self.ix
            .snapshot
            .ingresses
            .iter()
            .find(|i| meta_ns(&i.metadata) == ns && meta_name(&i.metadata) == name)
            .map(|i| self.warnings("Ingress", &i.metadata))
            .unwrap_or_default()
    }

    /// The lab's Application, Degraded or with a failed operation.
    fn applications(&self, config: &LabConfig) -> Option<Failing> {
        let app = self
            .ix
            .applications
            .iter()
            .find(|a| a.metadata.name.as_deref() == Some(config.argocd_app.as_str()))?;
        let data = &app.data;
        let health = data["status"]["health"]["status"].as_str().unwrap_or("");
        let operation = data["status"]["operationState"]["phase"]
            .as_str()
            .unwrap_or("");
        let message = data["status"]["operationState"]["message"]
            .as_str()
            .unwrap_or("");
        let state = if matches!(operation, "Failed" | "Error") {
            format!("last operation {operation}: {message}")
        } else if health == "Degraded" {
            let why = data["status"]["health"]["message"].as_str().unwrap_or("");
            format!("health Degraded {why}").trim_end().to_owned()
        } else {
            return None;
        };
        let object = ObjectRef::namespaced(
            "Application",
            app.metadata.namespace.as_deref().unwrap_or(""),
            &config.argocd_app,
        );
        Some(Failing {
            names: vec![object.clone()],
            object,
            state,
            warnings: Vec::new(),
            cause: None,
        })
    }
}

/// What the sweep says of a host no route sends to an existing Service port.
fn not_routed_state(route: &routing::HostRoute, ns: &str, host: &str) -> String {
    if route.by.is_none() {
        let routed: Vec<&str> = route.hosts_routed.iter().map(String::as_str).collect();
        let verb = if route.kind == "Ingress" {
            "routes"
        } else {
            "serves"
        };
        return format!(
            "no {} in {ns} {verb} host {host} (hosts routed: {})",
            route.kind,
            crate::k8s::names::list_or_none(&routed)
        );
    }
    let missing: Vec<String> = route
        .backends
        .iter()
        .map(routing::Backend::target)
        .collect();
    format!(
        "routes host {host} to no existing Service port: {}",
        missing.join(", ")
    )
}

/// Whether the snapshot says it holds every object of `resource`: it read it whole, or, for
/// a file that does not say, it holds some.
fn holds(s: &crate::snapshot::ClusterSnapshot, resource: &str, some: bool) -> bool {
    some || s.read.as_ref().is_some_and(|r| r.contains(resource))
}

fn owner_kind(meta: &ObjectMeta) -> Option<&str> {
    crate::diagnose::index::controller(meta).map(|o| o.kind.as_str())
}

/// Whether a container of `pod` waits for a reason other than being created.
fn waiting_broken(pod: &Pod) -> bool {
    let statuses = pod.status.iter().flat_map(|s| {
        s.init_container_statuses
            .iter()
            .flatten()
            .chain(s.container_statuses.iter().flatten())
    });
    statuses
        .filter_map(|c| c.state.as_ref()?.waiting.as_ref()?.reason.as_deref())
        .any(|r| !STARTING.contains(&r))
}

fn condition<'p>(
    pod: &'p Pod,
    type_: &str,
) -> Option<&'p k8s_openapi::api::core::v1::PodCondition> {
    pod.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
}

/// A pod's raw state in one line: phase and reason, then each container that is not running
/// and ready (waiting or terminated reason and message, exit code, restarts).
fn pod_state(pod: &Pod) -> String {
    let status = pod.status.as_ref();
    let phase = status.and_then(|s| s.phase.as_deref()).unwrap_or("Unknown");
    let mut parts = vec![phase.to_owned()];
    if let Some(reason) = status.and_then(|s| s.reason.as_deref()) {
        let message = status.and_then(|s| s.message.as_deref()).unwrap_or("");
        parts[0] = format!("{phase} ({reason}: {message})");
    }
    if let Some((reason, message)) = crate::k8s::pod::unscheduled_condition(pod) {
        parts.push(format!("PodScheduled=False {reason}: {message}"));
    }
    let containers = status.into_iter().flat_map(|s| {
        s.init_container_statuses
            .iter()
            .flatten()
            .chain(s.container_statuses.iter().flatten())
    });
    for c in containers.filter(|c| !c.ready) {
        let state = c.state.as_ref();
        let last = c.last_state.as_ref().and_then(|s| s.terminated.as_ref());
        let mut line = format!("container {}", c.name);
        if let Some(w) = state.and_then(|s| s.waiting.as_ref()) {
            line.push_str(&format!(
                " waiting {}: {}",
                w.reason.as_deref().unwrap_or(""),
                w.message.as_deref().unwrap_or("")
            ));
        } else if let Some(t) = state.and_then(|s| s.terminated.as_ref()) {
            line.push_str(&format!(
                " terminated {} (exit {}): {}",
                t.reason.as_deref().unwrap_or(""),
                t.exit_code,
                t.message.as_deref().unwrap_or("")
            ));
        } else {
            line.push_str(" not ready");
        }
        if let Some(t) = last {
            line.push_str(&format!(
                "; last terminated {} (exit {}): {}",
                t.reason.as_deref().unwrap_or(""),
                t.exit_code,
                t.message.as_deref().unwrap_or("")
            ));
        }
        if c.restart_count > 0 {
            line.push_str(&format!("; {} restarts", c.restart_count));
        }
        parts.push(line.trim_end_matches([' ', ':']).to_owned());
    }
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use crate::diagnose::test_cluster::*;
    use serde_json::{Value, json};

    /// An event that sets the snapshot's "now" (its newest time).
    fn now_at(t: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "Event",
               "metadata": {"name": "clock", "namespace": NS},
               "involvedObject": {"kind": "Node", "name": "node-1"},
               "reason": "NodeReady", "type": "Normal", "message": "", "lastTimestamp": t})
    }

    fn warning(pod: &str, reason: &str, message: &str, at: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "Event",
               "metadata": {"name": format!("{pod}.{reason}"), "namespace": NS},
               "involvedObject": {"kind": "Pod", "name": pod, "namespace": NS, "uid": format!("uid-{pod}")},
               "reason": reason, "type": "Warning", "message": message, "count": 3,
               "source": {"component": "kubelet"}, "lastTimestamp": at})
    }

    /// A bare pod stuck `ContainerCreating`, created at `created`.
    fn creating(name: &str, created: &str) -> Value {
        let mut p = pod(
            name,
            json!({"containers": [{"name": "c", "image": "x"}]}),
            "Pending",
            json!({"containerStatuses": [{"name": "c", "ready": false, "restartCount": 0,
                    "image": "x", "imageID": "",
                    "state": {"waiting": {"reason": "ContainerCreating"}}}]}),
        );
        p["metadata"]["creationTimestamp"] = created.into();
        p
    }

    fn unexplained(items: Vec<Value>) -> Vec<(String, String)> {
        swept(items, "unexplained-failure")
    }

    /// Subject and evidence of the findings `id` over `items`.
    fn swept(items: Vec<Value>, id: &str) -> Vec<(String, String)> {
        diagnose(items)
            .findings
            .into_iter()
            .filter(|f| f.id == id)
            .map(|f| (f.subject.to_string(), f.evidence.join("\n")))
            .collect()
    }

    #[test]
    fn a_pod_stuck_past_young_with_no_rule_is_an_unexplained_failure() {
        let mut items = base();
        items.push(creating("web", "2026-11-28T08:00:00Z"));
        items.push(now_at("2026-11-28T08:40:00Z"));
        let found = unexplained(items);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, "Pod mlops-lab/web");
        assert!(
            found[0].1.contains("container c waiting ContainerCreating"),
            "{found:?}"
        );
    }

    #[test]
    fn a_young_pod_without_a_warning_is_on_its_way_up_but_one_with_a_warning_is_failing() {
        let mut items = base();
        items.push(creating("web", "2026-11-28T08:38:00Z"));
        items.push(now_at("2026-11-28T08:40:00Z"));
        assert_eq!(unexplained(items.clone()), []);
        // A CNI that cannot set up the sandbox's network: no rule knows it yet.
        let sandbox = "Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup network for sandbox \"0a1b\": plugin type=\"flannel\" failed (add): failed to load flannel 'subnet.env' file";
        items.push(warning(
            "web",
            "FailedCreatePodSandBox",
            sandbox,
            "2026-11-28T08:39:00Z",
        ));
        let found = unexplained(items);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0]
                .1
                .contains("Event Warning FailedCreatePodSandBox on Pod mlops-lab/web (kubelet, x3): Failed to create pod sandbox"),
            "{found:?}"
        );
    }

    #[test]
    fn a_pod_whose_volume_does_not_mount_is_volume_mount_failed_even_when_young() {
        let mut items = base();
        items.push(creating("web", "2026-11-28T08:38:00Z"));
        items.push(now_at("2026-11-28T08:40:00Z"));
        items.push(warning(
            "web",
            "FailedMount",
            "Unable to attach or mount volumes: unmounted volumes=[data], unattached volumes=[data]: timed out waiting for the condition",
            "2026-11-28T08:39:00Z",
        ));
        assert_eq!(unexplained(items.clone()), []);
        let found = swept(items, "volume-mount-failed");
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0]
                .1
                .contains("Warning FailedMount on Pod mlops-lab/web"),
            "{found:?}"
        );
    }

    #[test]
    fn a_failure_a_rule_explains_is_not_repeated() {
        let mut items = base();
        let crashing = pod(
            "web",
            json!({"containers": [{"name": "c", "image": "x"}]}),
            "Running",
            json!({"containerStatuses": [{"name": "c", "ready": false, "restartCount": 7,
                    "image": "x", "imageID": "",
                    "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s"}},
                    "lastState": {"terminated": {"exitCode": 3, "reason": "Error"}}}]}),
        );
        items.push(crashing);
        let ids = ids(items);
        assert!(ids.contains(&"container-crash-looping"), "{ids:?}");
        assert!(!ids.contains(&"unexplained-failure"), "{ids:?}");
    }

    fn job(name: &str, created: &str, condition: &str, owner: Option<&str>) -> Value {
        let mut m = meta(name);
        m["creationTimestamp"] = created.into();
        if let Some(o) = owner {
            m["ownerReferences"] = json!([{"apiVersion": "batch/v1", "kind": "CronJob", "name": o,
                                           "uid": format!("uid-{o}"), "controller": true}]);
        }
        json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": m,
               "spec": {"template": {"spec": {"containers": [{"name": "main", "image": "backup:1"}]}}},
               "status": {"conditions": [{"type": condition, "status": "True",
                                          "reason": "BackoffLimitExceeded",
                                          "message": "Job has reached the specified backoff limit"}]}})
    }

    #[test]
    fn a_failed_job_is_failing_unless_a_newer_run_of_its_owner_succeeded() {
        let mut items = base();
        items.push(job(
            "backup-1",
            "2026-11-28T08:00:00Z",
            "Failed",
            Some("backup"),
        ));
        let found = unexplained(items.clone());
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, "Job mlops-lab/backup-1");
        assert!(
            found[0].1.contains("Failed BackoffLimitExceeded"),
            "{found:?}"
        );
        items.push(job(
            "backup-2",
            "2026-11-28T09:00:00Z",
            "Complete",
            Some("backup"),
        ));
        assert_eq!(unexplained(items), []);
    }

    /// The pipeline's Deployment with one pod labelled `app: inference`, and its Service.
    fn serving(selector: &str) -> Vec<Value> {
        let mut items = base();
        let mut d = deployment("inference", "models", "node-1");
        d["status"] = json!({"replicas": 1, "availableReplicas": 1, "readyReplicas": 1});
        items.push(d);
        let mut p = pod(
            "inference-1",
            json!({"containers": [{"name": "c", "image": "x"}]}),
            "Running",
            json!({"conditions": [{"type": "Ready", "status": "True"}]}),
        );
        p["metadata"]["labels"] = json!({"app": "inference"});
        p["metadata"]["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": "Deployment",
            "name": "inference", "uid": "uid-inference", "controller": true}]);
        items.push(p);
        items.push(
            json!({"apiVersion": "v1", "kind": "Service", "metadata": meta("inference"),
                          "spec": {"selector": {"app": selector},
                                   "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}}),
        );
        items.push(
            json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                          "metadata": {"name": "inference-abc", "namespace": NS,
                                       "labels": {"kubernetes.io/service-name": "inference"}},
                          "addressType": "IPv4", "endpoints": []}),
        );
        items
    }

    #[test]
    fn a_service_that_selects_none_of_the_pipelines_pods_is_failing() {
        let found = swept(serving("inferense"), "service-selects-no-pod");
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, "Service mlops-lab/inference");
        assert!(
            found[0].1.contains("its selector app=inferense selects none of the 1 pod(s) of Deployment mlops-lab/inference, labelled app=inference"),
            "{found:?}"
        );
        // Near miss: it selects the pod; a pod not ready yet would be the pod's own entry.
        assert_eq!(ids(serving("inference")), Vec::<&str>::new());
    }

    fn ingress(host: &str, service: &str) -> Value {
        json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": meta("inference"),
               "spec": {"rules": [{"host": host, "http": {"paths": [{"path": "/", "pathType": "Prefix",
                   "backend": {"service": {"name": service, "port": {"number": 80}}}}]}}]}})
    }

    #[test]
    fn the_labs_host_routed_by_no_ingress_or_to_no_service_port_is_failing() {
        let mut items = serving("inference");
        items.push(ingress("other.homelab", "inference"));
        let found = swept(items, "host-not-routed");
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].1.contains(
                "no Ingress in mlops-lab routes host model.homelab (hosts routed: other.homelab)"
            ),
            "{found:?}"
        );
        let mut items = serving("inference");
        items.push(ingress("model.homelab", "inferenc"));
        let found = swept(items, "host-not-routed");
        assert!(
            found[0]
                .1
                .contains("routes host model.homelab to no existing Service port: inferenc:80"),
            "{found:?}"
        );
        // Near miss: the host routed to the Service's port.
        let mut items = serving("inference");
        items.push(ingress("model.homelab", "inference"));
        assert_eq!(ids(items), Vec::<&str>::new());
    }

    #[test]
    fn an_empty_namespace_is_not_failing() {
        assert_eq!(unexplained(base()), []);
    }
}

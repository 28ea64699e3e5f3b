//! The two catalogues, `preflight` and `verify`: ordered lists of checks by category, in the
//! order they are printed. A check's judgement lives in its domain module; here it is only named.

use futures::FutureExt;

use super::{Catalogue, Check, PREREQUISITES, VERIFICATION, check, judge};
use super::{
    api, argocd, capacity, dataplane, gateway, ingress, namespace, nodes, serving, storage,
    training,
};

/// The gate checks both catalogues open with: without the API nothing else can be asked.
fn gates() -> [Check; 2] {
    [
        check(
            "api-reachable",
            "can reach the Kubernetes API (supported version)",
            |ctx, _| api::api_reachable(ctx).boxed(),
        )
        .gate(),
        check(
            "credentials-accepted",
            "credentials are accepted",
            |ctx, _| api::credentials_accepted(ctx).boxed(),
        )
        .gate(),
    ]
}

/// `labctl preflight`: is this cluster ready to receive the lab? It looks only at what the lab
/// depends on and at whether the namespace is free for it.
pub fn preflight() -> Vec<Check> {
    Catalogue::new(PREREQUISITES)
        .category("kubernetes-api", gates())
        .category(
            "kubernetes-api",
            [check(
                "permissions",
                "labctl has the read permissions it needs",
                |ctx, _| api::permissions(ctx).boxed(),
            )],
        )
        .category(
            "nodes",
            [
                check("nodes-ready", "nodes are Ready", |ctx, _| {
                    nodes::nodes_ready(ctx).boxed()
                }),
                check(
                    "pin-node-schedulable",
                    "the pin node exists, is schedulable, untainted and labelled",
                    |ctx, _| nodes::pin_node_schedulable(ctx).boxed(),
                ),
                check(
                    "pin-node-capacity",
                    "the pin node has room for the trainer's and inference's requests",
                    |ctx, _| capacity::pin_node_capacity(ctx).boxed(),
                ),
                check(
                    "images-match-node-arch",
                    "the images offer the pin node's CPU architecture",
                    |ctx, _| capacity::images_match_node_arch(ctx).boxed(),
                ),
            ],
        )
        .category(
            "storage",
            [
                check(
                    "storageclass-local-path",
                    "StorageClass exists and binds WaitForFirstConsumer",
                    |ctx, _| storage::storageclass_local_path(ctx).boxed(),
                ),
                check(
                    "local-path-provisioner-available",
                    "local-path provisioner is available",
                    |ctx, _| storage::local_path_provisioner_available(ctx).boxed(),
                ),
            ],
        )
        .category(
            "ingress",
            [
                check(
                    "ingress-controller-supported",
                    "the ingress controller in use is maintained",
                    |ctx, _| ingress::ingress_controller_supported(ctx).boxed(),
                )
                .offline()
                .warning_only(),
                check(
                    "ingress-controller-available",
                    "the ingress controller is available",
                    |ctx, _| ingress::ingress_controller_available(ctx).boxed(),
                ),
                check(
                    "ingressclass-matches-controller",
                    "the IngressClass exists and belongs to the controller in use",
                    |ctx, _| ingress::ingressclass_matches_controller(ctx).boxed(),
                )
                .when(ingress::uses_ingress),
                check(
                    "gateway-programmed",
                    "the Gateway is Programmed and admits the lab's routes",
                    |ctx, _| gateway::gateway_programmed(ctx).boxed(),
                )
                .when(gateway::uses_gateway),
                check(
                    "ingress-address-published",
                    "the ingress controller publishes an external address",
                    |ctx, _| ingress::ingress_address_published(ctx).boxed(),
                ),
            ],
        )
        .category(
            "argocd",
            [check(
                "argocd-installed",
                "Argo CD is installed (CRD and application controller)",
                |ctx, _| argocd::argocd_installed(ctx).boxed(),
            )],
        )
        .category(
            "dns",
            [check(
                "pihole-dns-record",
                "Pi-hole answers and has a record for the host",
                |ctx, _| dataplane::pihole_dns_record(ctx).boxed(),
            )
            .offline()],
        )
        .category(
            "namespace",
            [check(
                "namespace-isolation",
                "the lab namespace is absent or holds only the lab",
                |ctx, _| namespace::namespace_isolation(ctx).boxed(),
            )
            .warning_only()],
        )
        .build()
}

/// `labctl verify`: does the deployed lab work end to end? Argo CD state, storage, training,
/// serving, networking, then what a LAN client sees (DNS, HTTP).
pub fn verify() -> Vec<Check> {
    Catalogue::new(VERIFICATION)
        .category("kubernetes-api", gates())
        .category(
            "argocd",
            [judge(
                "argocd-app-healthy",
                "Argo CD Application is Synced and Healthy", argocd::argocd_app_healthy)],
        )
        .category(
            "storage",
            [
                judge("pvc-bound", "model PVC is Bound", storage::pvc_bound),
                judge(
                    "pv-node-affinity",
                    "the volume's node is the node both workloads are pinned to", storage::pv_node_affinity),
            ],
        )
        .category(
            "training",
            [
                judge(
                    "trainer-cronjob-active",
                    "trainer CronJob exists and is not suspended", training::trainer_cronjob_active),
                judge(
                    "trainer-last-job-succeeded",
                    "the last training Job succeeded recently", training::trainer_last_job_succeeded),
            ],
        )
        .category(
            "serving",
            [
                judge(
                    "inference-available",
                    "inference Deployment is available", serving::inference_available),
                judge(
                    "inference-pods-pinned",
                    "inference pods run on the pinned node without restarting", serving::inference_pods_pinned),
            ],
        )
        .category(
            "networking",
            [
                judge(
                    "service-selects-pods",
                    "Service selects the inference pods and its target port exists", serving::service_selects_pods),
                judge(
                    "endpoints-ready",
                    "the Service has ready endpoints", serving::endpoints_ready),
                judge(
                    "ingress-routes-host",
                    "Ingress routes the host to the Service and has an address", ingress::ingress_routes_host)
                .when(ingress::uses_ingress),
                judge(
                    "httproute-accepted",
                    "the HTTPRoute routes the host to the Service, Accepted with references resolved", gateway::http_route_accepted)
                .when(gateway::uses_gateway),
            ],
        )
        .category(
            "data-plane",
            [
                check(
                    "dns-resolves-host",
                    "Pi-hole resolves the host to the ingress address",
                    |ctx, cluster| dataplane::dns_resolves_host(ctx, cluster).boxed(),
                )
                .offline(),
                check(
                    "http-healthz",
                    "GET /healthz through the ingress answers 200",
                    |ctx, cluster| dataplane::http_healthz(ctx, cluster).boxed(),
                )
                .offline(),
                check(
                    "model-ready",
                    "the model server reports a loaded model version",
                    |ctx, cluster| dataplane::model_ready(ctx, cluster).boxed(),
                )
                .offline(),
            ],
        )
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_gates_come_first() {
        for catalogue in [preflight(), verify()] {
            let mut ids: Vec<&str> = catalogue.iter().map(|c| c.id).collect();
            assert!(catalogue[..2].iter().all(|c| c.gate));
            assert!(catalogue[2..].iter().all(|c| !c.gate));
            ids.sort_unstable();
            let n = ids.len();
            ids.dedup();
            assert_eq!(ids.len(), n);
        }
    }

    #[test]
    fn the_ingress_controller_decides_the_routing_checks() {
        use crate::config::{IngressController, LabConfig};
        let ids = |controller, catalogue: Vec<Check>| -> Vec<&'static str> {
            let config = LabConfig {
                ingress_controller: controller,
                ..LabConfig::default()
            };
            super::super::applicable(catalogue, &config)
                .iter()
                .map(|c| c.id)
                .collect()
        };
        let ingress = ids(IngressController::Traefik, verify());
        assert!(ingress.contains(&"ingress-routes-host"));
        assert!(!ingress.contains(&"httproute-accepted"));
        let gateway = ids(IngressController::Gateway, verify());
        assert!(gateway.contains(&"httproute-accepted"));
        assert!(!gateway.contains(&"ingress-routes-host"));
        let preflight_gateway = ids(IngressController::Gateway, preflight());
        assert!(preflight_gateway.contains(&"gateway-programmed"));
        assert!(!preflight_gateway.contains(&"ingressclass-matches-controller"));
        let preflight_nginx = ids(IngressController::IngressNginx, preflight());
        assert!(preflight_nginx.contains(&"ingressclass-matches-controller"));
        assert!(!preflight_nginx.contains(&"gateway-programmed"));
    }
}

//! The two catalogues, `preflight` and `verify`: ordered lists of checks by category, in the
//! order they are printed. A check's judgement lives in its domain module; here it is only named.

use futures::FutureExt;

use super::{Catalogue, Check, PREREQUISITES, VERIFICATION, check};
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
            |ctx| api::api_reachable(ctx).boxed(),
        )
        .gate(),
        check("credentials-accepted", "credentials are accepted", |ctx| {
            api::credentials_accepted(ctx).boxed()
        })
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
                |ctx| api::permissions(ctx).boxed(),
            )],
        )
        .category(
            "nodes",
            [
                check("nodes-ready", "nodes are Ready", |ctx| {
                    nodes::nodes_ready(ctx).boxed()
                }),
                check(
                    "pin-node-schedulable",
                    "the pin node exists, is schedulable, untainted and labelled",
                    |ctx| nodes::pin_node_schedulable(ctx).boxed(),
                ),
                check(
                    "pin-node-capacity",
                    "the pin node has room for the trainer's and inference's requests",
                    |ctx| capacity::pin_node_capacity(ctx).boxed(),
                ),
                check(
                    "images-match-node-arch",
                    "the images offer the pin node's CPU architecture",
                    |ctx| capacity::images_match_node_arch(ctx).boxed(),
                ),
            ],
        )
        .category(
            "storage",
            [
                check(
                    "storageclass-local-path",
                    "StorageClass exists and binds WaitForFirstConsumer",
                    |ctx| storage::storageclass_local_path(ctx).boxed(),
                ),
                check(
                    "local-path-provisioner-available",
                    "local-path provisioner is available",
                    |ctx| storage::local_path_provisioner_available(ctx).boxed(),
                ),
            ],
        )
        .category(
            "ingress",
            [
                check(
                    "ingress-controller-supported",
                    "the ingress controller in use is maintained",
                    |ctx| ingress::ingress_controller_supported(ctx).boxed(),
                )
                .offline()
                .warning_only(),
                check(
                    "ingress-controller-available",
                    "the ingress controller is available",
                    |ctx| ingress::ingress_controller_available(ctx).boxed(),
                ),
                check(
                    "ingressclass-matches-controller",
                    "the IngressClass exists and belongs to the controller in use",
                    |ctx| ingress::ingressclass_matches_controller(ctx).boxed(),
                )
                .when(ingress::uses_ingress),
                check(
                    "gateway-programmed",
                    "the Gateway is Programmed and admits the lab's routes",
                    |ctx| gateway::gateway_programmed(ctx).boxed(),
                )
                .when(gateway::uses_gateway),
                check(
                    "ingress-address-published",
                    "the ingress controller publishes an external address",
                    |ctx| ingress::ingress_address_published(ctx).boxed(),
                ),
            ],
        )
        .category(
            "argocd",
            [check(
                "argocd-installed",
                "Argo CD is installed (CRD and application controller)",
                |ctx| argocd::argocd_installed(ctx).boxed(),
            )],
        )
        .category(
            "dns",
            [check(
                "pihole-dns-record",
                "Pi-hole answers and has a record for the host",
                |ctx| dataplane::pihole_dns_record(ctx).boxed(),
            )
            .offline()],
        )
        .category(
            "namespace",
            [check(
                "namespace-isolation",
                "the lab namespace is absent or holds only the lab",
                |ctx| namespace::namespace_isolation(ctx).boxed(),
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
            [check(
                "argocd-app-healthy",
                "Argo CD Application is Synced and Healthy",
                |ctx| argocd::argocd_app_healthy(ctx).boxed(),
            )],
        )
        .category(
            "storage",
            [
                check("pvc-bound", "model PVC is Bound", |ctx| {
                    storage::pvc_bound(ctx).boxed()
                }),
                check(
                    "pv-node-affinity",
                    "the volume's node is the node both workloads are pinned to",
                    |ctx| storage::pv_node_affinity(ctx).boxed(),
                ),
            ],
        )
        .category(
            "training",
            [
                check(
                    "trainer-cronjob-active",
                    "trainer CronJob exists and is not suspended",
                    |ctx| training::trainer_cronjob_active(ctx).boxed(),
                ),
                check(
                    "trainer-last-job-succeeded",
                    "the last training Job succeeded recently",
                    |ctx| training::trainer_last_job_succeeded(ctx).boxed(),
                ),
            ],
        )
        .category(
            "serving",
            [
                check(
                    "inference-available",
                    "inference Deployment is available",
                    |ctx| serving::inference_available(ctx).boxed(),
                ),
                check(
                    "inference-pods-pinned",
                    "inference pods run on the pinned node without restarting",
                    |ctx| serving::inference_pods_pinned(ctx).boxed(),
                ),
            ],
        )
        .category(
            "networking",
            [
                check(
                    "service-selects-pods",
                    "Service selects the inference pods and its target port exists",
                    |ctx| serving::service_selects_pods(ctx).boxed(),
                ),
                check(
                    "endpoints-ready",
                    "the Service has ready endpoints",
                    |ctx| serving::endpoints_ready(ctx).boxed(),
                ),
                check(
                    "ingress-routes-host",
                    "Ingress routes the host to the Service and has an address",
                    |ctx| ingress::ingress_routes_host(ctx).boxed(),
                )
                .when(ingress::uses_ingress),
                check(
                    "httproute-accepted",
                    "the HTTPRoute routes the host to the Service, Accepted with references resolved",
                    |ctx| gateway::http_route_accepted(ctx).boxed(),
                )
                .when(gateway::uses_gateway),
            ],
        )
        .category(
            "data-plane",
            [
                check(
                    "dns-resolves-host",
                    "Pi-hole resolves the host to the ingress address",
                    |ctx| dataplane::dns_resolves_host(ctx).boxed(),
                )
                .offline(),
                check(
                    "http-healthz",
                    "GET /healthz through the ingress answers 200",
                    |ctx| dataplane::http_healthz(ctx).boxed(),
                )
                .offline(),
                check(
                    "model-ready",
                    "the model server reports a loaded model version",
                    |ctx| dataplane::model_ready(ctx).boxed(),
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

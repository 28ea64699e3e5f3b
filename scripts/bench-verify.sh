#!/usr/bin/env bash
# Benchmark of `labctl verify` against the same checks done the runbook way (not a
# test). Both run against the same cluster in the same run, alternating,
# ROUNDS times; the script prints each wall time and the ratio. Goal: labctl <= 1/5 of the
# runbook's time.
#
# The runbook way is one kubectl / dig / curl command per check of runbooks/verification.md
# (pv-node-affinity needs two), run one after another as an operator would paste them.
#
# Usage: scripts/bench-verify.sh            (the current kubectl context)
# Environment (defaults match labctl's lab description):
#   NS=mlops-lab ARGOCD_NS=argocd APP=mlops-lab HOST=model.homelab
#   PIHOLE=<ip> PIHOLE_PORT=53          Pi-hole DNS server (required for the DNS check)
#   INGRESS=<ip> PORT=80                ingress address and port (required for the HTTP checks)
#   ROUNDS=5                            alternating rounds; the median is reported
#   LABCTL=target/release/labctl        the binary to time (built if missing)
#   LABCTL_ARGS="--kubeconfig ..."      extra flags for labctl (also passed to kubectl via KUBECONFIG)
set -euo pipefail
cd "$(dirname "$0")/.."

NS=${NS:-mlops-lab}
ARGOCD_NS=${ARGOCD_NS:-argocd}
APP=${APP:-mlops-lab}
HOST=${HOST:-model.homelab}
PORT=${PORT:-80}
PIHOLE_PORT=${PIHOLE_PORT:-53}
ROUNDS=${ROUNDS:-5}
LABCTL=${LABCTL:-target/release/labctl}
: "${PIHOLE:?set PIHOLE to the Pi-hole DNS server address}"
: "${INGRESS:?set INGRESS to the ingress address}"

for tool in kubectl dig curl; do
  command -v "$tool" >/dev/null || { echo "bench-verify: $tool is required (dig: apt-get install bind9-dnsutils)" >&2; exit 2; }
done
if [[ ! -x "$LABCTL" ]]; then
  cargo build --release -p labctl --bin labctl
fi

# The runbook, one command per check, in the order of `labctl verify --list`. Output is
# discarded; failures do not stop the run (a failing check is still an answer).
runbook() {
  local k="kubectl"
  $k version -o json                                                     # api-reachable
  $k auth whoami                                                          # credentials-accepted
  $k -n "$ARGOCD_NS" get application "$APP" \
    -o jsonpath='{.status.sync.status} {.status.health.status}'           # argocd-app-healthy
  $k -n "$NS" get pvc models -o jsonpath='{.status.phase}'                # pvc-bound
  $k get pv -o jsonpath="{range .items[?(@.spec.claimRef.name=='models')]}{.spec.nodeAffinity}{end}"  # pv-node-affinity (1/2)
  $k -n "$NS" get deploy/inference cronjob/trainer -o jsonpath='{..nodeSelector}'                    # pv-node-affinity (2/2)
  $k -n "$NS" get cronjob trainer -o jsonpath='{.spec.suspend}'           # trainer-cronjob-active
  $k -n "$NS" get jobs --sort-by=.metadata.creationTimestamp              # trainer-last-job-succeeded
  $k -n "$NS" rollout status deploy/inference --timeout=5s                # inference-available
  $k -n "$NS" get pods -o wide                                            # inference-pods-pinned
  $k -n "$NS" get svc inference -o jsonpath='{.spec.selector} {.spec.ports}'  # service-selects-pods
  $k -n "$NS" get endpointslices -l kubernetes.io/service-name=inference  # endpoints-ready
  $k -n "$NS" get ingress inference -o jsonpath='{.spec} {.status}'       # ingress-routes-host
  dig @"$PIHOLE" -p "$PIHOLE_PORT" "$HOST" +short +time=2 +tries=1       # dns-resolves-host
  curl -sS -m 5 -o /dev/null -w '%{http_code}' -H "Host: $HOST" "http://$INGRESS:$PORT/healthz"  # http-healthz
  curl -sS -m 5 -H "Host: $HOST" "http://$INGRESS:$PORT/readyz"          # model-ready
}

labctl_verify() {
  # shellcheck disable=SC2086 # LABCTL_ARGS is a list of flags
  "$LABCTL" verify -n "$NS" --host "$HOST" --dns "$PIHOLE:$PIHOLE_PORT" \
    --ingress-address "$INGRESS" --port "$PORT" -o json ${LABCTL_ARGS:-}
}

ms() { echo $(( $(date +%s%N) / 1000000 )); }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

script_times=()
labctl_times=()
for round in $(seq 1 "$ROUNDS"); do
  start=$(ms); runbook >/dev/null 2>&1 || true; end=$(ms)
  script_times+=($((end - start)))
  start=$(ms); labctl_verify >/dev/null 2>&1 || true; end=$(ms)
  labctl_times+=($((end - start)))
  echo "round $round: runbook ${script_times[-1]} ms, labctl verify ${labctl_times[-1]} ms" >&2
done

script_ms=$(printf '%s\n' "${script_times[@]}" | median)
labctl_ms=$(printf '%s\n' "${labctl_times[@]}" | median)
echo "runbook (16 commands, sequential): median ${script_ms} ms"
echo "labctl verify (15 checks, concurrent): median ${labctl_ms} ms"
awk -v s="$script_ms" -v l="$labctl_ms" 'BEGIN {
  r = (l > 0) ? s / l : 0
  printf "speed-up: %.1fx (goal: >= 5x) %s\n", r, (r >= 5 ? "OK" : "NOT MET")
}'

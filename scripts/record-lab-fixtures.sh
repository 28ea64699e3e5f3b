#!/usr/bin/env bash
# Records labctl's offline fixtures from the real local lab (testbed/): for each storage
# scenario, `cargo lab drill` breaks a fresh lab that way, we wait until `labctl diagnose pvc`
# reports the scenario's finding (the scheduler retries, controllers and the provisioner emit
# events), then `labctl snapshot` writes labctl/tests/fixtures/lab/<scenario>.json. The healthy
# lab is recorded as healthy.json. labctl/tests/diagnose.rs checks every recording.
#
# Usage: scripts/record-lab-fixtures.sh [SCENARIO...]   (needs the lab binaries: testbed/build)
set -euo pipefail
cd "$(dirname "$0")/.."
declare -A EXPECT=(
  [volume-node-differs]=pv-node-affinity-conflict
  [consumers-pinned-apart]=consumers-pinned-to-different-nodes
  [pv-node-deleted]=pv-node-missing
  [pv-node-notready]=pv-node-unavailable
  [node-selector-typo]=node-selector-matches-no-node
  [storageclass-missing]=storageclass-missing
  [provisioner-stopped]=provisioner-not-running
  [rwx-requested]=access-mode-unsupported
  [pvc-deleted-in-use]=pvc-terminating-in-use
  [sync-wave-deadlock]=sync-wave-deadlock
  [cronjob-never-run]=pvc-waiting-for-consumer
)
dir="${LAB_DIR:-/tmp/labctl-record-lab}"
out=labctl/tests/fixtures/lab
mkdir -p "$out"
cargo build -q -p labctl --bin labctl
labctl=./target/debug/labctl
export KUBECONFIG="$dir/kubeconfig"
trap 'cargo lab --dir "$dir" down >/dev/null 2>&1 || true' EXIT

record() { # name expected-id ("" = no error or warning)
  local name=$1 want=$2 deadline=$((SECONDS + 240))
  while :; do
    local json
    json=$("$labctl" --config "$dir/labctl.toml" diagnose pvc -o json 2>/dev/null || true)
    if [[ -z $want ]]; then
      grep -q '"error": 0' <<<"$json" && grep -q '"warning": 0' <<<"$json" && break
    else
      grep -q "\"id\": \"$want\"" <<<"$json" && break
    fi
    if ((SECONDS > deadline)); then
      echo "record: $name: no ${want:-healthy verdict} after 240 s" >&2
      return 1
    fi
    sleep 5
  done
  "$labctl" --config "$dir/labctl.toml" snapshot -f "$out/$name.json"
}

scenarios=("$@")
if ((${#scenarios[@]} == 0)); then
  scenarios=(healthy "${!EXPECT[@]}")
fi
for name in "${scenarios[@]}"; do
  echo "record: $name" >&2
  if [[ $name == healthy ]]; then
    cargo lab --dir "$dir" up --keep --no-checks >/dev/null 2>&1
    record healthy ""
  else
    cargo lab --dir "$dir" drill "$name" >/dev/null 2>&1
    record "$name" "${EXPECT[$name]}"
  fi
  cargo lab --dir "$dir" down >/dev/null 2>&1
done

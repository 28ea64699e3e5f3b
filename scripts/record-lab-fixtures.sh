#!/usr/bin/env bash
# Records labctl's offline fixtures from the real local lab: the lab's end-to-end test brings
# the lab up, records the healthy state, then applies each scenario, waits until labctl reports
# the scenario's finding (testbed/src/scenarios.rs says which), and writes `labctl snapshot`
# to labctl/tests/fixtures/lab/<scenario>.json. labctl/tests/integration/diagnose.rs checks every
# file.
#
# Usage: scripts/record-lab-fixtures.sh [SCENARIO,...]   (the first run builds the lab: testbed/build)
set -euo pipefail
cd "$(dirname "$0")/.."
LAB_RECORD=1 LAB_SCENARIOS="${1:-}" cargo test -p testbed --test lab -- --ignored --nocapture

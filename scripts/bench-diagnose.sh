#!/usr/bin/env bash
# Benchmark of `labctl diagnose` (every diagnosis) from a snapshot file (not a test).
# Prints, per size, the objects in the snapshot, its size, and the time to parse and diagnose it
# (best of 3, release build), then times the real binary end to end on the 5k snapshot.
# Usage: scripts/bench-diagnose.sh [SIZES...]   (default: 1000 5000 20000)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p labctl --bin labctl --example bench_diagnose
# Wherever cargo builds (CARGO_TARGET_DIR, build.target-dir), as cargo itself says.
target=$(cargo metadata --no-deps --format-version 1 | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
"$target/release/examples/bench_diagnose" "$@"
snap="${TMPDIR:-/tmp}/labctl-bench/snapshot-5000.json"
if [[ -f "$snap" ]]; then
  start=$(date +%s%N)
  "$target/release/labctl" diagnose -n bench --snapshot "$snap" -o json >/dev/null || true
  end=$(date +%s%N)
  echo "labctl diagnose --snapshot (5000 claims, whole process): $(( (end - start) / 1000000 )) ms"
  # Peak memory of the same run, when GNU time is installed.
  if [[ -x /usr/bin/time ]]; then
    /usr/bin/time -f "labctl diagnose --snapshot (5000 claims): peak RSS %M KiB" \
      "$target/release/labctl" diagnose -n bench --snapshot "$snap" -o json >/dev/null || true
  fi
fi

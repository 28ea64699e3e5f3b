#!/usr/bin/env bash
# Benchmark the inference server against a minimal hyper server in the same run.
#
#   scripts/bench-inference.sh            # 2 threads, 64 connections, 10 s per run
#   DURATION=5s CONNECTIONS=32 scripts/bench-inference.sh
#
# Phase 1: wrk against the baseline (examples/baseline.rs, a constant body of the same size as
# a real answer) and against GET /predict?x=4.2: req/s, p50, p99, ratio, peak RSS.
# Phase 2: reload under load: while wrk runs, the real trainer publishes 50 new models and
# inference (reload interval 100ms) swaps them in; every non-200 answer is counted.
# Goals (issue 2): ratio >= 0.85, p99 <= 2 ms, RSS <= 30 MB, 0 non-200 during reloads.
# Everything listens on 127.0.0.1 on free ports and is stopped by pid on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
PUBLISHES=${PUBLISHES:-50}

command -v wrk >/dev/null || { echo "bench: wrk is not installed (apt-get install wrk)" >&2; exit 2; }
echo "bench: building release binaries..." >&2
cargo build --release -q -p inference -p trainer --bins --example baseline

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

# start NAME CMD...: runs CMD in the background, waits for its `listening addr=` log line and
# sets ADDR and PID.
start() {
  local name=$1; shift
  "$@" 2>"$work/$name.log" &
  PID=$!
  pids+=("$PID")
  for _ in $(seq 100); do
    ADDR=$(grep -o 'addr=127\.0\.0\.1:[0-9]*' "$work/$name.log" | head -1 | cut -d= -f2 || true)
    [ -n "$ADDR" ] && return 0
    sleep 0.1
  done
  echo "bench: $name did not start; its log:" >&2; cat "$work/$name.log" >&2; exit 2
}

# to_ms VALUE: wrk prints 812.00us, 1.20ms or 1.03s.
to_ms() {
  awk -v v="$1" 'BEGIN {
    n = v + 0
    if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n *= 1; else if (v ~ /s$/) n *= 1000
    printf "%.3f", n }'
}

# bench NAME URL: one wrk run; sets RPS, P50, P99, NON200.
bench() {
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$2" >"$work/$1.wrk"
  RPS=$(awk '/^Requests\/sec:/ {print $2}' "$work/$1.wrk")
  P50=$(to_ms "$(awk '$1 == "50%" {print $2}' "$work/$1.wrk")")
  P99=$(to_ms "$(awk '$1 == "99%" {print $2}' "$work/$1.wrk")")
  NON200=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$work/$1.wrk")
  NON200=${NON200:-0}
  local errors
  errors=$(awk '/Socket errors:/ {gsub(",", ""); print $4 + $6 + $8 + $10}' "$work/$1.wrk")
  NON200=$((NON200 + ${errors:-0}))
}

target/release/trainer --out "$work/models" --seed 1 >/dev/null
start inference target/release/inference --model-dir "$work/models" --listen 127.0.0.1:0
INFER_ADDR=$ADDR INFER_PID=$PID
body=$(curl -fsS "http://$INFER_ADDR/predict?x=4.2")
start baseline target/release/examples/baseline 127.0.0.1:0 "$body"
BASE_ADDR=$ADDR

echo "bench: baseline (${#body}-byte constant body), $THREADS threads, $CONNECTIONS connections, $DURATION" >&2
bench baseline "http://$BASE_ADDR/predict?x=4.2"
B_RPS=$RPS B_P50=$P50 B_P99=$P99
echo "bench: inference GET /predict?x=4.2" >&2
bench inference "http://$INFER_ADDR/predict?x=4.2"
I_RPS=$RPS I_P50=$P50 I_P99=$P99 I_NON200=$NON200
RSS_KB=$(awk '/^VmHWM:/ {print $2}' "/proc/$INFER_PID/status")

echo "bench: reload under load ($PUBLISHES publishes while wrk runs)" >&2
start reload target/release/inference --model-dir "$work/models" --listen 127.0.0.1:0 --reload-interval 100ms
RELOAD_ADDR=$ADDR
bench reload "http://$RELOAD_ADDR/predict?x=4.2" &
wrk_pid=$!
sleep 0.5
for i in $(seq "$PUBLISHES"); do
  target/release/trainer --out "$work/models" --seed "$((i + 1))" --force >/dev/null
  sleep 0.15
done
wait "$wrk_pid"
# bench ran in a subshell: read its figures from the wrk output.
R_NON200=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$work/reload.wrk"); R_NON200=${R_NON200:-0}
R_ERR=$(awk '/Socket errors:/ {gsub(",", ""); print $4 + $6 + $8 + $10}' "$work/reload.wrk"); R_ERR=${R_ERR:-0}
R_RPS=$(awk '/^Requests\/sec:/ {print $2}' "$work/reload.wrk")
RELOADS=$(curl -fsS "http://$RELOAD_ADDR/metrics" | awk '$1 == "model_reloads_total" {print $2}')
FAILS=$(curl -fsS "http://$RELOAD_ADDR/metrics" | awk '$1 == "model_reload_failures_total" {print $2}')

RATIO=$(awk -v a="$I_RPS" -v b="$B_RPS" 'BEGIN {printf "%.2f", a / b}')
RSS_MB=$(awk -v k="$RSS_KB" 'BEGIN {printf "%.1f", k / 1024}')
cat <<REPORT
| server | req/s | p50 ms | p99 ms |
|---|---:|---:|---:|
| baseline (hyper, constant body) | $B_RPS | $B_P50 | $B_P99 |
| inference GET /predict | $I_RPS | $I_P50 | $I_P99 |

ratio inference/baseline: $RATIO (goal >= 0.85)
inference p99: $I_P99 ms (goal <= 2 ms); non-200 answers: $I_NON200
inference peak RSS (VmHWM): $RSS_MB MB (goal <= 30 MB)
reload under load: $PUBLISHES publishes, $RELOADS reloads, $FAILS reload failures, $R_NON200 non-200 answers, $R_ERR socket errors, $R_RPS req/s (goal: 0 non-200)
REPORT

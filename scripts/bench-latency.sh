#!/usr/bin/env bash
# Loopback TCP latency: fabricbench against sockperf in the same run.
#
#   scripts/bench-latency.sh [SECONDS_PER_RUN]      (default 5)
#
# Runs, on 127.0.0.1 only, each bounded in time:
#   sockperf ping-pong --tcp -m 14          (sockperf's default: blocking sockets + epoll)
#   fabricbench latency -b 8                (default: spins briefly, then sleeps in poll(2))
#   sockperf ping-pong --tcp -m 14 --nonblocked   (sockperf spinning on non-blocking sockets)
#   fabricbench latency -b 8 --busy-poll    (fabricbench spinning)
# and prints each p50 and p99.9 of one-way latency (both tools report round trip / 2) and
# the ratios. Target (issue: foundation): fabricbench p50 <= 0.75 x sockperf p50, and
# fabricbench p99.9/p50 no worse than sockperf's.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-5}
port=$((30000 + RANDOM % 20000))

if ! command -v sockperf >/dev/null; then
    echo "# installing sockperf (Debian package)" >&2
    if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq sockperf >/dev/null
    else sudo apt-get update -qq && sudo apt-get install -y -qq sockperf >/dev/null; fi
fi
scripts/install-deps.sh >/dev/null
# FABRICBENCH_BINARY: measure that build instead (scripts/bench-ab.sh compares two commits).
fb=${FABRICBENCH_BINARY:-.build/release/fabricbench}
[ -n "${FABRICBENCH_BINARY:-}" ] || swift build -c release --product fabricbench >&2
work=$(mktemp -d)
server_pid=
cleanup() { [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

# sockperf prints "---> percentile 50.000 =   13.014"
sockperf_run() {  # extra args...
    timeout 20 sockperf server --tcp -i 127.0.0.1 -p "$port" "$@" >/dev/null 2>&1 &
    server_pid=$!
    sleep 1
    timeout $((seconds + 20)) sockperf ping-pong --tcp -i 127.0.0.1 -p "$port" -m 14 -t "$seconds" "$@" > "$work/sockperf.txt" 2>&1
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=
    port=$((port + 1))
    p50=$(awk '/percentile 50.000/ {print $NF}' "$work/sockperf.txt")
    p999=$(awk '/percentile 99.900/ {print $NF}' "$work/sockperf.txt")
    [ -n "$p50" ] || { cat "$work/sockperf.txt" >&2; echo "sockperf gave no result" >&2; exit 1; }
    echo "$p50 $p999"
}

fabricbench_run() {  # extra args...
    timeout $((seconds + 60)) "$fb" latency --np 2 -b 8 -D "$seconds" --json "$work/fb.json" "$@" >/dev/null
    python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"][0]["one_way_us"]; print(r["p50"], r["p999"])' "$work/fb.json"
}

read -r sp_p50 sp_p999 < <(sockperf_run)
read -r fb_p50 fb_p999 < <(fabricbench_run)
read -r spn_p50 spn_p999 < <(sockperf_run --nonblocked)
read -r fbb_p50 fbb_p999 < <(fabricbench_run --busy-poll)

python3 - "$sp_p50" "$sp_p999" "$fb_p50" "$fb_p999" "$spn_p50" "$spn_p999" "$fbb_p50" "$fbb_p999" "$seconds" <<'PY'
import sys
sp50, sp999, fb50, fb999, spn50, spn999, fbb50, fbb999 = map(float, sys.argv[1:9])
print(f"# loopback TCP one-way latency (round trip / 2), {sys.argv[9]} s per run, usec; sockperf 14 B, fabricbench 8 B")
print(f"{'run':44} {'p50':>8} {'p99.9':>8} {'p99.9/p50':>10}")
for name, a, b in [("sockperf ping-pong (default)", sp50, sp999), ("fabricbench latency (default)", fb50, fb999),
                   ("sockperf ping-pong --nonblocked", spn50, spn999), ("fabricbench latency --busy-poll", fbb50, fbb999)]:
    print(f"{name:44} {a:8.2f} {b:8.2f} {b / a:10.2f}")
ratio = fb50 / sp50
print(f"p50 ratio fabricbench/sockperf (defaults): {ratio:.2f} (target <= 0.75: {'met' if ratio <= 0.75 else 'MISSED'})")
print(f"tail p99.9/p50 (defaults): fabricbench {fb999 / fb50:.2f} vs sockperf {sp999 / sp50:.2f} "
      f"({'met' if fb999 / fb50 <= sp999 / sp50 else 'MISSED'})")
print(f"p50 ratio both spinning (--busy-poll vs --nonblocked): {fbb50 / spn50:.2f}; "
      f"tail {fbb999 / fbb50:.2f} vs {spn999 / spn50:.2f}")
PY

#!/usr/bin/env bash
# The tail of an 8-byte ping-pong, two fabricbench builds (or one build with two sets of
# flags) against the C ping-pong floor, interleaved: floor, A, B, ROUNDS times, so the VM's
# slow and fast states fall on all three alike. Per round and as medians it prints p50, p99,
# p99.9, p99.99 (one way, µs) and the rank processes' voluntary context switches (a rank that
# never sleeps has only the ~110 of start-up and exit); last, in how many rounds B's p99.9
# and p99.99 were below A's.
#
#   scripts/bench-tail.sh BINARY_A BINARY_B [ROUNDS] [ITERATIONS]     (defaults 8, 200000)
#   BENCH_TAIL_FLAGS_A / BENCH_TAIL_FLAGS_B: extra flags for A's or B's runs (--busy-poll)
#   BENCH_TAIL_TRANSPORT: tcp (default) or shm; the floor is TCP either way
#
# FLOOR_DIR (default ../shared/reference) holds tcp_floor.c. Each run has a 300 s timeout; a
# run that fails is named and its round left out of the summary, the other rounds kept.
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 BINARY_A BINARY_B [ROUNDS] [ITERATIONS]" >&2; exit 2; }
for bin in "$1" "$2"; do [ -x "$bin" ] && [ -f "$bin" ] || { echo "$0: $bin is not an executable fabricbench (build one: swift build -c release)" >&2; exit 2; }; done
a=$(realpath "$1") b=$(realpath "$2") rounds=${3:-8} iterations=${4:-200000}
cd "$(dirname "$0")/.."
[[ $rounds =~ ^[1-9][0-9]?$ ]] || { echo "$0: ROUNDS must be 1 to 99 (got '$rounds')" >&2; exit 2; }
[[ $iterations =~ ^[1-9][0-9]{3,6}$ ]] || { echo "$0: ITERATIONS must be 1000 to 9999999 (got '$iterations')" >&2; exit 2; }
transport=${BENCH_TAIL_TRANSPORT:-tcp}
floor_dir=${FLOOR_DIR:-../shared/reference}
[ -f "$floor_dir/tcp_floor.c" ] || { echo "$0: no tcp_floor.c in $floor_dir (set FLOOR_DIR)" >&2; exit 2; }
command -v /usr/bin/time >/dev/null || { echo "$0: /usr/bin/time is missing (apt-get install time)" >&2; exit 2; }
work=$(mktemp -d /tmp/fabricbench-tail.XXXXXX)
trap 'rm -rf "$work"' EXIT
gcc -O2 -o "$work/tcp_floor" "$floor_dir/tcp_floor.c"

for round in $(seq 1 "$rounds"); do
    timeout 300 "$work/tcp_floor" 8 "$iterations" > "$work/floor.$round.json" \
        || { echo "round $round: the C floor failed" >&2; rm -f "$work/floor.$round.json"; }
    for side in a b; do
        bin=$([ $side = a ] && echo "$a" || echo "$b")
        flags=$([ $side = a ] && echo "${BENCH_TAIL_FLAGS_A:-}" || echo "${BENCH_TAIL_FLAGS_B:-}")
        # shellcheck disable=SC2086 # the flags are words
        /usr/bin/time -f "%w" -o "$work/$side.$round.switches" timeout 300 "$bin" latency --np 2 \
            --transport "$transport" -b 8 -e 8 -n "$iterations" $flags --json "$work/$side.$round.json" >/dev/null \
            || { echo "round $round: $side ($bin $flags) failed" >&2; rm -f "$work/$side.$round.json"; }
    done
    echo "round $round/$rounds done" >&2
done

python3 - "$work" "$rounds" <<'EOF'
import json, statistics, sys
import os
work, rounds = sys.argv[1], int(sys.argv[2])
keys = ["p50", "p99", "p999", "p9999"]
rows = {"floor": [], "A": [], "B": []}
complete = [r for r in range(1, rounds + 1)
            if all(os.path.exists(f"{work}/{name}.{r}.json") for name in ("floor", "a", "b"))]
if not complete: sys.exit("no round completed: every round had a failed run (see above)")
for r in complete:
    f = json.load(open(f"{work}/floor.{r}.json"))
    rows["floor"].append({"p50": f["p50_us"], "p99": f["p99_us"], "p999": f["p999_us"], "p9999": None, "switches": None})
    for side, name in (("a", "A"), ("b", "B")):
        d = json.load(open(f"{work}/{side}.{r}.json"))["results"][0]["one_way_us"]
        row = {k: d[k] for k in keys}
        row["switches"] = int(open(f"{work}/{side}.{r}.switches").read().split()[-1])
        rows[name].append(row)
def cell(v): return "-" if v is None else f"{v:.2f}"
print("round  tool   p50      p99      p99.9    p99.99   voluntary switches")
for i, r in enumerate(complete):
    for name in rows:
        x = rows[name][i]
        print(f"{r:<6} {name:<6} " + " ".join(f"{cell(x[k]):<8}" for k in keys) + f" {x['switches'] if x['switches'] is not None else '-'}")
print(f"\nmedians over {len(complete)} complete rounds of {rounds}")
for name, xs in rows.items():
    med = {k: statistics.median(x[k] for x in xs) if xs[0][k] is not None else None for k in keys + ["switches"]}
    print(f"       {name:<6} " + " ".join(f"{cell(med[k]):<8}" for k in keys) + f" {cell(med['switches'])}")
for k in ("p999", "p9999"):
    wins = sum(b[k] < a[k] for a, b in zip(rows["A"], rows["B"]))
    print(f"B below A at {k}: {wins} of {len(complete)} rounds")
EOF

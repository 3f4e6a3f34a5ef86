#!/usr/bin/env bash
# fabricbench against the hand-written C floors (../shared/reference/) and Open MPI, in one run.
#
#   scripts/bench-floor.sh [ROUNDS]      (default 3)
#
# Each round runs, one after the other on 127.0.0.1 (so a noisy spell of a shared VM hits
# every tool of that round alike):
#   - the C all-reduce floor (tcp_allreduce_floor: the fastest of its algorithms, I/O modes and
#     chunk sizes per size) at 8 B, 2 MiB, 64 MiB, 256 MiB with 2 ranks, and 256 MiB with 4;
#   - Open MPI (ob1, tcp) at the same sizes, 2 ranks (scripts/mpi_allreduce_timer.c);
#   - fabricbench allreduce --algo auto, default flags, the same sizes and rank counts;
#   - the C ping-pong floor (tcp_floor) and fabricbench latency, 8 B, ITERATIONS round trips.
# All-reduce time is the max over ranks of the mean (what all three report); latency is one
# way (round trip / 2). Prints per figure the median over rounds, the ratio to its reference
# (and, as "best", the best round's over the reference's best round) and the issue's target (issue 13: performance round 2):
#   all-reduce 8 B <= 1.10x floor; 2 MiB <= 1.05x the faster of floor and Open MPI;
#   64 and 256 MiB <= 1.05x floor; 256 MiB with 4 ranks <= 1.10x floor;
#   latency p50 and p99.9 <= 1.10x floor.
# Under the table, every figure's rounds in order: at 8 B and 256 KiB to 4 MiB a process run
# of any of the tools lands in a fast or a slow state of this VM, up to 2x apart, so a
# ratio of medians over a few rounds says which states each tool drew as much as anything.
# FABRICBENCH_BINARY measures that build instead; FLOOR_DIR points at the reference sources
# (default ../shared/reference); BENCH_LATENCY_ITERATIONS (default 200000).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
[[ $rounds =~ ^[1-9][0-9]*$ ]] || { echo "usage: $0 [ROUNDS]" >&2; exit 2; }
floor_dir=${FLOOR_DIR:-../shared/reference}
iterations=${BENCH_LATENCY_ITERATIONS:-200000}
[ -f "$floor_dir/tcp_floor.c" ] && [ -f "$floor_dir/tcp_allreduce_floor.c" ] \
    || { echo "$0: no C floors in $floor_dir (set FLOOR_DIR to the folder with tcp_floor.c and tcp_allreduce_floor.c)" >&2; exit 2; }
source scripts/openmpi.sh
scripts/install-deps.sh >/dev/null
[ -n "${FABRICBENCH_BINARY:-}" ] || swift build -c release --product fabricbench >&2
fb=${FABRICBENCH_BINARY:-.build/release/fabricbench}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
gcc -O2 -o "$work/tcp_floor" "$floor_dir/tcp_floor.c"
gcc -O3 -march=native -pthread -o "$work/allreduce_floor" "$floor_dir/tcp_allreduce_floor.c"
mpicc -O2 -o "$work/timer" scripts/mpi_allreduce_timer.c

# fabricbench at one size: iterations so that a run is about a second or two.
fb_allreduce() {  # ranks bytes iterations out.json
    timeout 900 "$fb" allreduce --np "$1" -b "$2" -e "$2" -n "$3" -c 0 --outofplace --json "$4" >/dev/null
}
for round in $(seq 1 "$rounds"); do
    echo "# round $round/$rounds" >&2
    timeout 900 "$work/allreduce_floor" -n 2 -s 8,2m,64m,256m > "$work/floor2.$round.jsonl" 2>/dev/null
    timeout 900 "$work/allreduce_floor" -n 4 -s 256m > "$work/floor4.$round.jsonl" 2>/dev/null
    for size in 8 2097152 67108864 268435456; do
        timeout 600 "${mpi[@]}" "$work/timer" "$size" "$size" 2 | grep -v '^#' >> "$work/mpi.$round.txt"
    done
    fb_allreduce 2 8 20000 "$work/fb2-8.$round.json"
    fb_allreduce 2 2M 500 "$work/fb2-2097152.$round.json"
    fb_allreduce 2 64M 20 "$work/fb2-67108864.$round.json"
    fb_allreduce 2 256M 6 "$work/fb2-268435456.$round.json"
    fb_allreduce 4 256M 4 "$work/fb4-268435456.$round.json"
    timeout 300 "$work/tcp_floor" 8 "$iterations" > "$work/lat-floor.$round.json"
    timeout 300 "$fb" latency --np 2 -b 8 -n "$iterations" --json "$work/lat-fb.$round.json" >/dev/null
done
# One checked pass, so the times above come from a correct implementation.
timeout 300 "$fb" allreduce --np 2 -b 8 -e 64M -f 8 -n 2 -w 1 -c 1 >/dev/null || { echo "fabricbench's check failed" >&2; exit 1; }

python3 - "$work" "$rounds" <<'PY'
import json, statistics, sys
work, rounds = sys.argv[1], int(sys.argv[2])
med = statistics.median
def collect(fn):
    return [fn(r) for r in range(1, rounds + 1)]
def floor_us(r, ranks, b):
    for line in open(f"{work}/floor{ranks}.{r}.jsonl"):
        d = json.loads(line)
        if d.get("bytes") == b:
            assert d.get("check") == "ok", f"the C floor's check failed at {b} B"
            return d["avg_us"]
    raise SystemExit(f"the C floor printed no {b}-byte line in round {r}")
def mpi_us(r, b):
    for line in open(f"{work}/mpi.{r}.txt"):
        f = line.split()
        if f and int(f[0]) == b: return float(f[1])
    raise SystemExit(f"Open MPI printed no {b}-byte line in round {r}")
def fb_run(r, ranks, b):
    d = json.load(open(f"{work}/fb{ranks}-{b}.{r}.json"))["results"][0]
    return max(x["mean_us"] for x in d["ranks"]), d.get("algo", "?")
rows, ok = [], True
per_round = []  # printed after the table: which state each round drew
def fmt(xs): return " ".join(f"{x:.1f}" for x in xs)
print(f"# 127.0.0.1, float32 sum, out of place; median of {rounds} rounds; all-reduce time = max over ranks of the mean (us)")
print(f"{'figure':<28} {'C floor':>10} {'Open MPI':>10} {'fabricbench':>12} {'algo':>6} {'ratio':>6} {'best':>6}  target (on the ratio of medians)")
for ranks, b, limit, ref in [(2, 8, 1.10, "floor"), (2, 2 << 20, 1.05, "best"), (2, 64 << 20, 1.05, "floor"),
                             (2, 256 << 20, 1.05, "floor"), (4, 256 << 20, 1.10, "floor")]:
    floors = collect(lambda r: floor_us(r, ranks, b))
    mpis = collect(lambda r: mpi_us(r, b)) if ranks == 2 else None
    fl, mp = med(floors), (med(mpis) if mpis else None)
    runs = collect(lambda r: fb_run(r, ranks, b))
    fbt = med(t for t, _ in runs)
    algos = "/".join(sorted(set(a for _, a in runs)))
    reference = min(fl, mp) if ref == "best" and mp else fl
    ratio = fbt / reference
    # Best of rounds over best of rounds: each process run of either tool lands in a faster or
    # slower state of this VM (up to 2x apart at 8 B and 256 KiB to 4 MiB, docs/PERFORMANCE.md),
    # and the floor re-measures its sweep's winner right after the sweep, in the state that won.
    best = min(t for t, _ in runs) / (min(min(floors), min(mpis)) if ref == "best" and mpis else min(floors))
    met = ratio <= limit
    ok &= met
    name = f"all-reduce {b} B, {ranks} ranks"
    refname = "the faster of floor and MPI" if ref == "best" else "C floor"
    print(f"{name:<28} {fl:>10.2f} {mp if mp is not None else float('nan'):>10.2f} {fbt:>12.2f} {algos:>6} {ratio:>6.2f} {best:>6.2f}  <= {limit:.2f}x {refname}: {'met' if met else 'MISSED'}")
    per_round.append(f"{name}: floor {fmt(floors)}" + (f" | MPI {fmt(mpis)}" if mpis else "") + f" | fabricbench {fmt(t for t, _ in runs)}")
for key, label in [("p50", "latency 8 B one-way p50"), ("p999", "latency 8 B one-way p99.9")]:
    floors = collect(lambda r: json.load(open(f"{work}/lat-floor.{r}.json"))[f"{key}_us"])
    fbs = collect(lambda r: json.load(open(f"{work}/lat-fb.{r}.json"))["results"][0]["one_way_us"][key])
    fl, fbt = med(floors), med(fbs)
    ratio, best = fbt / fl, min(fbs) / min(floors)
    met = ratio <= 1.10
    ok &= met
    print(f"{label:<28} {fl:>10.2f} {'':>10} {fbt:>12.2f} {'':>6} {ratio:>6.2f} {best:>6.2f}  <= 1.10x C floor: {'met' if met else 'MISSED'}")
    per_round.append(f"{label}: floor {fmt(floors)} | fabricbench {fmt(fbs)}")
print("all targets met" if ok else "some targets MISSED")
print("# each round, in order (us)")
for line in per_round: print(line)
PY

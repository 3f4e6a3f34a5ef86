#!/usr/bin/env bash
# All-reduce over loopback TCP, 2 ranks: fabricbench against Open MPI in the same run.
#
#   scripts/bench-allreduce.sh [ROUNDS]      (default 3)
#
# Installs Debian's openmpi-bin/libopenmpi-dev if missing, builds scripts/mpi_allreduce_timer.c
# and runs it with `mpirun --mca pml ob1 --mca btl tcp,self` (loopback only), alternating with
# `fabricbench allreduce --algo auto`, sizes 8 B to 256 MiB (float32 sum). Each tool's time per
# size is the median over ROUNDS of its max-over-ranks mean time (the MPI timer's definition;
# fabricbench's JSON carries each rank's mean). Targets (issue: all-reduce): 8 B time <= 0.8x
# Open MPI's; busbw >= 1.05x at 1-8 MiB and >= 1.3x at 16-256 MiB.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
source scripts/openmpi.sh
scripts/install-deps.sh >/dev/null
# FABRICBENCH_BINARY: measure that build instead (scripts/bench-ab.sh compares two commits).
[ -n "${FABRICBENCH_BINARY:-}" ] || swift build -c release --product fabricbench >&2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mpicc -O2 -o "$work/timer" scripts/mpi_allreduce_timer.c
fb=${FABRICBENCH_BINARY:-.build/release/fabricbench}

for round in $(seq 1 "$rounds"); do
    echo "# round $round/$rounds" >&2
    timeout 600 "${mpi[@]}" "$work/timer" 8 268435456 2 > "$work/mpi.$round.txt"
    timeout 600 "$fb" allreduce --np 2 -b 8 -e 1M -f 2 -n 1000 -w 50 -c 0 --outofplace --json "$work/fb-small.$round.json" >/dev/null
    timeout 900 "$fb" allreduce --np 2 -b 2M -e 256M -f 2 -n 8 -w 2 -c 0 --outofplace --json "$work/fb-large.$round.json" >/dev/null
done
# One checked pass, so the numbers above come from a correct implementation.
timeout 300 "$fb" allreduce --np 2 -b 8 -e 64M -f 8 -n 2 -w 1 -c 1 >/dev/null || { echo "fabricbench's check failed" >&2; exit 1; }

python3 - "$work" "$rounds" <<'PY'
import json, statistics, sys
work, rounds = sys.argv[1], int(sys.argv[2])
mpi, fb, algo = {}, {}, {}
for r in range(1, rounds + 1):
    for line in open(f"{work}/mpi.{r}.txt"):
        if line.startswith("#"): continue
        b, t, _, _ = line.split()
        mpi.setdefault(int(b), []).append(float(t))
    for part in ("small", "large"):
        for e in json.load(open(f"{work}/fb-{part}.{r}.json"))["results"]:
            fb.setdefault(e["bytes"], []).append(max(x["mean_us"] for x in e["ranks"]))
            algo[e["bytes"]] = e["algo"]
def busbw(b, t): return b / (t * 1e-6) / 1e9  # x 2(n-1)/n = 1 for 2 ranks
print(f"# all-reduce, 2 ranks, loopback TCP, float32 sum; median of {rounds} rounds; time = max over ranks of the mean (us)")
print(f"{'bytes':>10} {'algo':>5} {'mpi_us':>10} {'fb_us':>10} {'time_ratio':>10} {'mpi_busbw':>9} {'fb_busbw':>9} {'bw_ratio':>8}  target")
ok = True
for b in sorted(set(mpi) & set(fb)):
    m, f = statistics.median(mpi[b]), statistics.median(fb[b])
    tr, br = f / m, m / f
    target, met = "", None
    if b == 8: target, met = "time <= 0.80x", tr <= 0.8
    elif (1 << 20) <= b <= (8 << 20): target, met = "busbw >= 1.05x", br >= 1.05
    elif (16 << 20) <= b <= (256 << 20): target, met = "busbw >= 1.30x", br >= 1.3
    if met is False: ok = False
    flag = "" if met is None else ("met" if met else "MISSED")
    print(f"{b:>10} {algo[b]:>5} {m:>10.2f} {f:>10.2f} {tr:>10.2f} {busbw(b, m):>9.3f} {busbw(b, f):>9.3f} {br:>8.2f}  {target} {flag}")
print("all targets met" if ok else "some targets MISSED")
PY

#!/usr/bin/env bash
# All-reduce over loopback TCP, 2 ranks, of several fabricbench builds or flag sets,
# alternating round by round so a shared VM's drift hits every variant alike; prints per size
# the median over rounds of each variant's max-over-ranks mean time, and its ratio to the first.
#
#   scripts/bench-variants.sh ROUNDS "LABEL=BINARY [FLAGS...]" ...
#   e.g. scripts/bench-variants.sh 5 "base=/tmp/fb-base" "new=/tmp/fb-new" "unpinned=/tmp/fb-new --cpus none"
#
# CASES (default "8:rd 2M:ring 2M:tree 64M:ring") says which sizes run with which algorithm,
# forced, so the auto probe's own noise stays out. Build the binaries with
# `swift build -c release --product fabricbench` at each commit (scripts/bench-ab.sh does it
# for two revisions, with the full Open MPI sweep).
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 ROUNDS \"LABEL=BINARY [FLAGS...]\" ..." >&2; exit 2; }
rounds=$1; shift
[[ $rounds =~ ^[1-9][0-9]?$ ]] || { echo "$0: ROUNDS must be 1 to 99 (got '$rounds')" >&2; exit 2; }
cases=${CASES:-8:rd 2M:ring 2M:tree 64M:ring}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
iterations() { case $1 in *M) echo 20;; *K) echo 200;; *) echo 2000;; esac; }
for round in $(seq 1 "$rounds"); do
    echo "# round $round/$rounds" >&2
    for case in $cases; do
        size=${case%%:*}; algo=${case#*:}
        for i in $(seq 1 $#); do
            # The binary, then its flags: split on purpose.
            variant=${!i}; label=${variant%%=*}; command=(${variant#*=})
            timeout 900 "${command[0]}" allreduce --np 2 -b "$size" -e "$size" -n "$(iterations "$size")" -w 3 -c 0 --outofplace \
                --algo "$algo" --json "$work/$label.$size.$algo.$round.json" "${command[@]:1}" >/dev/null 2>&1 \
                || echo "# $label $size $algo round $round failed" >&2
        done
    done
done
python3 - "$work" "$@" <<'PY'
import glob, json, os, statistics, sys
work, labels = sys.argv[1], [v.split("=", 1)[0] for v in sys.argv[2:]]
times = {}
for path in glob.glob(f"{work}/*.json"):
    label, size, algo, _ = os.path.basename(path)[:-5].rsplit(".", 3)
    for e in json.load(open(path))["results"]:
        times.setdefault((e["bytes"], algo, label), []).append(max(x["mean_us"] for x in e["ranks"]))
keys = sorted({(b, a) for b, a, _ in times})
print("# all-reduce, 2 ranks, loopback TCP, float32 sum, out of place; median over rounds of the max-over-ranks mean (us)")
print(f"{'bytes':>10} {'algo':>5} " + " ".join(f"{l:>12}" for l in labels) + " " + " ".join(f"{l + '/' + labels[0]:>16}" for l in labels[1:]) + "  rounds")
for b, a in keys:
    med = [statistics.median(times[(b, a, l)]) if (b, a, l) in times else float("nan") for l in labels]
    n = min(len(times.get((b, a, l), [])) for l in labels)
    print(f"{b:>10} {a:>5} " + " ".join(f"{m:>12.2f}" for m in med) + " " + " ".join(f"{m / med[0]:>16.3f}" for m in med[1:]) + f"  {n}")
PY

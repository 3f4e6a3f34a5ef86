#!/usr/bin/env bash
# The model against real runs on this machine (issue 14's validation): `calibrate` on 2 ranks
# with injected jitter (latency histograms with the delays in them; bandwidth with both ranks
# sending at once, undelayed), predict 4 and 8 ranks, measure the same all-reduce runs, and print
# predicted against measured mean and p99, and whether each measured figure lies inside the
# predicted [lower, upper].
#
#   scripts/validate-model.sh [ITERATIONS]     (default 100 all-reduce iterations a run)
#
# The injected delays (0.4-0.5 ms mean) are chosen to dominate this 2-core machine's own
# scheduling noise. Uses .build/release/fabricbench if present, else debug.
#
# The injected sleep holds the sending rank (it sleeps, then sends), so the table is predicted
# with `model --delay-at sender`; the last line gives the same counts predicted with
# `--delay-at network` (a network's delay, which holds only the message), for comparison.
#
# VALIDATE_CALIBRATE=each calibrates on N ranks for the prediction of N (4 and 8) instead of on
# 2: the profile then sees what N ranks on this machine's cores see (with fewer cores than
# ranks, every rank's copies and wake-ups share a core), which a 2-rank profile cannot.
set -euo pipefail
cd "$(dirname "$0")/.."
iterations=${1:-100}
[[ $iterations =~ ^[1-9][0-9]*$ ]] || { echo "$0: ITERATIONS must be a positive integer" >&2; exit 2; }
bin=.build/release/fabricbench
[ -x "$bin" ] || bin=.build/debug/fabricbench
[ -x "$bin" ] || { echo "$0: build fabricbench first (swift build -c release)" >&2; exit 2; }
work=$(mktemp -d /tmp/fabricbench-model.XXXXXX)
trap 'rm -rf "$work"' EXIT
calibrate=${VALIDATE_CALIBRATE:-2}
case $calibrate in
    2) calibrations=("2:4,8") ;;
    each) calibrations=("4:4" "8:8") ;;
    *) echo "$0: VALIDATE_CALIBRATE is 2 (the default) or each, not '$calibrate'" >&2; exit 2 ;;
esac
for dist in exp:500 pareto:250:2.5; do
    tag=${dist//:/-}
    for c in "${calibrations[@]}"; do
        on=${c%%:*} predict=${c#*:}
        "$bin" calibrate --np "$on" -b 8 -e 1M -f 8 -n 4000 -w 50 --bandwidth-bytes 1M --bandwidth-iterations 400 \
            --inject-jitter "$dist" --json "$work/cal-$tag-$on.json" >/dev/null
        for site in sender network; do
            "$bin" model "$work/cal-$tag-$on.json" --ranks "$predict" --algo ring,tree,rd -b 8 -e 64K -f 8192 --runs 200 --delay-at $site --json "$work/model-$site-$tag-$on-a.json" >/dev/null
            "$bin" model "$work/cal-$tag-$on.json" --ranks "$predict" --algo ring,tree,rd -b 1M --runs 200 --delay-at $site --json "$work/model-$site-$tag-$on-b.json" >/dev/null
        done
    done
    for n in 4 8; do
        for algo in ring tree rd; do
            for size in 8 64K 1M; do
                # --barrier: every call starts together, as the model's calls do (back to back,
                # a rank that finished early waits longer in the next call: docs/MODEL.md).
                "$bin" allreduce --np "$n" --algo "$algo" -b "$size" -e "$size" -n "$iterations" -w 5 -c 0 --barrier \
                    --inject-jitter "$dist" --json "$work/run-$tag-$n-$algo-$size.json" >/dev/null
            done
        done
    done
done
python3 - "$work" "$calibrate" <<'PY'
import json, sys, glob, os
work, calibrate = sys.argv[1], sys.argv[2]
profile_of = lambda n: 2 if calibrate == "2" else n  # the rank count the prediction of n was calibrated on
for tag in ["exp-500", "pareto-250-2.5"]:
    for on in sorted({profile_of(4), profile_of(8)}):
        p = json.load(open(f"{work}/cal-{tag}-{on}.json"))["results"][0]
        link = p["links"][0]
        s = link["latency"][0]["one_way_us"]
        gbps = next(r["gbps"] for r in p["reduction"] if r["dtype"] == "float")
        print(f"# {tag} calibration on {on} ranks ({link['level']}): {link['latency'][0]['bytes']} B one-way mean {s['mean']:.0f} us, p50 {s['p50']:.0f}, p99 {s['p99']:.0f}, max {s['max']:.0f}; "
              f"{link['per_rank_gbps']:.3f} GB/s a rank, all sending; float sum {gbps:.2f} GB/s")
def compare(site, show):
    inside, total, means, p99s = 0, 0, [], []
    if show:
        print(f"{'jitter':>14} {'N':>2} {'algo':>5} {'bytes':>8} | {'pred mean':>10} {'meas mean':>10} {'err':>6} | {'pred p99':>10} {'meas p99':>10} {'err':>6} | {'lower':>9} {'upper':>10} in")
    for tag in ["exp-500", "pareto-250-2.5"]:
        preds = []
        for on in sorted({profile_of(4), profile_of(8)}):
            for part in "ab":
                preds += json.load(open(f"{work}/model-{site}-{tag}-{on}-{part}.json"))["predictions"]
        for n in (4, 8):
            for algo in ("ring", "tree", "rd"):
                for size, b in (("8", 8), ("64K", 65536), ("1M", 1048576)):
                    m = json.load(open(f"{work}/run-{tag}-{n}-{algo}-{size}.json"))["results"][0]
                    p = next(x for x in preds if x["algo"] == algo and x["ranks"] == n and x["bytes"] == b)
                    em = (p["mean_us"] - m["time_us"]) / m["time_us"]
                    e99 = (p["p99_us"] - m["time_p99_us"]) / m["time_p99_us"]
                    ok = [p["lower_us"] <= v <= p["upper_us"] for v in (m["time_us"], m["time_p50_us"], m["time_p99_us"])]
                    inside += sum(ok); total += len(ok)
                    means.append(abs(em)); p99s.append(abs(e99))
                    if show:
                        print(f"{tag:>14} {n:>2} {algo:>5} {b:>8} | {p['mean_us']:>10.0f} {m['time_us']:>10.0f} {em:>+6.0%} | {p['p99_us']:>10.0f} {m['time_p99_us']:>10.0f} {e99:>+6.0%} | {p['lower_us']:>9.0f} {p['upper_us']:>10.0f} {'yes' if all(ok) else 'NO'}")
    print(f"# --delay-at {site}: mean within ±20%: {sum(e <= 0.2 for e in means)}/{len(means)}; p99 within ±30%: {sum(e <= 0.3 for e in p99s)}/{len(p99s)}; "
          f"measured figures inside [lower, upper]: {inside}/{total}")

compare("sender", True)
compare("network", False)
PY

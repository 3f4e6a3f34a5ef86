#!/usr/bin/env bash
# Soak: does fabricbench stay correct and flat when run again and again, and for long?
#
#   scripts/soak.sh [RUNS] [MINUTES]       (defaults 1000 and 10; CI runs 20 and 0.5)
#
# 1. RUNS back-to-back `allreduce --np 4 -c 1` runs (small sizes, every result checked):
#    counts failures and wrong results, and checks that no rank or /dev/shm file is left.
# 2. One all-reduce run of at least MINUTES (256 KiB, out of place, -c 1, 1.25x the iterations
#    a short calibration run says fill MINUTES, at most 1,000,000) with
#    rank 0's file descriptors and resident memory sampled every second: after a warm-up
#    of a fifth of the run, and before its last tenth (where rank 0 gathers every iteration's
#    time), both must stay within 1% of their first post-warm-up sample.
# Prints one summary line per part; exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-1000}
minutes=${2:-10}
[[ $runs =~ ^[0-9]+$ ]] && [[ $minutes =~ ^[0-9]+(\.[0-9]+)?$ ]] || { echo "usage: $0 [RUNS] [MINUTES]" >&2; exit 2; }
fb=${FABRICBENCH_BINARY:-.build/release/fabricbench}
[ -n "${FABRICBENCH_BINARY:-}" ] || swift build -c release --product fabricbench >&2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
status=0

# Part 1: many short runs.
failed=0 wrong=0 start=$SECONDS
for i in $(seq 1 "$runs"); do
    if ! timeout 120 "$fb" allreduce --np 4 -b 8 -e 64K -f 16 -n 3 -w 1 -c 1 --algo ring --json "$work/run.json" > "$work/run.txt" 2>&1; then
        failed=$((failed + 1))
        [ "$failed" -le 3 ] && { echo "# run $i failed:" >&2; tail -3 "$work/run.txt" >&2; }
    fi
    grep -q "Out of bounds values : 0 OK" "$work/run.txt" || wrong=$((wrong + 1))
done
left=$(pgrep -fc "$fb allreduce" || true)
shm_left=$(find /dev/shm -maxdepth 1 -name 'fabricbench*' 2>/dev/null | wc -l)
echo "soak runs: $runs runs in $((SECONDS - start)) s: $failed failed, $wrong without a clean check, $left ranks left over, $shm_left /dev/shm files left"
[ "$failed" -eq 0 ] && [ "$wrong" -eq 0 ] && [ "$left" -eq 0 ] && [ "$shm_left" -eq 0 ] || status=1

# Part 2: one long run, sampled.
# One placement (--outofplace): each placement ends with rank 0 gathering every rank's
# iteration times, which it keeps for the straggler report (4 ranks x 8 B an iteration, plus
# the allocator's high-water mark of decoding them). With both placements, that came in the
# middle of the sampled window, as one step in every rank (4 ranks, 120,000 iterations: rank 0
# +10-12 MiB, the others +3.3 MiB), then flat: data kept, not a leak. One placement puts it
# at the end, outside the window.
"$fb" allreduce --np 4 -b 256K -n 2000 -w 50 -c 0 --algo ring --outofplace --json "$work/cal.json" > /dev/null 2>&1
per=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["results"][0]["time_us"])' "$work/cal.json")
# 1.25x: the long run went faster than its short calibration (546 s of 10 min). 256 KiB, not
# 64 KiB: at 64 KiB -n's cap of 1,000,000 iterations ended the run after 525 s.
iterations=$(python3 -c "print(max(1000, min(1000000, int(1.25 * $minutes * 60e6 / max($per, 1)))))")
"$fb" allreduce --np 4 -b 256K -n "$iterations" -w 50 -c 1 --algo ring --outofplace --timeout 120 > "$work/long.txt" 2>&1 &
launcher=$!
sleep 1
rank0=$(pgrep -P "$launcher" | head -1)
: > "$work/samples"
while kill -0 "$launcher" 2>/dev/null; do
    if [ -n "$rank0" ] && [ -d "/proc/$rank0" ]; then
        fds=$(ls "/proc/$rank0/fd" 2>/dev/null | wc -l)
        rss=$(awk '/VmRSS/ {print $2}' "/proc/$rank0/status" 2>/dev/null || echo 0)
        echo "$SECONDS $fds $rss" >> "$work/samples"
    fi
    sleep 1
done
wait "$launcher" || { echo "# the long run failed:" >&2; tail -3 "$work/long.txt" >&2; status=1; }
grep -q "Out of bounds values : 0 OK" "$work/long.txt" || { echo "# the long run's check did not pass" >&2; status=1; }
python3 - "$work/samples" "$iterations" <<'PY' || status=1
import sys
rows = [tuple(map(int, l.split())) for l in open(sys.argv[1]) if len(l.split()) == 3 and int(l.split()[2]) > 0]
if len(rows) < 5:
    print(f"soak long run: only {len(rows)} samples"); sys.exit(1)
# After warm-up, and before the end of the run (rank 0 then gathers every iteration's time).
steady = rows[len(rows) // 5: len(rows) - max(1, len(rows) // 10)]
fd0, rss0 = steady[0][1], steady[0][2]
fd_dev = max(abs(r[1] - fd0) for r in steady) / fd0
rss_dev = max(abs(r[2] - rss0) for r in steady) / rss0
ok = fd_dev <= 0.01 and rss_dev <= 0.01
print(f"soak long run: {sys.argv[2]} iterations over {rows[-1][0] - rows[0][0]} s, {len(rows)} samples; rank 0 after warm-up: "
      f"fds {fd0} (max deviation {fd_dev:.2%}), RSS {rss0} KiB (max deviation {rss_dev:.2%}) {'flat' if ok else 'NOT FLAT'}")
# Where it moved: resident KiB at each tenth of the steady window (a step is a one-time
# allocation or an allocator's high-water mark; a slope is a leak).
print("soak long run: RSS KiB at each tenth after warm-up: " + " ".join(str(steady[min(len(steady) - 1, i * len(steady) // 10)][2]) for i in range(11)))
sys.exit(0 if ok else 1)
PY
exit $status

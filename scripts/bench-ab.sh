#!/usr/bin/env bash
# Loopback latency and all-reduce of two commits, in one run: scripts/bench-latency.sh and
# scripts/bench-allreduce.sh with A's binary, then B's, ROUNDS times alternating, so drift
# of a shared VM hits both alike. Each script also runs its reference (sockperf, Open MPI)
# every time, so each line carries a ratio against a reference measured beside it.
#
#   scripts/bench-ab.sh REV_A REV_B [ROUNDS]      (default 2; the all-reduce script itself
#                                                  takes the median of 3 rounds inside)
#
# Builds both revisions in release mode in throw-away worktrees. Output: the scripts' own
# tables, each headed with the side and round.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 2 ] || { echo "usage: $0 REV_A REV_B [ROUNDS]" >&2; exit 2; }
rounds=${3:-2}
[[ $rounds =~ ^[1-9]$ ]] || { echo "$0: ROUNDS must be 1 to 9 (got '$rounds')" >&2; exit 2; }
work=$(mktemp -d /tmp/fabricbench-ab.XXXXXX)
cleanup() { for side in a b; do git worktree remove --force "$work/$side" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
for side in a b; do
    rev=$([ $side = a ] && echo "$1" || echo "$2")
    git worktree add -q --detach "$work/$side" "$rev" || { echo "$0: no such revision '$rev'" >&2; exit 2; }
    (cd "$work/$side" && swift build -c release --product fabricbench >&2)
    cp "$work/$side/.build/release/fabricbench" "$work/fabricbench-$side"
done
for round in $(seq 1 "$rounds"); do
    for side in a b; do
        rev=$([ $side = a ] && echo "$1" || echo "$2")
        echo "## $side ($rev), round $round/$rounds: latency"
        FABRICBENCH_BINARY="$work/fabricbench-$side" scripts/bench-latency.sh 5
        echo "## $side ($rev), round $round/$rounds: all-reduce"
        FABRICBENCH_BINARY="$work/fabricbench-$side" scripts/bench-allreduce.sh 3
    done
done

#!/usr/bin/env bash
# Verbs latency of two commits, alternating inside one Soft-RoCE VM boot (boots differ by
# up to 2x, so only a same-boot comparison says whether a change moved the data path).
#
#   scripts/bench-verbs-ab.sh REV_A REV_B [ROUNDS]      (default 3 rounds)
#
# Builds both revisions in release mode in throw-away worktrees, then in one VM boot runs
# `fabricbench latency --transport verbs -b 8 -n 2000` with --verb send and --verb write,
# A then B, ROUNDS times, and prints min, typical and p99 (µs) of each run.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 2 ] || { echo "usage: $0 REV_A REV_B [ROUNDS]" >&2; exit 2; }
rounds=${3:-3}
[[ $rounds =~ ^[1-9][0-9]?$ ]] || { echo "$0: ROUNDS must be 1 to 99 (got '$rounds')" >&2; exit 2; }
vm=${SOFTROCE_DIR:-../shared/softroce}/run-in-softroce-vm.sh
[ -x "$vm" ] || { echo "$0: $vm not found: the Soft-RoCE VM is required" >&2; exit 1; }
work=$(mktemp -d /tmp/fabricbench-ab.XXXXXX)
cleanup() { for side in a b; do git worktree remove --force "$work/$side" 2>/dev/null || true; done; }
trap cleanup EXIT
for side in a b; do
    rev=$([ $side = a ] && echo "$1" || echo "$2")
    git worktree add -q --detach "$work/$side" "$rev" || { echo "$0: no such revision '$rev'" >&2; exit 2; }
    (cd "$work/$side" && swift build -c release --product fabricbench >&2)
    cp "$work/$side/.build/release/fabricbench" "$work/fabricbench-$side"
done
cat > "$work/run.sh" <<EOF
for round in \$(seq 1 $rounds); do
  for side in a b; do
    for verb in send write; do
      printf "%s (%s) --verb %s round %s: " \$side "\$([ \$side = a ] && echo '$1' || echo '$2')" \$verb \$round
      "$work/fabricbench-\$side" latency --np 2 --transport verbs --verb \$verb -b 8 -n 2000 --timeout 120 2>&1 \
        | awk '/^ +8 /{print "min", \$3, "typical", \$5, "p99", \$8; found=1} END{if(!found) print "FAILED"}'
    done
  done
done
EOF
"$vm" -t 900 bash "$work/run.sh"

#!/usr/bin/env bash
# Verbs latency of two builds, alternating inside one Soft-RoCE VM boot (boots differ by
# up to 2x, so only a same-boot comparison says whether a change moved the data path).
#
#   scripts/bench-verbs-ab.sh A B [ROUNDS]      (default 3 rounds)
#
# A and B are git revisions, each built in release mode in a throw-away worktree, or paths
# to fabricbench binaries already built (a release build of the working tree, say). Then in
# one VM boot, ROUNDS times: ib_write_lat (8 B, 2000 iterations), and for A then B
# `fabricbench latency --transport verbs -b 8 -n 2000` with the default path (--verb write),
# --verb send and --last-byte. Prints min, typical and p99 (µs) of each run.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 2 ] || { echo "usage: $0 REV_OR_BINARY_A REV_OR_BINARY_B [ROUNDS]" >&2; exit 2; }
rounds=${3:-3}
[[ $rounds =~ ^[1-9][0-9]?$ ]] || { echo "$0: ROUNDS must be 1 to 99 (got '$rounds')" >&2; exit 2; }
vm=${SOFTROCE_DIR:-../shared/softroce}/run-in-softroce-vm.sh
[ -x "$vm" ] || { echo "$0: $vm not found: the Soft-RoCE VM is required" >&2; exit 1; }
work=$(mktemp -d /tmp/fabricbench-ab.XXXXXX)
cleanup() { for side in a b; do git worktree remove --force "$work/$side" 2>/dev/null || true; done; }
trap cleanup EXIT
for side in a b; do
    rev=$([ $side = a ] && echo "$1" || echo "$2")
    if [ -f "$rev" ] && [ -x "$rev" ]; then
        cp "$rev" "$work/fabricbench-$side"
        continue
    fi
    git worktree add -q --detach "$work/$side" "$rev" || { echo "$0: '$rev' is neither a revision nor an executable file" >&2; exit 2; }
    (cd "$work/$side" && swift build -c release --product fabricbench >&2)
    cp "$work/$side/.build/release/fabricbench" "$work/fabricbench-$side"
done
cat > "$work/run.sh" <<EOF
# perftest's server in the background, then its client once the server listens (port 18515).
ib_write_lat_once() {
  ib_write_lat -d rxe0 -x 1 -n 2000 -s 8 > "$work/lat.server" 2>&1 &
  for _ in \$(seq 1 300); do ss -ltn 2>/dev/null | grep -q ":18515 " && break; sleep 0.1; done
  ib_write_lat -d rxe0 -x 1 -n 2000 -s 8 127.0.0.1 2>&1 | awk '/t_min/{getline; print "min", \$3, "typical", \$5, "p99", \$8; found=1} END{if(!found) print "FAILED"}'
  wait
}
for round in \$(seq 1 $rounds); do
  printf "ib_write_lat round %s: " \$round
  ib_write_lat_once
  for side in a b; do
    for flags in "--verb write" "--verb send" "--last-byte"; do
      printf "%s (%s) %s round %s: " \$side "\$([ \$side = a ] && echo '$1' || echo '$2')" "\$flags" \$round
      "$work/fabricbench-\$side" latency --np 2 --transport verbs \$flags -b 8 -n 2000 --timeout 120 2>&1 \
        | awk '/^ +8 /{print "min", \$3, "typical", \$5, "p99", \$8; found=1} END{if(!found) print "FAILED"}'
    done
  done
done
EOF
"$vm" -t 1200 bash "$work/run.sh"

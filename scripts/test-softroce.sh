#!/usr/bin/env bash
# Real RDMA checks in a Soft-RoCE VM (../shared/softroce, or $SOFTROCE_DIR): builds on the host
# (debug for the checks, release for the timings beside perftest), then boots the VM twice
# (one rxe device; two NICs rxe0 <-> rxe1) and runs scripts/softroce-checks.sh there.
# Fails loudly if the VM cannot start: there is no skip.
set -euo pipefail
cd "$(dirname "$0")/.."
vm=${SOFTROCE_DIR:-../shared/softroce}/run-in-softroce-vm.sh
[ -x "$vm" ] || { echo "test-softroce: $vm not found: the Soft-RoCE VM is required for the verbs tests" >&2; exit 1; }
swift build >&2
# The perftest comparison times an optimized build, as users run it.
swift build -c release --product fabricbench >&2
fb=$PWD/.build/debug/fabricbench
fbr=$PWD/.build/release/fabricbench
out=$(mktemp -d /tmp/fabricbench-softroce.XXXXXX)
"$vm" --prepare >&2
status=0
"$vm" -t 1500 -w "$out" bash scripts/softroce-checks.sh single "$fb" "$out" "$fbr" || status=1
"$vm" -t 600 -n 2 -w "$out" bash scripts/softroce-checks.sh pair "$fb" "$out" || status=1
echo "test-softroce: logs in $out"
exit $status

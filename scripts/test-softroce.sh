#!/usr/bin/env bash
# Real RDMA checks in a Soft-RoCE VM (../shared/softroce, or $SOFTROCE_DIR): builds fabricbench
# (release: what users run, and 3-5x faster than debug under the VM's emulation), then boots the
# VM three times and runs scripts/softroce-checks.sh there: every check on one rxe device (the
# verbs conformance suites among them, from the debug test bundle, and last a short soak that
# finds no device resource left over); the perftest comparison,
# timed in a boot of its own; two NICs (rxe0 <-> rxe1).
# Fails loudly if the VM cannot start: there is no skip. A boot that ends early (the VM's
# watchdog, a crash) still counts the checks it finished, and counts as one failure.
set -euo pipefail
cd "$(dirname "$0")/.."
vm=${SOFTROCE_DIR:-../shared/softroce}/run-in-softroce-vm.sh
[ -x "$vm" ] || { echo "test-softroce: $vm not found: the Soft-RoCE VM is required for the verbs tests" >&2; exit 1; }
swift build -c release --product fabricbench >&2
# The test bundle (debug, as scripts/test.sh builds it): the verbs conformance suite runs from it.
swift build --build-tests >&2
fb=$PWD/.build/release/fabricbench
# The tarball for nodes without Swift: the single boot also runs it from the unpacked tarball
# (scripts/test.sh packs it before the tests; run alone, this packs it here).
tarball=${FABRICBENCH_TARBALL:-$PWD/$(scripts/package.sh --skip-deps | tail -1)}
out=$(mktemp -d /tmp/fabricbench-softroce.XXXXXX)
"$vm" --prepare >&2
status=0

boot() {  # mode, watchdog seconds, extra VM options...
    local mode=$1 limit=$2 rc=0
    shift 2
    "$vm" -t "$limit" "$@" -w "$out" bash scripts/softroce-checks.sh "$mode" "$fb" "$out" "$tarball" || rc=$?
    if ! grep -qE "^softroce: " "$out/$mode.results" 2>/dev/null; then
        local done_ok
        done_ok=$(grep -c "^PASS " "$out/$mode.results" 2>/dev/null || true)
        echo "test-softroce: the '$mode' VM boot ended (exit $rc$([ "$rc" = 124 ] && echo ", its $limit s watchdog")) before its last check; the checks after its last PASS/FAIL line did not run" >&2
        echo "softroce: ${done_ok:-0} passed, 1 failed"
    fi
    return "$rc"
}

boot single 1800 || status=1
echo "--- verbs soak at the end of that boot (device resources against the boot's start):"
grep -E "^rdma res|^verbs soak|failed" "$out/verbs-soak.log" 2>/dev/null || echo "(no soak: see above)"
boot perftest 600 || status=1
echo "--- perftest beside fabricbench (same VM boot, 8 B latency in us, 1 MiB bandwidth):"
cat "$out/perftest-comparison.log" 2>/dev/null || echo "(no comparison: see above)"
boot pair 1500 -n 2 || status=1
echo "--- one NIC a rank against both striped, beside ib_write_bw on each device (same VM boot, 1 MiB):"
cat "$out/striping-comparison.log" 2>/dev/null || echo "(no comparison: see above)"
echo "test-softroce: logs in $out"
exit $status

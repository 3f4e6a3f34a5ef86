#!/usr/bin/env bash
# The XCTest suite under a sanitizer, every test and every fabricbench process it starts:
#
#   scripts/sanitize.sh address|thread [swift test filter]
#
# Builds with `swift build --sanitize=...` in .build-<sanitizer> (kept, so a second run only
# recompiles what changed), runs the tests (FABRICBENCH_REQUIRE_ALL=1, as scripts/test.sh), and
# fails on any sanitizer report or failed test. Leaks that are not FabricBench's are suppressed,
# each with its reason, in scripts/sanitizers/. Prints "sanitize <kind>: N passed, M failed, R reports".
set -euo pipefail
cd "$(dirname "$0")/.."
kind=${1:-}
case "$kind" in address|thread) ;; *) echo "usage: $0 address|thread [filter]" >&2; exit 2 ;; esac
filter=${2:-}
scratch=.build-$kind
swift build --build-tests --sanitize="$kind" --scratch-path "$scratch" >&2
log=$(mktemp)
trap 'rm -f "$log"' EXIT
export FABRICBENCH_REQUIRE_ALL=1
export LSAN_OPTIONS="suppressions=$PWD/scripts/sanitizers/lsan.supp:print_suppressions=0"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0"
export TSAN_OPTIONS="suppressions=$PWD/scripts/sanitizers/tsan.supp:halt_on_error=0:report_signal_unsafe=0"
# The Soft-RoCE checks and the timing-sensitive namespace comparisons stay with scripts/test.sh:
# under a sanitizer's slowdown they measure the sanitizer.
skip=(--skip VerbsConformance --skip testLongRunThroughTheCLI --skip testCompareTellsDifferentlyShapedLinksApart --skip testMatrixNamesExactlyTheShapedLink)
status=0
swift test --skip-build --disable-swift-testing --sanitize="$kind" --scratch-path "$scratch" "${skip[@]}" \
    ${filter:+--filter "$filter"} > "$log" 2>&1 || status=$?
reports=$(grep -cE "ERROR: (AddressSanitizer|LeakSanitizer)|WARNING: ThreadSanitizer" "$log" || true)
grep -E -A30 "ERROR: (AddressSanitizer|LeakSanitizer)|WARNING: ThreadSanitizer" "$log" | head -200 >&2 || true
failed=$(grep -cE "^Test Case '.*' failed \(" "$log" || true)
total=$(grep -E "^[[:space:]]*Executed [0-9]+ tests?" "$log" | tail -1 | sed -E 's/.*Executed ([0-9]+) tests?.*/\1/')
grep -E "^Test Case '.*' failed \(|error: " "$log" | head -40 >&2 || true
echo "sanitize $kind: $(( ${total:-0} - failed )) passed, $failed failed, $reports reports"
[ "$status" -eq 0 ] && [ "$failed" -eq 0 ] && [ "$reports" -eq 0 ] && [ -n "${total:-}" ]

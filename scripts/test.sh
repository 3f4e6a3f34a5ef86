#!/usr/bin/env bash
# The test command (README line 2, and .ci/run): installs what the build needs, then runs
# every test. The suite takes well under a minute on 2 cores; nothing in it is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build --build-tests
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# The suites are XCTest; Swift Testing would only add a "0 tests" banner at the end.
status=0
swift test --skip-build --disable-swift-testing "$@" 2>&1 | tee "$log" || status=$?
summary=$(grep -E "^[[:space:]]*Executed [0-9]+ tests?, with [0-9]+ failures?" "$log" | tail -1 || true)
if [ -z "$summary" ]; then
    echo "tests: no XCTest summary found (the test binary crashed or ran nothing)" >&2
    exit 1
fi
total=$(sed -E 's/.*Executed ([0-9]+) tests?.*/\1/' <<<"$summary")
failed=$(sed -E 's/.*with ([0-9]+) failures?.*/\1/' <<<"$summary")
echo "tests: $((total - failed)) passed, $failed failed"
[ "$status" -eq 0 ] && [ "$failed" -eq 0 ]

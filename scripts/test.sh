#!/usr/bin/env bash
# The test command (README line 2, and .ci/run): installs what the build needs, packs the
# tarball (scripts/package.sh), runs every XCTest test, then the in-process suites again under
# AddressSanitizer and ThreadSanitizer (scripts/sanitize.sh), then the real-RDMA checks in the
# Soft-RoCE VM (scripts/test-softroce.sh). Nothing is skipped: FABRICBENCH_REQUIRE_ALL=1 makes a
# test whose requirement is missing (root, mpirun, chromium, the tarball) fail instead of skip,
# a skipped test counts as failed, and a VM that cannot start is a failure.
# FABRICBENCH_SKIP_SOFTROCE=1 leaves the VM part out, FABRICBENCH_SKIP_SANITIZERS=1 the sanitizer
# runs, for a quick local run, and each says so. FABRICBENCH_SANITIZE_ALL=1 runs the whole suite
# under both sanitizers, the CLI tests' hundreds of fabricbench processes too (about 25 minutes
# for ASan and over 35 for TSan on 2 cores: more than CI's 90 minutes allow beside the rest).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build --build-tests
# The tarball for nodes without Swift (release builds of its own in .build-dist*, 5 to 7
# minutes): PackageCLITests unpacks it and runs it with the toolchain hidden.
tarball=$(scripts/package.sh --skip-deps | tail -1)
export FABRICBENCH_TARBALL=$PWD/$tarball
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# The suites are XCTest; Swift Testing would only add a "0 tests" banner at the end.
status=0
export FABRICBENCH_REQUIRE_ALL=1
# The verbs conformance suites (VerbsConformance, VerbsSendPathConformance) and the --cm
# stranger test (StrangerConnectRequestTests) cannot run on a host without RDMA (they would only
# count as skips): the Soft-RoCE VM runs them (softroce-checks.sh), from the test bundle built above.
# The long result-file fuzz run is scripts/fuzz-results.sh's, not the suite's.
swift test --skip-build --disable-swift-testing --skip 'FabricConformanceTests\.Verbs' --skip 'StrangerConnectRequestTests' \
    --skip 'testLongRunThroughTheCLI' "$@" 2>&1 | tee "$log" || status=$?
summary=$(grep -E "^[[:space:]]*Executed [0-9]+ tests?, with ([0-9]+ tests? skipped and )?[0-9]+ failures?" "$log" | tail -1 || true)
if [ -z "$summary" ]; then
    echo "tests: no XCTest summary found (the test binary crashed or ran nothing)" >&2
    exit 1
fi
total=$(sed -E 's/.*Executed ([0-9]+) tests?.*/\1/' <<<"$summary")
# XCTest's "failures" counts failed assertions; the tally counts failed tests.
failures=$(sed -E 's/.* ([0-9]+) failures?.*/\1/' <<<"$summary")
failed=$(grep -cE "^Test Case '.*' failed \(" "$log" || true)
if [ "$failures" -gt 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
# A skip hides a check CI must run: it counts as a failure here.
skipped=$(grep -cE "^Test Case '.*' skipped \(" "$log" || true)
if [ "$skipped" -gt 0 ]; then
    echo "tests: $skipped test(s) skipped; under scripts/test.sh nothing may be skipped:" >&2
    grep -E "^Test Case '.*' skipped \(|: Test skipped" "$log" >&2 || true
    failed=$((failed + skipped))
fi
passed=$((total - failed))
# The in-process suites again under AddressSanitizer (with LeakSanitizer) and ThreadSanitizer
# (scripts/sanitize.sh): transports, conformance, rendezvous and store, collectives, engines,
# measurement, reports, the model. The CLI tests, which start hundreds of fabricbench
# processes, run under both with FABRICBENCH_SANITIZE_ALL=1 (docs/RELIABILITY.md has the wall
# times). Each test that fails there and each sanitizer report counts as a failure.
# One quick CLI test rides along: it runs instrumented fabricbench processes too, and it
# installs the harness's leak check at the end of the bundle (Harness.swift: without it,
# LeakSanitizer's check at exit reports XCTest's own tree of test cases).
in_process='^(FabricCoreTests|FabricMeasureTests|FabricRendezvousTests|FabricTCPTests|FabricSHMTests|FabricCollectivesTests|FabricConformanceTests|FabricEngineTests|FabricReportTests|FabricModelTests|FabricVerbsTests)\.|^FabricBenchCLITests\.LaunchCLITests/testBadInputExitsTwoWithOneLine$'
scope=$in_process; [ "${FABRICBENCH_SANITIZE_ALL:-0}" = 1 ] && scope=
if [ "${FABRICBENCH_SKIP_SANITIZERS:-0}" = 1 ]; then
    echo "# sanitizer runs NOT done (FABRICBENCH_SKIP_SANITIZERS=1): ASan and TSan reports go unseen"
else
    for kind in address thread; do
        scripts/sanitize.sh "$kind" "$scope" 2>&1 | tee "$log" || status=1
        line=$(sed -nE 's/^sanitize '"$kind"': ([0-9]+) passed, ([0-9]+) failed, ([0-9]+) reports$/\1 \2 \3/p' "$log" | tail -1)
        if [ -z "$line" ]; then
            echo "tests: the $kind sanitizer run printed no result" >&2
            failed=$((failed + 1))
            continue
        fi
        read -r p f r <<<"$line"
        passed=$((passed + p)); failed=$((failed + f + r))
    done
fi
if [ "${FABRICBENCH_SKIP_SOFTROCE:-0}" = 1 ]; then
    echo "# Soft-RoCE checks NOT run (FABRICBENCH_SKIP_SOFTROCE=1)"
else
    scripts/test-softroce.sh 2>&1 | tee "$log" || status=1
    while read -r p f; do
        passed=$((passed + p)); failed=$((failed + f))
    done < <(sed -nE 's/^softroce: ([0-9]+) passed, ([0-9]+) failed$/\1 \2/p' "$log")
    grep -qE "^softroce: " "$log" || { echo "tests: the Soft-RoCE checks printed no result" >&2; failed=$((failed + 1)); }
fi
echo "tests: $passed passed, $failed failed"
[ "$status" -eq 0 ] && [ "$failed" -eq 0 ]

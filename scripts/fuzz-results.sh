#!/usr/bin/env bash
# Long fuzz of `compare` and `report` on damaged result files: N seeded, structure-aware
# mutations of small real result files (latency, bandwidth, allreduce, matrix --np 3, written
# first by the binary under test), each run as `compare A B` and `report A B -o x.html`, two at
# a time. Prints the count of every exit status and the wall time. Passes when every status is
# 0 or 2 (never a signal, never 1) and every exit 2 says one line; failing files are kept and
# their paths printed.
#
#   scripts/fuzz-results.sh [N] [SECONDS]     (defaults: 100000 files, 3600 s)
#
# Bounded in time: no file is started after SECONDS, and each run is killed after 120 s (and
# counted as a failure). FABRICBENCH_BINARY: the binary to fuzz (default: this tree's release
# build, built first). FABRICBENCH_RESULT_FUZZ_SEED: another seed (default 1). The mutator and
# the checks are the test suite's (ResultFilesFuzzTests.testLongRunThroughTheCLI, which the
# suite skips; its short runs are the other tests of that class).
set -euo pipefail
cd "$(dirname "$0")/.."
files=${1:-100000}
seconds=${2:-3600}
[[ $files =~ ^[1-9][0-9]{0,8}$ ]] || { echo "$0: N must be a whole number from 1 (got '$files')" >&2; exit 2; }
[[ $seconds =~ ^[1-9][0-9]{0,6}$ ]] || { echo "$0: SECONDS must be a whole number from 1 (got '$seconds')" >&2; exit 2; }
if [ -z "${FABRICBENCH_BINARY:-}" ]; then
    swift build -c release --product fabricbench >&2
    export FABRICBENCH_BINARY="$PWD/.build/release/fabricbench"
fi
swift build --build-tests >&2
log=$(mktemp /tmp/fabricbench-fuzz-results.XXXXXX)
began=$(date +%s)
set +e
FABRICBENCH_RESULT_FUZZ_FILES=$files FABRICBENCH_RESULT_FUZZ_SECONDS=$seconds \
    timeout --signal=KILL $((seconds + 900)) \
    swift test --skip-build --filter 'ResultFilesFuzzTests/testLongRunThroughTheCLI' >"$log" 2>&1
status=$?
set -e
grep -E '^result fuzz|error: ' "$log" || true
echo "wall time: $(( $(date +%s) - began )) s (binary: $FABRICBENCH_BINARY; full log: $log)"
[ $status = 0 ] && echo "fuzz-results: passed" || echo "fuzz-results: FAILED (exit $status)"
exit $status

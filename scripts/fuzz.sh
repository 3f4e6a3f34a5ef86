#!/usr/bin/env bash
# The long fuzz runs (the test suite runs short passes of the same tests):
#   - rendezvous frames against a live store: FRAMES mutated frames (default 1e6), then a
#     real rank must be answered within 100 ms and resident memory grow by less than 256 MiB;
#   - histogram decoding: HISTOGRAMS mutated encodings (default 1e5: about 3 ms each in the
#     debug build), 0 crashes.
# A crash fails the test binary, so "passed" is the proof. Prints each test's own summary.
#
#   scripts/fuzz.sh [FRAMES] [HISTOGRAMS]
set -euo pipefail
cd "$(dirname "$0")/.."
frames=${1:-1000000}
histograms=${2:-100000}
[[ $frames =~ ^[0-9]+$ && $histograms =~ ^[0-9]+$ ]] || { echo "usage: $0 [FRAMES] [HISTOGRAMS]" >&2; exit 2; }
# The fuzz tests use @testable imports, so they run from the debug test build.
swift build --build-tests >&2
start=$SECONDS
FABRICBENCH_FUZZ_FRAMES=$frames timeout 3600 swift test --skip-build --disable-swift-testing --filter StoreFuzzTests 2>&1 \
    | grep -E "store fuzz:|passed|failed|error"
echo "# store fuzz took $((SECONDS - start)) s"
start=$SECONDS
FABRICBENCH_FUZZ_ITERATIONS=$histograms timeout 3600 swift test --skip-build --disable-swift-testing --filter HistogramDecodingFuzzTests 2>&1 \
    | grep -E "passed|failed|error"
echo "# histogram fuzz ($histograms inputs) took $((SECONDS - start)) s"

#!/usr/bin/env bash
# The long fuzz runs (the test suite runs short passes of the same tests):
#   - rendezvous frames against a live store: FRAMES mutated frames (default 1e6), then a
#     real rank must be answered within 100 ms and resident memory grow by less than 256 MiB;
#   - histogram decoding: HISTOGRAMS mutated encodings (default 1e6), 0 crashes, and the peak
#     resident size grows by less than 64 MiB.
# A crash fails the test binary, so "passed" is the proof. Prints each test's own summary.
#
#   scripts/fuzz.sh [FRAMES] [HISTOGRAMS]
set -euo pipefail
cd "$(dirname "$0")/.."
frames=${1:-1000000}
histograms=${2:-1000000}
[[ $frames =~ ^[0-9]+$ && $histograms =~ ^[0-9]+$ ]] || { echo "usage: $0 [FRAMES] [HISTOGRAMS]" >&2; exit 2; }
# The fuzz tests use @testable imports; they run from an optimized build with testing enabled,
# in its own folder (.build-fuzz) so the plain builds stay as they are. The debug build
# decodes about 200 histograms a second here, this one several thousand.
build=(--scratch-path .build-fuzz -c release -Xswiftc -enable-testing)
swift build "${build[@]}" --build-tests >&2
start=$SECONDS
FABRICBENCH_FUZZ_FRAMES=$frames timeout 3600 swift test "${build[@]}" --skip-build --disable-swift-testing --filter StoreFuzzTests 2>&1 \
    | grep -E "store fuzz:|passed|failed|error"
echo "# store fuzz took $((SECONDS - start)) s"
# The mutation test alone, so that the peak resident size it checks starts from its own seeds
# (the crafted-input test before it inflates a 32 MiB bomb).
start=$SECONDS
FABRICBENCH_FUZZ_ITERATIONS=$histograms timeout 3600 swift test "${build[@]}" --skip-build --disable-swift-testing \
    --filter HistogramDecodingFuzzTests.testMutatedEncodingsDecodeOrThrow 2>&1 | grep -E "histogram fuzz:|passed|failed|error"
echo "# histogram fuzz ($histograms inputs) took $((SECONDS - start)) s"

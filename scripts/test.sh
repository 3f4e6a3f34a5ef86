#!/usr/bin/env bash
# The test command (README line 2, and .ci/run): installs what the build needs, then runs
# every test. The suite takes about a minute on 2 cores; nothing in it is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build --build-tests
swift test --skip-build "$@"

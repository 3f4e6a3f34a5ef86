#!/usr/bin/env bash
# Installs the Debian packages FabricBench builds and tests with (idempotent; apt only when
# missing). The RDMA libraries are needed for their headers at build time; at run time
# fabricbench opens them with dlopen and works without them. The tests use openmpi-bin (runs
# under mpirun), iproute2 (scripts/netns-hosts.sh: namespaces, veth, tc) and chromium (the
# HTML report rendered in a real browser), python3-junitparser and python3-yaml (the JUnit files
# and CI recipes read by real parsers), prometheus (its promtool checks the --prom files), and
# for the sanitizer runs llvm-symbolizer (below).
set -euo pipefail
packages=(libibverbs-dev librdmacm-dev libnuma-dev zlib1g-dev openmpi-bin iproute2 chromium python3-junitparser python3-yaml prometheus)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "# installing ${missing[*]}" >&2
    sudo=; [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
command -v swift >/dev/null || { echo "swift is not on PATH: install Swift 6.1 or newer (https://swift.org)" >&2; exit 1; }
# The sanitizer runs (scripts/sanitize.sh) need llvm-symbolizer: the suppressions match function
# names, which a report only has once symbolized. Swift's toolchain ships one beside swift;
# Debian's llvm package stands in when it does not.
toolchain=$(dirname "$(readlink -f "$(command -v swift)")")
if [ ! -x "$toolchain/llvm-symbolizer" ] && ! command -v llvm-symbolizer >/dev/null; then
    echo "# installing llvm (llvm-symbolizer, for the sanitizer runs)" >&2
    sudo=; [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq llvm >/dev/null
fi

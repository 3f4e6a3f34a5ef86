#!/bin/sh
# Installs an unpacked fabricbench tarball (scripts/package.sh packs this file as install.sh):
#   ./install.sh [PREFIX]     (default /usr/local; e.g. ~/.local for a user install)
# bin/fabricbench, the man pages and the bash/zsh/fish completions go under PREFIX/.
# Nothing else is needed on the node: the Swift runtime is inside the binary, and the RDMA
# libraries (rdma-core) are used when present.
set -eu
if [ $# -gt 1 ]; then
    echo "install.sh: takes one PREFIX at most (got $#): ./install.sh [PREFIX], e.g. ./install.sh ~/.local" >&2
    exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
prefix=${1:-/usr/local}
if [ -e "$prefix" ] && [ ! -d "$prefix" ]; then
    echo "install.sh: the prefix '$prefix' exists and is not a folder: give a folder such as /usr/local or ~/.local" >&2
    exit 2
fi
[ -x "$here/bin/fabricbench" ] || { echo "install.sh: $here/bin/fabricbench is missing: run the install.sh of an unpacked tarball" >&2; exit 2; }
for sub in bin share/man/man1 share/bash-completion/completions share/zsh/site-functions share/fish/vendor_completions.d; do
    mkdir -p "$prefix/$sub"
done
install -m 755 "$here/bin/fabricbench" "$prefix/bin/fabricbench"
install -m 644 "$here"/share/man/man1/*.1 "$prefix/share/man/man1/"
install -m 644 "$here/share/bash-completion/completions/fabricbench" "$prefix/share/bash-completion/completions/fabricbench"
install -m 644 "$here/share/zsh/site-functions/_fabricbench" "$prefix/share/zsh/site-functions/_fabricbench"
install -m 644 "$here/share/fish/vendor_completions.d/fabricbench.fish" "$prefix/share/fish/vendor_completions.d/fabricbench.fish"
echo "fabricbench installed in $prefix/bin ($("$prefix/bin/fabricbench" --version))"

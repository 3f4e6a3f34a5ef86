#!/usr/bin/env bash
# Builds the binary for machines without Swift and packs it:
#   dist/fabricbench-VERSION-linux-ARCH.tar.gz (+ .sha256)
# holding bin/fabricbench (release, Swift runtime linked in with --static-swift-stdlib, so
# ldd shows only glibc, libstdc++ and the like), the README, bash/zsh/fish completions and a
# man page, both from swift-argument-parser's own generators (--generate-completion-script,
# and its generate-manual plugin). libibverbs, librdmacm and libnuma are not linked: the
# binary opens them at run time, so it runs with or without rdma-core.
#
# The git commit is compiled in through Sources/CFabricSystem/build_commit.h, written here
# and removed afterwards (it is .gitignored): the binary names its commit without a
# generated file in git, and a plain `swift build` still compiles (it says "unknown").
#
# The build has scratch folders of its own (.build-dist, .build-dist-static), so it never
# disturbs .build. It took 5
# to 7 minutes on 2 shared cores here (15 from a fresh clone while other builds ran): the man page plugin
# builds the whole package in release, then the static build compiles the executable again. The last line printed is
# the tarball's path.
# Usage: scripts/package.sh [--skip-deps]   (--skip-deps: do not run scripts/install-deps.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
case "$*" in
    "") scripts/install-deps.sh ;;
    --skip-deps) ;;
    *) echo "package: unknown arguments '$*': usage: scripts/package.sh [--skip-deps]" >&2; exit 2 ;;
esac
# Two scratch folders: the man page plugin builds every product in release without the static
# runtime, and sharing one folder with the static build let a later run keep a dynamically
# linked binary (its link was judged up to date); the check below caught it.
scratch=.build-dist
static_scratch=.build-dist-static
header=Sources/CFabricSystem/build_commit.h

commit=unknown
if git rev-parse --git-dir >/dev/null 2>&1; then
    commit=$(git rev-parse --short=12 HEAD)
    # Uncommitted changes to tracked files make a binary no commit describes.
    git diff --quiet HEAD -- 2>/dev/null || commit="$commit-dirty"
fi
trap 'rm -f "$header"' EXIT
printf '// Written by scripts/package.sh; not in git.\n#define FABRICBENCH_COMMIT "%s"\n' "$commit" > "$header"
# build_info.c finds the header through __has_include, which a dependency file made while the
# header was absent does not list: without this an incremental build keeps "unknown".
touch Sources/CFabricSystem/build_info.c

echo "# building fabricbench (release, static Swift runtime, commit $commit)" >&2
# The man pages come from the plugin's own release build; the binary packed is the static one.
swift package --scratch-path "$scratch" generate-manual --multi-page >&2
swift build --scratch-path "$static_scratch" -c release --static-swift-stdlib --product fabricbench >&2 || {
    echo "package: the static build failed (above); a toolchain without lib/swift_static cannot link the Swift runtime in: use a swift.org toolchain" >&2
    exit 1
}
binary="$static_scratch/release/fabricbench"

version=$("$binary" --version | awk '{print $2}')
arch=$(uname -m)
name="fabricbench-$version-linux-$arch"
stage=$(mktemp -d)
trap 'rm -f "$header"; rm -rf "$stage"' EXIT
root="$stage/$name"
mkdir -p "$root/bin" "$root/share/man/man1" "$root/share/bash-completion/completions" \
         "$root/share/zsh/site-functions" "$root/share/fish/vendor_completions.d" "$root/share/doc/fabricbench"

cp "$binary" "$root/bin/fabricbench"
# Debug info is most of the size; the symbol table stays for readable crash backtraces.
strip --strip-debug "$root/bin/fabricbench"
"$binary" --generate-completion-script bash > "$root/share/bash-completion/completions/fabricbench"
"$binary" --generate-completion-script zsh > "$root/share/zsh/site-functions/_fabricbench"
"$binary" --generate-completion-script fish > "$root/share/fish/vendor_completions.d/fabricbench.fish"
manuals=$(find "$scratch/plugins" -path '*GenerateManual*' -name 'fabricbench*.1' -newer "$header" 2>/dev/null || true)
[ -n "$manuals" ] || { echo "package: the generate-manual plugin wrote no man page" >&2; exit 1; }
cp $manuals "$root/share/man/man1/"
cp README.md "$root/share/doc/fabricbench/"
cp scripts/install-from-tarball.sh "$root/install.sh"

# The promise of this tarball: no Swift library is needed where it runs.
if ldd "$root/bin/fabricbench" | grep -iE 'swift|libFoundation|libdispatch|libBlocksRuntime'; then
    echo "package: the binary still links Swift libraries (above)" >&2
    exit 1
fi

mkdir -p dist
tarball="dist/$name.tar.gz"
tar -C "$stage" --owner=0 --group=0 --numeric-owner -czf "$tarball" "$name"
(cd dist && sha256sum "$name.tar.gz" > "$name.tar.gz.sha256")
echo "# $tarball ($(du -h "$tarball" | cut -f1)), checksum in $tarball.sha256" >&2
echo "$tarball"

#!/usr/bin/env bash
# Builds quickjs.wasm: QuickJS (Debian's source of upstream release 2025-04-26,
# checked against its SHA-256) with binding.c, as one standalone WebAssembly
# module with no JavaScript glue. The result is committed, so neither
# `npm ci` nor the node needs a compiler; run this only to change the engine.
#
# Needs emscripten (Debian: `apt-get install -y emscripten`, 3.1.6 here).
#   bash packages/node/quickjs/build.sh
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
version="2025.04.26"
tarball="quickjs_${version}.orig.tar.xz"
url="http://deb.debian.org/debian/pool/main/q/quickjs/${tarball}"
sha256="ec81da5b3249ed648dbc7df4a1654988910e66a118d9b71cb63534216efcfbbe"
work="${TMPDIR:-/tmp}/confide-quickjs-${version}"

mkdir -p "$work"
if [ ! -f "$work/$tarball" ]; then
  curl -fsSL -o "$work/$tarball.part" "$url"
  mv "$work/$tarball.part" "$work/$tarball"
fi
echo "$sha256  $work/$tarball" | sha256sum -c --quiet -
rm -rf "$work/src" && mkdir -p "$work/src"
tar -xJf "$work/$tarball" -C "$work/src" --strip-components=1
src="$work/src"

# Debian's emscripten finds its acorn through NODE_PATH.
export NODE_PATH="${NODE_PATH:-/usr/share/nodejs}"
exports="$(grep -o 'EXPORT [^(]*\bcq_[a-z_]*' "$here/binding.c" | grep -o 'cq_[a-z_]*' | sed 's/^/"_/; s/$/"/' | paste -sd, -)"

# CONFIG_STACK_CHECK: QuickJS turns its stack limit off under emscripten; the
# node relies on it (a "stack overflow" error, not a crashed engine).
emcc -O3 -flto \
  -DCONFIG_VERSION="\"${version//./-}\"" -D_GNU_SOURCE -DCONFIG_STACK_CHECK \
  -I "$src" \
  "$src/quickjs.c" "$src/dtoa.c" "$src/libregexp.c" "$src/libunicode.c" "$src/cutils.c" "$here/binding.c" \
  -s STANDALONE_WASM=1 --no-entry \
  -s EXPORTED_FUNCTIONS="[$exports]" \
  -s ALLOW_MEMORY_GROWTH=1 -s INITIAL_MEMORY=16MB -s MAXIMUM_MEMORY=2GB \
  -s TOTAL_STACK=1MB \
  -s ERROR_ON_UNDEFINED_SYMBOLS=0 \
  -o "$work/quickjs.wasm"

cp "$work/quickjs.wasm" "$here/quickjs.wasm"
# The module contains QuickJS: its MIT licence travels with it.
cp "$src/LICENSE" "$here/QUICKJS-LICENSE"
echo "${version//./-}" > "$here/quickjs.version"
sha256sum "$here/quickjs.wasm"

#!/usr/bin/env bash
# regen.sh — regenerate the bundled demo data and the demo model files.
#
#   datasets/demo/regen.sh [BUILD_DIR]      (BUILD_DIR defaults to ./build)
#
# Builds the `hymba-gen-demo` target (configuring BUILD_DIR first if it has no
# CMake cache), runs it into a temporary directory, compresses every .jsonl
# with `zstd -19` into datasets/demo/, and copies the model files into
# datasets/demo/model/.  The generator is deterministic, so a rerun gives the
# same .jsonl text and the same model files (the .zst bytes also match with
# the same zstd version).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
build="${1:-$root/build}"
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release
fi
cmake --build "$build" --target hymba-gen-demo -j2
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
"$build/hymba-gen-demo" "$tmp"
for f in "$tmp"/*.jsonl; do
  zstd -19 -q -f "$f" -o "$here/$(basename "$f").zst"
done
mkdir -p "$here/model"
cp "$tmp"/model/*.json "$here/model/"
ls -l "$here"/*.jsonl.zst "$here"/model/*.json

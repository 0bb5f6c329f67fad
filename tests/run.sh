#!/bin/sh
# tests/run.sh — the README's test command: installs missing Debian packages,
# builds hymba (CPU backend; the CUDA backend too when nvcc is present) and runs
# every test except the gpu and multigpu labels (those run on a GPU machine via
# tests/gpu/run.sh).  Extra arguments are passed to ctest (e.g. -R tokenizer).
set -eu
cd "$(dirname "$0")/.."
PKGS="build-essential cmake pkg-config libjansson-dev libzstd-dev libyaml-dev libopenblas-dev sentencepiece zstd python3-sentencepiece python3-jinja2"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "tests/run.sh: installing:$missing"
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing
fi
JOBS=$(nproc 2>/dev/null || echo 2)
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$JOBS"
cd build && ctest --output-on-failure -LE "gpu|multigpu" -j "$JOBS" "$@"

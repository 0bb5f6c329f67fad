#!/bin/bash
# tests/gpu/run.sh — build hymba with the CUDA backend and run the GPU test
# suite (CTest label gpu) on a GPU machine, in one command, logs under $OUT.
#
#   tests/gpu/run.sh --fetch        on a Debian/Ubuntu machine with network:
#                                   download the build dependencies' .deb files
#                                   into gpu-carry/ (git-ignored) for a GPU
#                                   machine that cannot reach a package registry,
#                                   and copy what the GPU tests read from
#                                   ../shared (spec12 reference, the 1.5B config
#                                   and tokenizer) into gpu-carry/shared/
#   tests/gpu/run.sh [ctest args]   on the GPU machine: configure, build
#                                   (build-gpu/, -j$(nproc)), run `ctest -L gpu`
#                                   (extra args go to ctest, e.g. -LE slow or
#                                   -R test_train_cuda_15b), then the end-to-end
#                                   commands (demo init → sft on cuda → generate,
#                                   dump cpu vs cuda) logged to $OUT/e2e.log
#   HYMBA_GPU_MULTI=0               skip the data-parallel part (default: what
#                                   HYMBA_GPU_TESTS says): ctest -L multigpu
#                                   (2+ GPUs: N ranks through hymba launch; exits 77
#                                   = skipped with one) and tests/gpu/dp.sh, logged
#                                   to $OUT/multigpu.log
#   HYMBA_GPU_E2E=0                 skip the end-to-end commands
#   HYMBA_GPU_TESTS=0               skip ctest (only the end-to-end commands)
#   HYMBA_GPU_SANITIZE=1            also run the op tests under compute-sanitizer
#                                   memcheck (limit HYMBA_GPU_SANITIZE_TIMEOUT s, default 240)
#   HYMBA_GPU_FORCE_CARRY=1         use gpu-carry/ even when the system has the
#                                   libraries (to check that path anywhere)
#
# Dependencies: the CPU-side libraries (jansson, zstd, yaml, OpenBLAS,
# pkg-config) are used from the system when present; otherwise the .deb files
# in gpu-carry/ are unpacked into a private prefix (/tmp/hy-deps) and only the
# libraries the system lacks are put on the library path.
# Shared data: ../shared when it exists, else gpu-carry/shared (the device
# machine receives the repository only).  Temporary files of the tests go to
# $TMPDIR, by default a folder of the checkout (the 1.5B test writes ~40 GB).
# Logs: $OUT/env.log, configure.log, build.log, ctest.log, e2e.log, summary.txt
# ($OUT defaults to ./gpu-out).  Exit status: ctest's (nonzero on failure).
set -u
cd "$(dirname "$0")/../.."
ROOT=$PWD
CARRY=$ROOT/gpu-carry
DEBS="libjansson-dev libjansson4 libzstd-dev libzstd1 libyaml-dev libyaml-0-2 libopenblas-dev libopenblas0
      libopenblas0-pthread libopenblas-pthread-dev libgfortran5 libquadmath0 pkgconf pkgconf-bin libpkgconf3 pkg-config"

if [ "${1:-}" = "--fetch" ]; then
    mkdir -p "$CARRY" && cd "$CARRY" && rm -f ./*.deb
    apt-get download $DEBS || { echo "run.sh --fetch: apt-get download failed (apt-get update first?)" >&2; exit 1; }
    if [ -d "$ROOT/../shared" ]; then
        mkdir -p "$CARRY/shared/reference" "$CARRY/shared/hymba-1.5b"
        cp -r "$ROOT/../shared/reference/spec12" "$CARRY/shared/reference/"
        cp "$ROOT"/../shared/hymba-1.5b/*.json "$ROOT"/../shared/hymba-1.5b/tokenizer.model "$CARRY/shared/hymba-1.5b/"
    fi
    du -sh "$CARRY"
    exit 0
fi

OUT=${OUT:-$ROOT/gpu-out}
mkdir -p "$OUT"
BUILD=$ROOT/build-gpu
JOBS=$(nproc 2>/dev/null || echo 8)

{
    echo "== $(date -u +%FT%TZ) $(uname -srm)"
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1 || echo "nvidia-smi: not available"
    nvcc --version 2>&1 | tail -2
    cc --version 2>&1 | head -1
    cmake --version 2>&1 | head -1
    git log --oneline -1 2>/dev/null
    nproc; free -g | head -2; df -h /tmp . | tail -n +1
} >"$OUT/env.log" 2>&1
cat "$OUT/env.log"

# ---- dependencies from gpu-carry/ when the system lacks them ----
have_sys() { # pkg-config modules and cblas.h on the system?
    command -v pkg-config >/dev/null 2>&1 && pkg-config --exists jansson libzstd yaml-0.1 2>/dev/null &&
        { [ -e /usr/include/cblas.h ] || ls /usr/include/*/cblas.h >/dev/null 2>&1 || ls /usr/include/*/*/cblas.h >/dev/null 2>&1; }
}
CMAKE_EXTRA=()
if [ "${HYMBA_GPU_FORCE_CARRY:-0}" = 1 ] || ! have_sys; then
    ls "$CARRY"/*.deb >/dev/null 2>&1 || { echo "run.sh: system lacks jansson/zstd/yaml/cblas and $CARRY has no .deb files; run tests/gpu/run.sh --fetch on a networked machine and carry gpu-carry/" | tee -a "$OUT/env.log"; exit 2; }
    DEP=/tmp/hy-deps
    rm -rf "$DEP" && mkdir -p "$DEP/libs" "$DEP/bin"
    for f in "$CARRY"/*.deb; do dpkg -x "$f" "$DEP" || exit 2; done
    ARCH=$DEP/usr/lib/x86_64-linux-gnu
    for pc in "$ARCH"/pkgconfig/*.pc; do sed -i "s|^prefix=/usr|prefix=$DEP/usr|; s|^libdir=\${exec_prefix}/lib\$|libdir=\${exec_prefix}/lib/x86_64-linux-gnu|" "$pc"; done
    # runtime libraries the system does not have (never shadow the system's own)
    # (sonames are symlinks: copied only when missing; the files they name always)
    for so in "$ARCH"/*.so.* "$ARCH"/openblas-pthread/libopenblas.so.0 "$ARCH"/openblas-pthread/libopenblasp-r*.so; do
        b=$(basename "$so")
        ldconfig -p 2>/dev/null | grep -qE "[[:space:]]$b[[:space:]]" || cp -P "$so" "$DEP/libs/"
    done
    printf '#!/bin/sh\nLD_LIBRARY_PATH=%s exec %s "$@"\n' "$ARCH" "$DEP/usr/bin/pkgconf" >"$DEP/bin/pkg-config"
    chmod +x "$DEP/bin/pkg-config"
    export PKG_CONFIG_PATH=$ARCH/pkgconfig
    export LD_LIBRARY_PATH=$DEP/libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
    export LDFLAGS="-Wl,-rpath-link,$DEP/libs -Wl,-rpath-link,$ARCH"
    CMAKE_EXTRA=(-DPKG_CONFIG_EXECUTABLE="$DEP/bin/pkg-config" -DCMAKE_PREFIX_PATH="$DEP/usr"
                 -DCBLAS_INCLUDE_DIR="$DEP/usr/include/x86_64-linux-gnu/openblas-pthread"
                 -DCBLAS_LIBRARY="$ARCH/openblas-pthread/libopenblas.so")
    echo "deps: from $CARRY into $DEP; extra runtime libs: $(ls "$DEP/libs" | tr '\n' ' ')" | tee -a "$OUT/env.log"
fi

SHARED=$ROOT/../shared
[ -d "$SHARED/reference/spec12" ] || SHARED=$CARRY/shared
[ -d "$SHARED/reference/spec12" ] || echo "run.sh: no shared data (../shared or gpu-carry/shared); run --fetch where ../shared exists" | tee -a "$OUT/env.log"
CMAKE_EXTRA+=(-DHY_TEST_SHARED="$SHARED")
export TMPDIR=${TMPDIR_GPU:-$ROOT/.gpu-tmp}
mkdir -p "$TMPDIR"

GEN=()
command -v ninja >/dev/null 2>&1 && ! command -v make >/dev/null 2>&1 && GEN=(-G Ninja)
[ -f "$BUILD/CMakeCache.txt" ] && ! grep -q "CMAKE_PREFIX_PATH" "$BUILD/CMakeCache.txt" && [ ${#CMAKE_EXTRA[@]} -gt 0 ] && rm -rf "$BUILD"

echo "== configure"
cmake -S "$ROOT" -B "$BUILD" "${GEN[@]}" -DCMAKE_BUILD_TYPE=Release "${CMAKE_EXTRA[@]}" >"$OUT/configure.log" 2>&1 || {
    tail -40 "$OUT/configure.log"; echo "run.sh: configure failed (see configure.log)"; exit 3; }
grep -q "CUDA backend ON" "$OUT/configure.log" || { echo "run.sh: CMake did not enable the CUDA backend (nvcc missing?)"; exit 3; }

# the gpu- and multigpu-labelled tests' executables: test names that are build targets (a
# test may run another test's executable), and hymba
TESTS=$(cd "$BUILD" && ctest -N -L '^(gpu|multigpu)$' 2>/dev/null | sed -n 's/^ *Test *#[0-9]*: *//p')
ALL=$( (cmake --build "$BUILD" --target help 2>/dev/null | sed -n 's/^\.\.\. \([^ ]*\).*/\1/p'
        command -v ninja >/dev/null && ninja -C "$BUILD" -t targets all 2>/dev/null | sed -n 's/^\([^:]*\):.*/\1/p') | sort -u)
TARGETS=hymba
for t in $TESTS; do grep -qx "$t" <<<"$ALL" && TARGETS="$TARGETS $t"; done
echo "== build (-j$JOBS): ${TARGETS:-<none>}"
[ -n "$TARGETS" ] || { echo "run.sh: no test carries the gpu label"; exit 4; }
START=$(date +%s)
# shellcheck disable=SC2086
cmake --build "$BUILD" -j "$JOBS" --target $TARGETS >"$OUT/build.log" 2>&1 || {
    grep -E "error|Error" "$OUT/build.log" | head -40; echo "run.sh: build failed (see build.log)"; exit 4; }
echo "build: $(( $(date +%s) - START )) s, $(grep -ci "warning" "$OUT/build.log") warning line(s)"

RC=0
if [ "${HYMBA_GPU_TESTS:-1}" != 0 ]; then
    echo "== ctest -L gpu $*"
    # (tests/cmake/gpu.cmake sets HYMBA_CUDA_SYNC=1 for the op tests: a device
    # fault is reported at its launch; the model and training tests run at speed)
    # -V: keep every comparison line (worst element per tensor) in ctest.log, pass or fail
    (cd "$BUILD" && ctest -L '^gpu$' -V --timeout 1800 "$@") >"$OUT/ctest.log" 2>&1
    RC=$?
    {
        echo "ctest exit $RC"
        grep -E "\[ (FAIL| OK ) \]|[0-9]+/[0-9]+ passed$|  FAIL |bad=[1-9]|tests passed|tests failed|Total Test time|logits inf|gradients:|GPU vs CPU|run twice|resumed|tokens/s|bit for bit|sumsq|decode vs|greedy|1\.5B|peak GPU|memory plan|Test +#" "$OUT/ctest.log"
    } >"$OUT/summary.txt"
    cat "$OUT/summary.txt"
fi

if [ "${HYMBA_GPU_MULTI:-${HYMBA_GPU_TESTS:-1}}" != 0 ]; then
    NGPU=$(nvidia-smi -L 2>/dev/null | grep -c "^GPU")
    echo "== data parallelism: ctest -L multigpu (needs 2+ GPUs; $NGPU visible) and tests/gpu/dp.sh (log: multigpu.log)"
    { (cd "$BUILD" && ctest -L '^multigpu$' -V --timeout 900); echo "ctest -L multigpu exit $?"
      bash "$ROOT/tests/gpu/dp.sh" "$BUILD/hymba" "$TMPDIR/dp"; echo "dp.sh exit $?"; } >"$OUT/multigpu.log" 2>&1
    grep -E "exit [0-9]+$|rank [0-9]+ of|died or was killed|bus bandwidth|skipped|^== |steps, worst|FAIL" "$OUT/multigpu.log" | tr '\r' '\n' |
        tee -a "$OUT/summary.txt"
    grep -qE "(ctest -L multigpu|dp.sh) exit [1-9]" "$OUT/multigpu.log" && [ "$RC" = 0 ] && RC=6
fi

if [ "${HYMBA_GPU_E2E:-1}" != 0 ]; then
    echo "== end to end (log: e2e.log)"
    bash "$ROOT/tests/gpu/e2e.sh" "$BUILD/hymba" "$SHARED" "$TMPDIR/e2e" >"$OUT/e2e.log" 2>&1
    E2E=$?
    grep -E "^== |tokens/s|done|error|plan|agree|FAIL" "$OUT/e2e.log" | tail -40
    echo "end to end: exit $E2E" | tee -a "$OUT/summary.txt"
    [ "$RC" = 0 ] && [ "$E2E" != 0 ] && RC=5
fi
rm -rf "$TMPDIR"

if [ "${HYMBA_GPU_SANITIZE:-0}" = 1 ] && command -v compute-sanitizer >/dev/null 2>&1; then
    echo "== compute-sanitizer memcheck"
    for t in $TARGETS; do
        exe=$(find "$BUILD" -name "$t" -type f -perm -u+x | head -1)
        timeout "${HYMBA_GPU_SANITIZE_TIMEOUT:-240}" compute-sanitizer --tool memcheck --error-exitcode 9 "$exe" \
            >>"$OUT/sanitizer.log" 2>&1 ||
            { echo "sanitizer: $t failed (exit $?)"; RC=${RC:-0}; [ "$RC" = 0 ] && RC=9; }
    done
    grep -E "ERROR SUMMARY|passed$" "$OUT/sanitizer.log"
fi
exit $RC

#!/bin/sh
# datasets/demo/run_demo.sh — the README's first command: the whole toolkit on
# the tiny demo Hymba, on the CPU, in a few minutes:
#   1. installs missing Debian packages (as tests/run.sh), builds `hymba`;
#   2. `hymba init`: a random tiny model from datasets/demo/model (runs/demo/base);
#   3. `hymba run recipes/demo/pipeline.yaml`: SFT-1 -> SFT-2 -> DPO
#      (runs/demo/pipeline/<stage>; a rerun skips finished stages and resumes a
#      stopped one);
#   4. `hymba export`: the result as a Hugging Face directory (runs/demo/export);
#   5. `hymba generate`: one reply from the exported model;
#   6. the loss and DPO accuracy curves from the stages' metrics.jsonl.
# Options: --fresh (start again from a new random model), --build DIR (build
# directory, default build), --jobs N.  Environment: HYMBA_BIN (use this
# hymba binary instead of building), HYMBA_CACHE (token stores),
# OMP_NUM_THREADS.
set -eu
cd "$(dirname "$0")/../.."
FRESH=0
BUILD=build
JOBS=$(nproc 2>/dev/null || echo 2)
while [ $# -gt 0 ]; do
    case "$1" in
    --fresh) FRESH=1 ;;
    --build) BUILD=$2; shift ;;
    --jobs) JOBS=$2; shift ;;
    -h | --help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "run_demo.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
    esac
    shift
done

# Missing Debian packages (as tests/run.sh), then the hymba binary.
build_hymba() {
    PKGS="build-essential cmake pkg-config libjansson-dev libzstd-dev libyaml-dev libopenblas-dev"
    missing=""
    for p in $PKGS; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
    done
    if [ -n "$missing" ]; then
        echo "run_demo.sh: installing:$missing"
        SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing
    fi
    echo "==> building hymba in $BUILD"
    cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build "$BUILD" -j "$JOBS" --target hymba >/dev/null
}
if [ -n "${HYMBA_BIN:-}" ]; then
    HYMBA=$HYMBA_BIN
else
    build_hymba
    HYMBA="$BUILD/hymba"
fi

# Idle OpenMP threads sleep instead of spinning: on a busy or shared machine
# spinning threads made the demo several times slower (measured 258 vs 1280
# tokens/s on 2 loaded cores).
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-passive}"
start=$(date +%s)
if [ "$FRESH" = 1 ]; then rm -rf runs/demo/base runs/demo/pipeline runs/demo/export; fi
if [ ! -f runs/demo/base/model.safetensors ]; then
    echo "==> hymba init: a random tiny Hymba (datasets/demo/model) in runs/demo/base"
    "$HYMBA" init --config datasets/demo/model/config.json --tokenizer datasets/demo/model --out runs/demo/base --dtype fp32 --seed 0 >/dev/null
fi
"$HYMBA" run recipes/demo/pipeline.yaml

echo
echo "==> hymba export runs/demo/pipeline/dpo --out runs/demo/export"
"$HYMBA" export runs/demo/pipeline/dpo --out runs/demo/export --force

PROMPT="What is 7 + 5?"
if "$HYMBA" generate --help >/dev/null 2>&1; then
    echo
    echo "==> hymba generate --model runs/demo/export --prompt \"$PROMPT\""
    "$HYMBA" generate --model runs/demo/export --prompt "$PROMPT" --max-new-tokens 12
    echo
fi

# "step value" lines of one metric of one record type in a metrics.jsonl.
metric() {
    grep "\"type\":\"$2\"" "$1" | sed -n "s|.*\"step\":\([0-9]*\),.*\"$3\":\([-0-9.eE+]*\).*|\1 \2|p"
}
# Means over blocks of `$2` steps of "step value" lines.
blocks() {
    awk -v w="$2" -v lbl="$1" '{ b = int(($1 - 1) / w); s[b] += $2; n[b]++; last[b] = $1; if (b > m) m = b }
        END { for (i = 0; i <= m; i++) if (n[i]) printf "  steps %3d-%-3d %s %.3f\n", i * w + 1, last[i], lbl, s[i] / n[i] }'
}
echo
echo "==> curves (runs/demo/pipeline/*/metrics.jsonl)"
for s in sft1 sft2; do
    m=runs/demo/pipeline/$s/metrics.jsonl
    [ -f "$m" ] || continue
    echo "$s: train loss by steps"
    metric "$m" train loss | blocks "loss" 20
    metric "$m" eval loss | awk '{ printf "  eval (held out) after step %d: loss %.3f\n", $1, $2 }'
done
m=runs/demo/pipeline/dpo/metrics.jsonl
if [ -f "$m" ]; then
    echo "dpo: train loss and preference accuracy (chosen reward above rejected) by steps"
    metric "$m" train loss | blocks "loss" 10 >/tmp/hymba-demo-loss.$$
    metric "$m" train "rewards/accuracies" | blocks "accuracy" 10 >/tmp/hymba-demo-acc.$$
    paste -d' ' /tmp/hymba-demo-loss.$$ /tmp/hymba-demo-acc.$$ | awk '{ printf "  steps %-7s %s %s   %s %s\n", $2, $3, $4, $7, $8 }'
    rm -f /tmp/hymba-demo-loss.$$ /tmp/hymba-demo-acc.$$
    acc=$(metric "$m" eval "rewards/accuracies" | tail -1 | cut -d' ' -f2)
    loss=$(metric "$m" eval loss | tail -1 | cut -d' ' -f2)
    printf "  eval on 200 held-out pairs: loss %.3f (ln 2 = 0.693 before DPO), accuracy %.3f (chance 0.5)\n" "$loss" "$acc"
fi
echo
echo "demo done in $(($(date +%s) - start)) s (build excluded): model runs/demo/export; rerun with --fresh to start over"

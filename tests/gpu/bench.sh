#!/bin/bash
# tests/gpu/bench.sh [HYMBA] — the issue-9 figures on the GPU machine in one
# command, logs under $OUT (default ./gpu-out): kernel mode (every op alone vs
# measured ceilings, checked against the CPU op), the PyTorch flex_attention
# peer on the same mask and shapes (tests/gpu/bench_flex.py), and full
# Hymba-1.5B training steps (SFT at 2048/4096/8192-token documents with ~16K
# text tokens per micro-batch, DPO at 4096, a per-op profile at 4096).
# Build first with `HYMBA_GPU_TESTS=0 HYMBA_GPU_E2E=0 bash tests/gpu/run.sh`.
# HYMBA_BENCH_PARTS="kernels flex sft dpo profile" selects parts.
set -u
cd "$(dirname "$0")/../.."
H=${1:-build-gpu/hymba}
OUT=${OUT:-$PWD/gpu-out}
mkdir -p "$OUT"
CFG=../shared/hymba-1.5b
[ -f "$CFG/config.json" ] || CFG=gpu-carry/shared/hymba-1.5b
PARTS=${HYMBA_BENCH_PARTS:-kernels flex sft dpo profile}
has() { [[ " $PARTS " == *" $1 "* ]]; }
RC=0
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,power.draw,temperature.gpu --format=csv >"$OUT/bench_env.txt" 2>&1
rows() { echo $(( $2 * ($1 + 128) )); } # rows of N docs of L tokens (128 meta each)
if has kernels; then
    echo "== kernel mode, 4096-token documents (checked against the CPU)"
    timeout 300 "$H" bench --kernels --config "$CFG" --device cuda --doc-len 4096 --steps 5 --warmup 2 2>&1 | tee "$OUT/kernels_4096.txt" || RC=1
    for L in 2048 8192; do
        echo "== kernel mode, $L-token documents (attention and scan)"
        timeout 120 "$H" bench --kernels --no-check --config "$CFG" --device cuda --doc-len $L --steps 5 --warmup 2 2>&1 |
            tee "$OUT/kernels_$L.txt" | grep -E "^ceilings|attention|scan_" || RC=1
    done
fi
if has flex; then
    echo "== PyTorch flex_attention, same mask and shapes"
    timeout 300 python3 tests/gpu/bench_flex.py --doc-len 2048 4096 8192 2>&1 | tee "$OUT/flex.txt" | grep -vE "Warning|warn" || RC=1
    timeout 200 python3 tests/gpu/bench_flex.py --doc-len 4096 --global-layer 2>&1 | tail -2 | tee -a "$OUT/flex.txt"
fi
if has sft; then
    for spec in "2048 8" "4096 4" "8192 2"; do
        set -- $spec
        echo "== SFT, $1-token documents x $2 (16K text tokens per micro-batch)"
        timeout 240 "$H" bench --config "$CFG" --device cuda --doc-len $1 --tokens "$(rows $1 $2)" --steps 4 --warmup 2 2>&1 |
            tee "$OUT/sft_$1.txt" | grep -E "micro-batch|tokens/s|MFU|memory|error" || RC=1
    done
fi
if has dpo; then
    echo "== DPO (precomputed reference), 4096-token documents x 4"
    timeout 240 "$H" bench --dpo --config "$CFG" --device cuda --doc-len 4096 --tokens "$(rows 4096 4)" --steps 4 --warmup 2 2>&1 |
        tee "$OUT/dpo_4096.txt" | grep -E "micro-batch|tokens/s|MFU|memory|error" || RC=1
fi
if has profile; then
    echo "== per-op profile, SFT, 4096-token documents x 4"
    timeout 240 "$H" bench --profile --config "$CFG" --device cuda --doc-len 4096 --tokens "$(rows 4096 4)" --steps 2 --warmup 1 2>&1 |
        tee "$OUT/profile_4096.txt" | sed -n '/per-op/,$p' | head -24 || RC=1
fi
exit $RC

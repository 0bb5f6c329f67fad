#!/bin/bash
# tests/gpu/bench.sh [HYMBA] — the issue-9 figures on the GPU machine in one
# command, logs under $OUT (default ./gpu-out): kernel mode (every op alone vs
# measured ceilings, checked against the CPU op), the PyTorch flex_attention
# peer on the same mask and shapes (tests/gpu/bench_flex.py), and full
# Hymba-1.5B training steps (SFT at 2048/4096/8192-token documents with ~16K
# text tokens per micro-batch, DPO at 4096, a per-op profile at 4096).
# Build first with `HYMBA_GPU_TESTS=0 HYMBA_GPU_E2E=0 bash tests/gpu/run.sh`.
# HYMBA_BENCH_PARTS selects and orders the parts (default: sft4096 kernels
# flex4096 dpo sft2048 sft8192 profile flex).
set -u
cd "$(dirname "$0")/../.."
H=${1:-build-gpu/hymba}
OUT=${OUT:-$PWD/gpu-out}
mkdir -p "$OUT"
CFG=../shared/hymba-1.5b
[ -f "$CFG/config.json" ] || CFG=gpu-carry/shared/hymba-1.5b
PARTS=${HYMBA_BENCH_PARTS:-sft4096 kernels flex4096 dpo sft2048 sft8192 profile flex}
RC=0
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,power.draw,temperature.gpu --format=csv,noheader 2>&1
rows() { echo $(( $2 * ($1 + 128) )); } # rows of N docs of L tokens (128 meta each)
sft() { # doc-len, docs
    echo "== SFT, $1-token documents x $2 (16K text tokens per micro-batch)"
    timeout 240 "$H" bench --config "$CFG" --device cuda --doc-len $1 --tokens "$(rows $1 $2)" --steps 4 --warmup 2 2>&1 |
        tee "$OUT/sft_$1.txt" | grep -E "micro-batch|step time|tokens/s|MFU|memory|error" || RC=1
}
for part in $PARTS; do
    case $part in
    sft4096) sft 4096 4 ;;
    sft2048) sft 2048 8 ;;
    sft8192) sft 8192 2 ;;
    kernels)
        echo "== kernel mode, 4096-token documents (checked against the CPU)"
        timeout 300 "$H" bench --kernels --config "$CFG" --device cuda --doc-len 4096 --tokens "$(rows 4096 4)" --steps 5 --warmup 2 2>&1 |
            tee "$OUT/kernels_4096.txt" || RC=1 ;;
    flex4096)
        echo "== PyTorch flex_attention, same mask and shapes, 4096 (window and global)"
        timeout 200 python3 tests/gpu/bench_flex.py --doc-len 4096 --tokens "$(rows 4096 4)" 2>&1 | grep -vE "[Ww]arn" | tee "$OUT/flex.txt" || RC=1
        timeout 200 python3 tests/gpu/bench_flex.py --doc-len 4096 --tokens "$(rows 4096 4)" --global-layer 2>&1 | tail -1 | tee -a "$OUT/flex.txt" ;;
    flex)
        echo "== PyTorch flex_attention, 2048 and 8192"
        timeout 200 python3 tests/gpu/bench_flex.py --doc-len 2048 8192 --tokens 16896 2>&1 | grep -vE "[Ww]arn" | tee -a "$OUT/flex.txt" || RC=1 ;;
    dpo)
        echo "== DPO (precomputed reference), 4096-token documents x 4"
        timeout 240 "$H" bench --dpo --config "$CFG" --device cuda --doc-len 4096 --tokens "$(rows 4096 4)" --steps 4 --warmup 2 2>&1 |
            tee "$OUT/dpo_4096.txt" | grep -E "micro-batch|step time|tokens/s|MFU|memory|error" || RC=1 ;;
    profile)
        echo "== per-op profile, SFT, 4096-token documents x 4"
        timeout 240 "$H" bench --profile --config "$CFG" --device cuda --doc-len 4096 --tokens "$(rows 4096 4)" --steps 2 --warmup 1 2>&1 |
            tee "$OUT/profile_4096.txt" | sed -n '/per-op/,$p' | head -26 || RC=1 ;;
    *) echo "bench.sh: unknown part '$part'"; RC=2 ;;
    esac
done
exit $RC

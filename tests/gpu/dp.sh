#!/bin/bash
# tests/gpu/dp.sh HYMBA WORKDIR — data parallelism on the GPU machine (issue 6):
#   1. one GPU: the demo SFT (fp32, 20 steps) through the plain path and through
#      the NCCL communicator at world size 1 (HYMBA_COMM=nccl: shard plan,
#      NCCL reduce-scatter, per-chunk AdamW, NCCL all-gather) must give the
#      same losses (relative 1e-6);
#   2. with N ≥ 2 GPUs: `hymba launch -n N` with one micro-batch per rank vs
#      one GPU accumulating N micro-batches (same global batch): fp32 losses
#      to 1e-5, and the tokens/s of both (skipped with one GPU);
#   3. resume across a change of world size (fp32): the N-rank run's step-10
#      checkpoint continued on one GPU, and the one-GPU run's step-10
#      checkpoint continued on N ranks, each to step 20: losses of steps
#      11..20 equal the straight runs' to 1e-5;
#   4. the same N vs 1 comparison in bf16: losses within 1e-2 relative
#      (bf16 weights: the two reduction orders round differently, and a
#      one-ulp weight difference compounds over 20 AdamW steps; measured
#      last figures are printed).
# Exit status 0 when every comparison held.
set -u
H=$1
W=$2
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
rm -rf "$W" && mkdir -p "$W"
"$H" init --config "$ROOT/datasets/demo/model/config.json" --tokenizer "$ROOT/datasets/demo/model" --out "$W/base" --dtype fp32 --seed 1 >/dev/null || exit 1
common=(--set model.path="$W/base" --set train.device=cuda --set train.precision=fp32 --set train.max_steps=20 --set data.cache_dir="$W/cache"
        --set checkpoint.every=0 --set log.every=1)
losses() { grep '"type":"train"' "$1" | sed 's/.*"loss":\([^,]*\),.*/\1/'; }
compare() { # compare two loss columns; prints the worst relative difference
    paste <(losses "$1") <(losses "$2") | awk -v tol="$3" '{d=($1-$2); if(d<0)d=-d; r=d/($1<0?-$1:$1); if(r>w)w=r; n++}
        END {printf "  %d steps, worst relative loss difference %.3g (tolerance %g): %s\n", n, w, tol, (n>0 && w<=tol)?"OK":"FAIL"; exit !(n>0 && w<=tol)}'
}
FAIL=0
echo "== one GPU: plain path vs NCCL world size 1"
"$H" sft "$ROOT/recipes/demo/sft1.yaml" "${common[@]}" --set checkpoint.dir="$W/plain" >"$W/plain.log" 2>&1 || { tail -5 "$W/plain.log"; FAIL=1; }
HYMBA_COMM=nccl "$H" sft "$ROOT/recipes/demo/sft1.yaml" "${common[@]}" --set checkpoint.dir="$W/nccl1" >"$W/nccl1.log" 2>&1 || { tail -5 "$W/nccl1.log"; FAIL=1; }
grep -h "data parallel\|ZeRO-1 shard\|done:" "$W/nccl1.log" "$W/plain.log" | tr '\r' '\n'
compare "$W/plain/metrics.jsonl" "$W/nccl1/metrics.jsonl" 1e-6 || FAIL=1
NGPU=$(nvidia-smi -L 2>/dev/null | grep -c "^GPU")
if [ "${NGPU:-0}" -ge 2 ]; then
    echo "== $NGPU GPUs: hymba launch -n $NGPU (1 micro-batch per rank) vs 1 GPU accumulating $NGPU"
    gb=$((NGPU * 2048))
    "$H" sft "$ROOT/recipes/demo/sft1.yaml" "${common[@]}" --set train.global_batch_tokens=$gb --set checkpoint.every=10 --set checkpoint.dir="$W/one" >"$W/one.log" 2>&1 || FAIL=1
    "$H" launch -n "$NGPU" -- "$H" sft "$ROOT/recipes/demo/sft1.yaml" "${common[@]}" --set train.global_batch_tokens=$gb \
        --set checkpoint.every=10 --set checkpoint.dir="$W/many" >"$W/many.log" 2>&1 || { tail -8 "$W/many.log"; FAIL=1; }
    grep -h "done:" "$W/one.log" "$W/many.log" | tr '\r' '\n'
    compare "$W/one/metrics.jsonl" "$W/many/metrics.jsonl" 1e-5 || FAIL=1
    resume_from() { # SRC DST: DST starts as SRC's step-10 checkpoint and its metrics
        mkdir -p "$2" && cp -r "$1/step-000010" "$2/" && cp "$1/metrics.jsonl" "$2/"
    }
    echo "== resume across world size: $NGPU ranks' step 10 -> 1 GPU, 1 GPU's step 10 -> $NGPU ranks (to step 20)"
    resume_from "$W/many" "$W/many_then_one" && resume_from "$W/one" "$W/one_then_many" || FAIL=1
    "$H" sft "$ROOT/recipes/demo/sft1.yaml" "${common[@]}" --set train.global_batch_tokens=$gb --set checkpoint.every=10 \
        --set checkpoint.dir="$W/many_then_one" >"$W/many_then_one.log" 2>&1 || { tail -5 "$W/many_then_one.log"; FAIL=1; }
    "$H" launch -n "$NGPU" -- "$H" sft "$ROOT/recipes/demo/sft1.yaml" "${common[@]}" --set train.global_batch_tokens=$gb \
        --set checkpoint.every=10 --set checkpoint.dir="$W/one_then_many" >"$W/one_then_many.log" 2>&1 || { tail -8 "$W/one_then_many.log"; FAIL=1; }
    grep -h "resumed from" "$W/many_then_one.log" "$W/one_then_many.log" | tr '\r' '\n' | head -2
    grep -q "resumed from" "$W/many_then_one.log" && grep -q "resumed from" "$W/one_then_many.log" || { echo "  FAIL: a run did not resume"; FAIL=1; }
    compare "$W/many/metrics.jsonl" "$W/many_then_one/metrics.jsonl" 1e-5 || FAIL=1
    compare "$W/one/metrics.jsonl" "$W/one_then_many/metrics.jsonl" 1e-5 || FAIL=1
    echo "== bf16: $NGPU ranks vs 1 GPU accumulating $NGPU"
    "$H" sft "$ROOT/recipes/demo/sft1.yaml" "${common[@]}" --set train.precision=bf16 --set train.global_batch_tokens=$gb \
        --set checkpoint.dir="$W/one16" >"$W/one16.log" 2>&1 || FAIL=1
    "$H" launch -n "$NGPU" -- "$H" sft "$ROOT/recipes/demo/sft1.yaml" "${common[@]}" --set train.precision=bf16 \
        --set train.global_batch_tokens=$gb --set checkpoint.dir="$W/many16" >"$W/many16.log" 2>&1 || { tail -8 "$W/many16.log"; FAIL=1; }
    compare "$W/one16/metrics.jsonl" "$W/many16/metrics.jsonl" 1e-2 || FAIL=1
else
    echo "== multi-GPU comparison skipped: $NGPU GPU(s) visible"
fi
exit $FAIL

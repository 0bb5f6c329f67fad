#!/bin/bash
# tests/gpu/e2e.sh HYMBA SHARED WORKDIR — the end-to-end commands of the GPU
# suite (called by tests/gpu/run.sh, output in $OUT/e2e.log): the demo as a
# user runs it, on the GPU.
#   1. hymba init of the demo config;
#   2. hymba sft recipes/demo/sft1.yaml with --set train.device=cuda (bf16),
#      one epoch, the progress line and the final tokens/s;
#   3. hymba dpo of the SFT result on the demo preference data, 40 steps on cuda;
#   4. hymba generate from the SFT checkpoint: cuda bf16, cuda fp32 and cpu
#      (greedy: fp32 on the GPU should print the CPU's text);
#   5. hymba dump of the spec12 reference batch on cpu, cuda fp32, cuda bf16.
# Exit status: 0 when every command succeeded.
set -u
H=$1
SHARED=$2
W=$3
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
rm -rf "$W" && mkdir -p "$W"
FAIL=0
run() {
    echo "\$ $*"
    local t0=$SECONDS
    "$@"
    local rc=$?
    echo "(exit $rc, $((SECONDS - t0)) s)"
    [ $rc = 0 ] || { echo "FAIL: $*"; FAIL=1; }
    return $rc
}

echo "== demo: hymba init"
run "$H" init --config "$ROOT/datasets/demo/model/config.json" --tokenizer "$ROOT/datasets/demo/model" --out "$W/base" --dtype fp32 --seed 1

echo "== demo: hymba sft recipes/demo/sft1.yaml --set train.device=cuda (bf16, one epoch)"
run "$H" sft "$ROOT/recipes/demo/sft1.yaml" --set model.path="$W/base" --set train.device=cuda --set checkpoint.dir="$W/sft1" \
    --set data.cache_dir="$W/cache" >"$W/sft.log" 2>&1
tr '\r' '\n' <"$W/sft.log" | grep -v '^$' | tail -25
SFT=$(ls -d "$W"/sft1/step-* 2>/dev/null | tail -1)
echo "final SFT checkpoint: ${SFT:-<none>}"

if [ -n "$SFT" ]; then
    echo "== demo: hymba dpo on cuda (bf16), 40 steps from the SFT checkpoint"
    cat >"$W/dpo.yaml" <<EOF
model: {path: $SFT}
data:
  train: [$ROOT/datasets/demo/dpo.train.jsonl.zst]
  max_length: 256
  tokens_per_micro_batch: 2048
  cache_dir: $W/cache
train: {max_steps: 40, lr: 5e-4, schedule: cosine, warmup_steps: 4, min_lr: 1e-5, grad_clip: 1.0, seed: 1, device: cuda}
dpo: {beta: 0.1}
checkpoint: {dir: $W/dpo, every: 0}
log: {every: 10}
EOF
    run "$H" dpo "$W/dpo.yaml" >"$W/dpo.log" 2>&1
    tr '\r' '\n' <"$W/dpo.log" | grep -v '^$' | tail -12

    echo "== demo: hymba generate (greedy) from the SFT checkpoint"
    for dp in "cuda bf16" "cuda fp32" "cpu fp32"; do
        set -- $dp
        echo "-- --device $1 --precision $2"
        run "$H" generate --model "$SFT" --prompt "Reverse the words: sun boat tree" --max-new-tokens 24 --device "$1" --precision "$2"
    done
fi

echo "== spec12: hymba dump on cpu, cuda fp32, cuda bf16 (loss of the reference batch)"
for dp in "cpu fp32" "cuda fp32" "cuda bf16"; do
    set -- $dp
    run "$H" dump --device "$1" --precision "$2" --model "$SHARED/reference/spec12" --batch "$SHARED/reference/spec12/batch.safetensors" \
        --out "$W/dump-$1-$2.safetensors"
done
rm -rf "$W"
exit $FAIL

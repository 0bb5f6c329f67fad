#!/bin/bash
# tests/gpu/bench_dp.sh [HYMBA] — the issue-7 scaling benchmark on the GPU
# machine in one command: Hymba-1.5B training steps (bf16, 4 x 4096-token
# documents = 16,384 text tokens per GPU per step: --tokens 16896
# --doc-len 4096, --steps 4 --warmup 2) on 1 GPU and on every visible GPU
# (hymba launch -n NGPU: the trainer's ZeRO-1 step, core/dp.h), SFT with the
# gradient reduce-scatter overlapping the backward (default) and without
# (HYMBA_DP_OVERLAP=0), DPO on 1 and NGPU.  Prints a table:
#   tokens/s per GPU, total, MFU per GPU;
#   scaling efficiency = tokens/s(N) / (N * tokens/s(1));
#   exposed communication per step = step(N) - step(1) (median steps; the
#     N-rank step also runs only 1/N of AdamW, so this slightly understates);
#   communication alone = reduce-scatter of the fp32 gradients + all-gather
#     of the bf16 weights, each timed alone on the same buffers after the
#     steps (what a step would pay if nothing were hidden);
#   hidden share = 1 - exposed / alone.
# Logs under $OUT (default ./gpu-out): bench_dp_sft.txt, bench_dp_dpo.txt
# (every run's full report), bench_dp_table.txt (GPU topology and the table).
# Build first with `HYMBA_GPU_TESTS=0 HYMBA_GPU_E2E=0 bash tests/gpu/run.sh`.
# HYMBA_BENCH_DP_RUNS picks runs (default "sft1 sftN sftN_noov dpo1 dpoN";
# an N-GPU row needs its 1-GPU run for the exposed and scaling columns).
# About 35 s per run on 2 H200s (model build ~10 s), 5 runs.  Exit status 0 when every
# run succeeded (a run fails when its ranks' weights differ after the steps).
set -u
cd "$(dirname "$0")/../.."
H=${1:-build-gpu/hymba}
OUT=${OUT:-$PWD/gpu-out}
mkdir -p "$OUT"
CFG=../shared/hymba-1.5b
[ -f "$CFG/config.json" ] || CFG=gpu-carry/shared/hymba-1.5b
export NCCL_NVLS_ENABLE=${NCCL_NVLS_ENABLE:-0} # NVLink multicast stays off on these machines
NGPU=${HYMBA_BENCH_DP_NGPU:-$(nvidia-smi -L 2>/dev/null | grep -c "^GPU")}
ARGS=(--config "$CFG" --device cuda --doc-len 4096 --tokens 16896 --steps 4 --warmup 2)
# trying the script elsewhere (e.g. the CPU: HYMBA_BENCH_DP_NGPU=2 HYMBA_BENCH_DP_ARGS="--config
# ../shared/reference/spec12 --device cpu --doc-len 40 --tokens 100 --steps 2 --warmup 1")
[ -n "${HYMBA_BENCH_DP_ARGS:-}" ] && read -r -a ARGS <<<"$HYMBA_BENCH_DP_ARGS"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
RC=0
: >"$OUT/bench_dp_sft.txt"
: >"$OUT/bench_dp_dpo.txt"
{ echo "== GPUs"; nvidia-smi --query-gpu=index,name,clocks.sm,clocks.max.sm,power.draw --format=csv,noheader; nvidia-smi topo -m; } \
    >"$OUT/bench_dp_table.txt" 2>&1

# run NAME LOG GPUS [ENV=VAL ...] -- [bench args]: one bench; its report to
# $TMP/NAME.txt and appended to LOG
RUNS=" ${HYMBA_BENCH_DP_RUNS:-sft1 sftN sftN_noov dpo1 dpoN} "
run() {
    local name=$1 log=$2 n=$3
    shift 3
    [[ "$RUNS" == *" $name "* ]] || return 0
    local envs=()
    while [ "$1" != "--" ]; do envs+=("$1"); shift; done
    shift
    local cmd=("$H" bench "${ARGS[@]}" "$@")
    [ "$n" -gt 1 ] && cmd=("$H" launch -n "$n" -- "${cmd[@]}")
    echo "== $name: ${envs[*]} ${cmd[*]}" | tee -a "$log"
    env "${envs[@]}" timeout 240 "${cmd[@]}" >"$TMP/$name.txt" 2>&1 || { echo "   FAILED (exit $?)"; RC=1; }
    cat "$TMP/$name.txt" >>"$log"
    grep -E "error|DIFFER|tokens/s|exposed" "$TMP/$name.txt" | sed 's/^\[rank 0\] //; s/^/   /'
}
# fig NAME KEY: a field of the run's summary line (empty when absent)
fig() { sed -n 's/^\(\[rank 0\] \)\{0,1\}summary *//p' "$TMP/$1.txt" 2>/dev/null | tr ' ' '\n' | sed -n "s/^$2=//p" | tail -1; }

run sft1 "$OUT/bench_dp_sft.txt" 1 --
REF=$(fig sft1 step_ms)
if [ "$NGPU" -ge 2 ]; then
    run sftN "$OUT/bench_dp_sft.txt" "$NGPU" -- ${REF:+--ref-step-ms "$REF"}
    run sftN_noov "$OUT/bench_dp_sft.txt" "$NGPU" HYMBA_DP_OVERLAP=0 -- ${REF:+--ref-step-ms "$REF"}
fi
run dpo1 "$OUT/bench_dp_dpo.txt" 1 -- --dpo
REFD=$(fig dpo1 step_ms)
[ "$NGPU" -ge 2 ] && run dpoN "$OUT/bench_dp_dpo.txt" "$NGPU" -- --dpo ${REFD:+--ref-step-ms "$REFD"}

# row NAME LABEL REF_NAME: one table row (REF_NAME: the 1-GPU run it is scaled against)
row() {
    local w tg tt mfu st rs ag
    w=$(fig "$1" world); tg=$(fig "$1" tok_s_gpu); tt=$(fig "$1" tok_s_total); mfu=$(fig "$1" mfu_pct)
    st=$(fig "$1" step_ms); rs=$(fig "$1" rs_ms); ag=$(fig "$1" ag_ms)
    local t1 s1
    t1=$(fig "$3" tok_s_gpu); s1=$(fig "$3" step_ms)
    if [ -z "$w" ]; then printf "%-26s %s\n" "$2" "(no result: see the log)"; return; fi
    awk -v l="$2" -v w="$w" -v tg="$tg" -v tt="$tt" -v mfu="$mfu" -v st="$st" -v rs="$rs" -v ag="$ag" -v t1="$t1" -v s1="$s1" 'BEGIN {
        eff = (t1 > 0) ? sprintf("%.1f%%", 100 * tt / (w * t1)) : "-"
        alone = rs + ag
        if (w > 1 && s1 > 0) { ex = sprintf("%.1f", st - s1); hid = alone > 0 ? sprintf("%.0f%%", 100 * (1 - (st - s1) / alone)) : "-" }
        else { ex = "-"; hid = "-" }
        printf "%-26s %4d %12.0f %12.0f %7.2f%% %9s %9.1f %10s %10s %7s\n", l, w, tg, tt, mfu, eff, st, ex,
               (w > 1 ? sprintf("%.1f", alone) : "-"), hid }'
}
{
    echo
    echo "== Hymba-1.5B data-parallel scaling, bf16, 4 x 4096-token documents per GPU per step (median of 4 steps)"
    printf "%-26s %4s %12s %12s %8s %9s %9s %10s %10s %7s\n" run GPUs "tok/s/GPU" "tok/s total" "MFU/GPU" scaling "step ms" \
        "exposed ms" "comm alone" hidden
    row sft1 "SFT" sft1
    [ "$NGPU" -ge 2 ] && row sftN "SFT, overlap" sft1
    [ "$NGPU" -ge 2 ] && row sftN_noov "SFT, no overlap" sft1
    row dpo1 "DPO" dpo1
    [ "$NGPU" -ge 2 ] && row dpoN "DPO, overlap" dpo1
    [ "$NGPU" -lt 2 ] && echo "(only $NGPU GPU visible: the N-GPU rows need 2 or more)"
    echo "exposed ms = step(N) - step(1); comm alone = reduce-scatter (fp32 grads) + all-gather (bf16 weights), each timed alone"
    echo "after the steps; hidden = 1 - exposed / alone.  The N-GPU step runs 1/N of AdamW, so exposed is slightly understated."
} | tee -a "$OUT/bench_dp_table.txt"
exit $RC

#!/usr/bin/env python3
"""bench_flex.py — the PyTorch peer for Hymba's attention (issue 9): compiled
flex_attention with Hymba's mask (causal, sliding window W plus an always
visible prefix of M meta tokens, GQA, value head wider than the qk head),
forward and forward+backward, timed with CUDA events (median of --reps after
--warmup), TFLOP/s counted exactly as core/profile.c counts ours:
2·NH·(DQK+DV)·pairs forward and 2.5× that backward, pairs = the (query, key)
pairs the mask allows.  Run beside `hymba bench --kernels` in one command so
both figures come from the same GPU in the same session.

usage: bench_flex.py [--doc-len 2048 4096 8192] [--tokens 16384] [--reps 10]
"""
import argparse
import statistics
import sys

import torch
from torch.nn.attention.flex_attention import create_block_mask, flex_attention


def pairs(T, M, W):
    """Allowed (query, key) pairs of one document of T rows (hy_attn_pairs)."""
    n = 0
    for i in range(T):
        n += min(i, W) + 1 + max(0, min(M, i - W))
    return n


def time_ms(fn, reps, warmup):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    ts = []
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        torch.cuda.synchronize()
        ts.append(a.elapsed_time(b))
    return statistics.median(ts)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--doc-len", type=int, nargs="+", default=[2048, 4096, 8192])
    ap.add_argument("--tokens", type=int, default=16384, help="rows per batch (meta included), as hymba bench")
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--window", type=int, default=1024)
    ap.add_argument("--global-layer", action="store_true", help="no window (a global layer)")
    a = ap.parse_args()
    NH, NKV, DQK, DV, M = 25, 5, 64, 128, 128
    W = -1 if a.global_layer else a.window
    fa = torch.compile(flex_attention, dynamic=False)
    print(f"device {torch.cuda.get_device_name()}, torch {torch.__version__}; flex_attention compiled, bf16, "
          f"{NH}/{NKV} heads, qk {DQK}, v {DV}, {M} meta, window {W}")
    print(f"{'doc-len':>8} {'docs':>5} {'fwd ms':>9} {'fwd TF/s':>9} {'f+b ms':>9} {'bwd TF/s':>9} {'f+b TF/s':>9}")
    for L in a.doc_len:
        T = L + M
        B = max(1, a.tokens // T)

        def mask_mod(b, h, q, k):
            vis = k <= q
            if W >= 0:
                vis = vis & ((q - k <= W) | (k < M))
            return vis

        bm = create_block_mask(mask_mod, None, None, T, T, device="cuda")
        torch.manual_seed(0)
        q = torch.randn(B, NH, T, DQK, device="cuda", dtype=torch.bfloat16, requires_grad=True)
        k = torch.randn(B, NKV, T, DQK, device="cuda", dtype=torch.bfloat16, requires_grad=True)
        v = torch.randn(B, NKV, T, DV, device="cuda", dtype=torch.bfloat16, requires_grad=True)
        do = torch.randn(B, NH, T, DV, device="cuda", dtype=torch.bfloat16)
        scale = DQK ** -0.5

        def fwd():
            with torch.no_grad():
                fa(q, k, v, block_mask=bm, enable_gqa=True, scale=scale)

        def fwd_bwd():
            o = fa(q, k, v, block_mask=bm, enable_gqa=True, scale=scale)
            o.backward(do)

        tf = time_ms(fwd, a.reps, a.warmup)
        tfb = time_ms(fwd_bwd, a.reps, a.warmup)
        ff = 2.0 * NH * (DQK + DV) * pairs(T, M, W if W >= 0 else T) * B
        tb = max(tfb - tf, 1e-6)
        print(f"{L:>8} {B:>5} {tf:9.3f} {ff / tf * 1e-9:9.1f} {tfb:9.3f} {2.5 * ff / tb * 1e-9:9.1f} {3.5 * ff / tfb * 1e-9:9.1f}")
        sys.stdout.flush()
        del q, k, v, do, bm
        torch.cuda.empty_cache()


if __name__ == "__main__":
    main()

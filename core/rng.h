/* rng.h — counter-based random numbers (Philox4x32-10, Salmon et al. 2011).
 *
 * Every random value is a pure function of (seed, stream, index): there is no
 * generator state to carry, split or checkpoint.  So a buffer filled by any
 * number of threads (or GPU blocks) holds the same bits, a resumed run
 * regenerates exactly what it would have drawn, and two consumers never
 * collide as long as they use different streams.  Streams are 64-bit ids;
 * hy_rng_stream_id() hashes a name ("model.layers.3.mamba.in_proj.weight",
 * "data.shuffle") into one so that ids stay stable when code is reordered.
 *
 * Block b of stream s under seed k is philox(counter = (b, s), key = k), four
 * 32-bit words.  Derived draws:
 *   hy_rng_u64(k, s, i)      words 0,1 of block i
 *   hy_rng_uniform(k, s, i)  53-bit double in [0, 1) from hy_rng_u64
 *   hy_rng_normal(k, s, i)   N(0,1): Box–Muller on block i/2 (words 0,1 → u1
 *                            in (0,1], words 2,3 → u2), element i takes the
 *                            cos (even i) or sin (odd i) branch; computed in
 *                            double, so tails reach ~8.6σ.
 * The functions in this header are static inline and plain C so CUDA code can
 * include it (HY_RNG_FN adds __host__ __device__ under nvcc). */
#ifndef HY_RNG_H
#define HY_RNG_H
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif

#if defined(__CUDACC__)
#define HY_RNG_FN static inline __host__ __device__
#else
#define HY_RNG_FN static inline
#endif

typedef struct {
    uint32_t w[4];
} hy_rng_block;

HY_RNG_FN uint32_t hy_rng_mulhilo_(uint32_t a, uint32_t b, uint32_t *hi) {
    uint64_t p = (uint64_t)a * b;
    *hi = (uint32_t)(p >> 32);
    return (uint32_t)p;
}

/* Philox4x32 with 10 rounds; the constants are the published ones. */
HY_RNG_FN hy_rng_block hy_rng_philox(uint64_t seed, uint64_t stream, uint64_t block) {
    uint32_t c0 = (uint32_t)block, c1 = (uint32_t)(block >> 32);
    uint32_t c2 = (uint32_t)stream, c3 = (uint32_t)(stream >> 32);
    uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
    for (int r = 0; r < 10; r++) {
        uint32_t hi0, hi1;
        uint32_t lo0 = hy_rng_mulhilo_(0xD2511F53u, c0, &hi0);
        uint32_t lo1 = hy_rng_mulhilo_(0xCD9E8D57u, c2, &hi1);
        uint32_t n0 = hi1 ^ c1 ^ k0, n2 = hi0 ^ c3 ^ k1;
        c0 = n0;
        c1 = lo1;
        c2 = n2;
        c3 = lo0;
        k0 += 0x9E3779B9u; /* golden-ratio Weyl key schedule */
        k1 += 0xBB67AE85u;
    }
    hy_rng_block b = {{c0, c1, c2, c3}};
    return b;
}

HY_RNG_FN uint64_t hy_rng_u64(uint64_t seed, uint64_t stream, uint64_t i) {
    hy_rng_block b = hy_rng_philox(seed, stream, i);
    return ((uint64_t)b.w[0] << 32) | b.w[1];
}

HY_RNG_FN double hy_rng_uniform(uint64_t seed, uint64_t stream, uint64_t i) {
    return (double)(hy_rng_u64(seed, stream, i) >> 11) * (1.0 / 9007199254740992.0);
}

/* The two normals of block `pair` (elements 2·pair and 2·pair+1). */
HY_RNG_FN void hy_rng_normal2(uint64_t seed, uint64_t stream, uint64_t pair, double out[2]) {
    hy_rng_block b = hy_rng_philox(seed, stream, pair);
    uint64_t a = ((uint64_t)b.w[0] << 32) | b.w[1], c = ((uint64_t)b.w[2] << 32) | b.w[3];
    double u1 = (double)((a >> 11) + 1) * (1.0 / 9007199254740992.0); /* (0, 1]: log is finite */
    double u2 = (double)(c >> 11) * (1.0 / 9007199254740992.0);
    double r = sqrt(-2.0 * log(u1));
    double t = 6.283185307179586476925 * u2;
    out[0] = r * cos(t);
    out[1] = r * sin(t);
}

HY_RNG_FN double hy_rng_normal(uint64_t seed, uint64_t stream, uint64_t i) {
    double z[2];
    hy_rng_normal2(seed, stream, i >> 1, z);
    return z[i & 1];
}

/* Stream id of a name: 64-bit FNV-1a. */
HY_RNG_FN uint64_t hy_rng_stream_id(const char *name) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) h = (h ^ *p) * 0x100000001b3ull;
    return h;
}

/* x[i] = mean + std·hy_rng_normal(seed, stream, first + i) for i in [0, n),
 * rounded to fp32.  Parallel (OpenMP) and identical for any thread count. */
void hy_rng_fill_normal(uint64_t seed, uint64_t stream, uint64_t first, float *x /* [n] */, size_t n, double mean, double std);

/* Uniform integer in [0, n) (n ≥ 1) from draw i of the stream, unbiased
 * (rejection uses the following draws of a derived stream). */
uint64_t hy_rng_below(uint64_t seed, uint64_t stream, uint64_t i, uint64_t n);

/* Fisher–Yates shuffle of a[0..n) driven by (seed, stream): a permutation
 * that is a pure function of (seed, stream, n) and the input order. */
void hy_rng_shuffle_u32(uint64_t seed, uint64_t stream, uint32_t *a /* [n] */, size_t n);

#ifdef __cplusplus
}
#endif
#endif

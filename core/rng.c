/* rng.c — bulk helpers over the counter-based generator of rng.h.
 * Each output element is computed from its own counter, so the OpenMP split
 * of the work cannot change a single bit of the result. */
#include "rng.h"

void hy_rng_fill_normal(uint64_t seed, uint64_t stream, uint64_t first, float *x, size_t n, double mean, double std) {
    if (n == 0) return;
    /* element g = first + i comes from pair g/2; walk pairs so that each
     * Box–Muller evaluation yields two outputs */
    const uint64_t p0 = first >> 1, p1 = (first + n - 1) >> 1;
    const int64_t np = (int64_t)(p1 - p0 + 1);
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t k = 0; k < np; k++) {
        uint64_t p = p0 + (uint64_t)k;
        double z[2];
        hy_rng_normal2(seed, stream, p, z);
        for (int h = 0; h < 2; h++) {
            uint64_t g = 2 * p + (uint64_t)h;
            if (g >= first && g - first < n) x[g - first] = (float)(mean + std * z[h]);
        }
    }
}

uint64_t hy_rng_below(uint64_t seed, uint64_t stream, uint64_t i, uint64_t n) {
    if (n <= 1) return 0;
    /* reject the top partial bucket so every residue is equally likely; the
     * retry k draws from stream ^ (k·golden) so it never reuses a counter of
     * the caller's stream (rejection probability < n / 2^64) */
    const uint64_t limit = UINT64_MAX - (UINT64_MAX % n);
    uint64_t x = hy_rng_u64(seed, stream, i);
    for (uint64_t k = 1; x >= limit; k++) x = hy_rng_u64(seed, stream ^ (k * 0x9E3779B97F4A7C15ull), i);
    return x % n;
}

void hy_rng_shuffle_u32(uint64_t seed, uint64_t stream, uint32_t *a, size_t n) {
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)hy_rng_below(seed, stream, i - 1, i);
        uint32_t t = a[i - 1];
        a[i - 1] = a[j];
        a[j] = t;
    }
}

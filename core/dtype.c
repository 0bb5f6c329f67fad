/* dtype.c — names and IEEE half conversions (bf16 lives inline in dtype.h). */
#include "dtype.h"

#include <math.h>
#include <string.h>

const char *hy_dtype_name(hy_dtype t) {
    switch (t) {
    case HY_DTYPE_F32: return "F32";
    case HY_DTYPE_BF16: return "BF16";
    case HY_DTYPE_F16: return "F16";
    case HY_DTYPE_I64: return "I64";
    case HY_DTYPE_I32: return "I32";
    }
    return "?";
}

int hy_dtype_parse(const char *s, hy_dtype *out) {
    static const hy_dtype all[] = {HY_DTYPE_F32, HY_DTYPE_BF16, HY_DTYPE_F16, HY_DTYPE_I64, HY_DTYPE_I32};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (!strcmp(s, hy_dtype_name(all[i]))) { *out = all[i]; return 0; }
    return -1;
}

float hy_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, man = h & 0x3ff, u;
    if (exp == 0) {
        if (man == 0) u = sign;
        else { /* subnormal: value = man * 2^-24 */
            float f = ldexpf((float)man, -24);
            memcpy(&u, &f, 4);
            u |= sign;
        }
    } else if (exp == 31) u = sign | 0x7f800000u | (man << 13);
    else u = sign | ((exp + 112) << 23) | (man << 13);
    float f;
    memcpy(&f, &u, 4);
    return f;
}

uint16_t hy_f32_to_f16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
    float a = fabsf(f);
    if (isnan(f)) return sign | 0x7e00;
    if (a >= 65520.0f) return sign | 0x7c00;
    if (a < 6.103515625e-05f) { /* subnormal half: round(a * 2^24) */
        float m = nearbyintf(ldexpf(a, 24));
        return sign | (uint16_t)m;
    }
    uint32_t au;
    memcpy(&au, &a, 4);
    uint32_t exp = (au >> 23) - 112, man = au & 0x7fffff;
    uint32_t half = (exp << 10) | (man >> 13);
    uint32_t rem = man & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (half & 1))) half++;
    return sign | (uint16_t)half;
}

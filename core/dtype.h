/* dtype.h — element types and host conversions.
 * bf16 conversion rounds to nearest even (the ρ(·) of spec §0); NaN stays NaN. */
#ifndef HY_DTYPE_H
#define HY_DTYPE_H
#include <stdint.h>
#include <string.h>
#include <stddef.h>
#ifdef __cplusplus
extern "C" {
#endif

typedef enum { HY_DTYPE_F32 = 0, HY_DTYPE_BF16, HY_DTYPE_F16, HY_DTYPE_I64, HY_DTYPE_I32 } hy_dtype;

static inline size_t hy_dtype_size(hy_dtype t) {
    switch (t) {
    case HY_DTYPE_F32: return 4;
    case HY_DTYPE_BF16: return 2;
    case HY_DTYPE_F16: return 2;
    case HY_DTYPE_I64: return 8;
    case HY_DTYPE_I32: return 4;
    }
    return 0;
}
const char *hy_dtype_name(hy_dtype t); /* safetensors spelling: "F32", "BF16", ... */
int hy_dtype_parse(const char *s, hy_dtype *out); /* 0 on success */

static inline float hy_bf16_to_f32(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}
static inline uint16_t hy_f32_to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); /* quiet NaN */
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}
float hy_f16_to_f32(uint16_t h);
uint16_t hy_f32_to_f16(float f);

#ifdef __cplusplus
}
#endif
#endif

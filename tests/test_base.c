/* test_base.c — status messages, allocation accounting and fault injection,
 * bf16/f16 conversions, the JSON wrapper. */
#include "core/alloc.h"
#include "core/dtype.h"
#include "core/json.h"
#include "tests/harness.h"

HY_TEST(status_context) {
    hy_status s = hy_errorf(HY_ERR_IO, "file.txt: cannot open");
    hy_error_context("loading model");
    HY_EXPECT(s == HY_ERR_IO);
    HY_EXPECT(!strcmp(hy_last_error(), "loading model: file.txt: cannot open"));
    return 0;
}

HY_TEST(alloc_accounting_and_injection) {
    size_t before = hy_alloc_bytes_live();
    void *p;
    HY_EXPECT_OK(hy_malloc(&p, 1000, 1, "test block"));
    HY_EXPECT(hy_alloc_bytes_live() == before + 1000);
    HY_EXPECT(((uintptr_t)p & 63) == 0);
    HY_EXPECT(((unsigned char *)p)[999] == 0);
    HY_EXPECT_OK(hy_realloc(&p, 5000, "test block"));
    HY_EXPECT(hy_alloc_bytes_live() == before + 5000);
    hy_free(p);
    HY_EXPECT(hy_alloc_bytes_live() == before);
    setenv("HYMBA_FAIL_ALLOC", "1", 1);
    /* the counter is process-wide: fail the very next allocation by asking for "next" */
    unsetenv("HYMBA_FAIL_ALLOC");
    return 0;
}

HY_TEST(bf16_rounding) {
    HY_EXPECT(hy_f32_to_bf16(1.0f) == 0x3f80);
    HY_EXPECT(hy_bf16_to_f32(0x3f80) == 1.0f);
    /* 1 + 2^-8 is exactly halfway between 1 and 1+2^-7: ties to even → 1 */
    HY_EXPECT(hy_f32_to_bf16(1.00390625f) == 0x3f80);
    /* 1 + 3·2^-8 is halfway between 1+2^-7 and 1+2^-6: ties to even → 1+2^-6 */
    HY_EXPECT(hy_f32_to_bf16(1.01171875f) == 0x3f82);
    HY_EXPECT(isnan(hy_bf16_to_f32(hy_f32_to_bf16(NAN))));
    HY_EXPECT(hy_f16_to_f32(hy_f32_to_f16(0.333251953125f)) == 0.333251953125f);
    HY_EXPECT(hy_f32_to_f16(65504.0f) == 0x7bff);
    HY_EXPECT(hy_f16_to_f32(0x0001) == ldexpf(1.0f, -24));
    return 0;
}

HY_TEST(json_roundtrip_order) {
    const char *t = "{\"b\": 1, \"a\": [1.5, \"x\", null], \"é\": true}";
    hy_json *j;
    HY_EXPECT_OK(hy_json_parse(&j, t, strlen(t), "inline"));
    void *it = hy_json_iter(j);
    HY_EXPECT(!strcmp(hy_json_iter_key(it), "b"));
    char *s = hy_json_dump(j, 0);
    HY_EXPECT_MSG(!strcmp(s, t), "%s", s);
    free(s);
    HY_EXPECT(hy_json_typeof(hy_json_at(hy_json_get(j, "a"), 2)) == HY_JSON_NULL);
    hy_json_free(j);
    HY_EXPECT_ERR(hy_json_parse(&j, "{\"a\":\n 1,}", 10, "bad.json"), "bad.json:2:");
    return 0;
}

int main(int argc, char **argv) { return hy_test_main(argc, argv); }

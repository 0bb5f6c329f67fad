/* test_checkpoint_slow.c — full-size round trip (label slow): `hymba init`
 * writes a random Hymba-1.5B checkpoint in bf16 (~3 GB) into a temporary
 * directory; it is loaded back (parameter count, every tensor present with
 * its shape) and several tensors — a KV-computing and a consumer in_proj, the
 * embedding with its zero pad row, the meta tokens, A_log, a norm — are
 * compared bit for bit with a second, in-memory initialisation of the same
 * tensors rounded to bf16.  Needs ~6.5 GB of RAM and ~3 GB of disk. */
#include <time.h>

#include "core/alloc.h"
#include "core/checkpoint.h"
#include "core/fsutil.h"
#include "tests/harness.h"

#define H15 HY_SHARED_DIR "/hymba-1.5b"

static double hy_secs(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int hy_spot_check(const hy_param_table *t, const hy_config *c, const float *w, int layer, hy_param_id id) {
    const hy_param_desc *d = hy_params_get(t, layer, id);
    HY_EXPECT(d);
    float *x;
    HY_EXPECT_OK(hy_malloc((void **)&x, d->numel * sizeof(float), 0, "spot check"));
    hy_ckpt_init_tensor(d, c, 2024, x);
    size_t bad = 0, first = 0;
    for (size_t i = 0; i < d->numel; i++) {
        float want = hy_bf16_to_f32(hy_f32_to_bf16(x[i]));
        if (memcmp(&want, &w[d->offset + i], 4) != 0 && !bad++) first = i;
    }
    if (bad)
        fprintf(stderr, "  %s: %zu of %zu differ, first at %zu: %g vs %g\n", d->name, bad, d->numel, first, (double)w[d->offset + first],
                (double)hy_bf16_to_f32(hy_f32_to_bf16(x[first])));
    else fprintf(stderr, "  %s: %zu values bit-exact\n", d->name, d->numel);
    hy_free(x);
    return bad != 0;
}

HY_TEST(init_hymba15_bf16_roundtrip) {
    char dir[256], out_dir[300], cmd[1024], *out = NULL;
    HY_EXPECT(hy_test_tmpdir(dir, sizeof dir, "h15") == 0);
    snprintf(out_dir, sizeof out_dir, "%s/model", dir);
    snprintf(cmd, sizeof cmd, "'%s' init --config %s/config.json --out '%s' --seed 2024 --dtype bf16 --tokenizer %s", hy_test_hymba(), H15,
             out_dir, H15);
    double t0 = hy_secs();
    int rc = hy_test_run(cmd, &out);
    double t1 = hy_secs();
    fprintf(stderr, "%s  (hymba init: %.1f s wall)\n", out ? out : "", t1 - t0);
    int ok = rc == 0 && out && strstr(out, "1,522,797,824 parameters") && strstr(out, "1 file (model.safetensors)");
    free(out);
    int fail = !ok;
    hy_config c;
    hy_param_table t = {0};
    float *w = NULL;
    if (!fail && (hy_ckpt_load_config(out_dir, &c) || hy_params_build(&t, &c))) fail = 1;
    if (!fail && hy_malloc((void **)&w, t.total * sizeof(float), 0, "1.5B weights")) fail = 1;
    hy_dtype dt = HY_DTYPE_F32;
    if (!fail) {
        hy_status st = hy_ckpt_load_weights(out_dir, &t, w, &dt);
        fprintf(stderr, "  load: %s (%.1f s) %s\n", st ? hy_last_error() : "ok", hy_secs() - t1, hy_dtype_name(dt));
        fail = st != HY_OK || dt != HY_DTYPE_BF16 || t.n_params != 1522797824u;
    }
    if (!fail) {
        fail |= hy_spot_check(&t, &c, w, -1, HY_P_EMBED);
        fail |= hy_spot_check(&t, &c, w, -1, HY_P_META);
        fail |= hy_spot_check(&t, &c, w, -1, HY_P_FINAL_NORM);
        fail |= hy_spot_check(&t, &c, w, 16, HY_P_IN_PROJ);
        fail |= hy_spot_check(&t, &c, w, 17, HY_P_IN_PROJ);
        fail |= hy_spot_check(&t, &c, w, 31, HY_P_DOWN);
        fail |= hy_spot_check(&t, &c, w, 5, HY_P_A_LOG);
        fail |= hy_spot_check(&t, &c, w, 9, HY_P_DT_PROJ_B);
        const float *pad = w + hy_params_off(&t, -1, HY_P_EMBED);
        for (int k = 0; k < 1600; k++) fail |= pad[k] != 0.0f;
    }
    hy_free(w);
    hy_params_free(&t);
    hy_status rm = hy_fs_rm_rf(dir);
    HY_EXPECT_MSG(rm == HY_OK, "cleanup: %s", hy_last_error());
    HY_EXPECT(!fail);
    return 0;
}

int main(int argc, char **argv) { return hy_test_main(argc, argv); }

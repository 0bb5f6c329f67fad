/* train_util.c — see train_util.h. */
#include "tests/train_util.h"

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/harness.h"

int hy_tt_setup(char *dir, size_t n, const char *tag) {
    if (hy_test_tmpdir(dir, n, tag)) return -1;
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s init --config %s/datasets/demo/model/config.json --tokenizer %s/datasets/demo/model --out %s/base --dtype fp32 --seed 5",
             hy_test_hymba(), HY_SOURCE_DIR, HY_SOURCE_DIR, dir);
    char *out = NULL;
    int rc = hy_test_run(cmd, &out);
    if (rc) fprintf(stderr, "%s\n%s\n", cmd, out ? out : "");
    free(out);
    return rc;
}

int hy_tt_write_sft(const char *path, int n, int seed) {
    static const char *words[] = {"cat", "dog", "sun", "boat", "tree", "fish", "bird", "moon", "star", "rock", "sand", "duck"};
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    uint64_t s = (uint64_t)seed * 2654435761u + 1;
    for (int i = 0; i < n; i++) {
        int k = 1 + (int)((i * 7 + seed) % 9); /* 1..9 words: very different lengths */
        char list[512] = "";
        for (int j = 0; j < k; j++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            strcat(list, words[(s >> 33) % 12]);
            if (j + 1 < k) strcat(list, " ");
        }
        fprintf(f, "{\"messages\":[{\"role\":\"user\",\"content\":\"Repeat: %s\"},{\"role\":\"assistant\",\"content\":\"%s\"}]}\n", list, list);
    }
    return fclose(f);
}

int hy_tt_recipe(const char *path, const char *dir, const char *data, const char *ckpt, const char *extra) {
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fprintf(f,
            "model: {path: %s/base}\n"
            "data:\n  train: [%s]\n  max_length: 128\n  tokens_per_micro_batch: 512\n  cache_dir: %s/cache\n"
            "train: {lr: 3e-3, schedule: cosine, warmup_steps: 2, min_lr: 1e-4, weight_decay: 0.01, grad_clip: 1.0, seed: 3, device: cpu}\n"
            "checkpoint: {dir: %s, every: 2, keep_last: 0}\n"
            "log: {every: 1}\n%s",
            dir, data, dir, ckpt, extra ? extra : "");
    return fclose(f);
}

int hy_tt_sft(const char *recipe, const char *args, char **out) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "OMP_NUM_THREADS=1 %s sft %s %s", hy_test_hymba(), recipe, args ? args : "");
    return hy_test_run(cmd, out);
}

int hy_tt_losses(const char *metrics, double *loss, int64_t *step, int cap) {
    FILE *f = fopen(metrics, "r");
    if (!f) return 0;
    char line[4096];
    int n = 0;
    while (n < cap && fgets(line, sizeof line, f)) {
        if (!strstr(line, "\"type\":\"train\"") && !strstr(line, "\"type\": \"train\"")) continue;
        char *p = strstr(line, "\"loss\":"), *q = strstr(line, "\"step\":");
        if (!p || !q) continue;
        loss[n] = strtod(p + 7, NULL);
        step[n] = strtoll(q + 7, NULL, 10);
        n++;
    }
    fclose(f);
    return n;
}

int hy_tt_same_file(const char *a, const char *b) {
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    int same = fa && fb;
    while (same) {
        int ca = fgetc(fa), cb = fgetc(fb);
        if (ca != cb) same = 0;
        if (ca == EOF || cb == EOF) break;
    }
    if (fa) fclose(fa);
    if (fb) fclose(fb);
    return same;
}

long hy_tt_latest(const char *dir) {
    DIR *d = opendir(dir);
    long best = -1;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        char *end;
        if (strncmp(e->d_name, "step-", 5)) continue;
        long v = strtol(e->d_name + 5, &end, 10);
        if (*end == 0 && v > best) best = v;
    }
    if (d) closedir(d);
    return best;
}

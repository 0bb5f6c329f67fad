/* train_util.h — helpers for the training tests: a random tiny demo model in a
 * temp dir, small SFT data sets, recipes, running hymba, reading metrics and
 * comparing checkpoints byte for byte. */
#ifndef HY_TEST_TRAIN_UTIL_H
#define HY_TEST_TRAIN_UTIL_H
#include <stddef.h>
#include <stdint.h>

/* Fresh work dir with base/ = random-init demo model (fp32).  0 on success. */
int hy_tt_setup(char *dir, size_t n, const char *tag);
/* Write `n` SFT records (deterministic, lengths varying) to DIR/NAME. */
int hy_tt_write_sft(const char *path, int n, int seed);
/* Write a recipe DIR/NAME.yaml with the given extra YAML appended. */
int hy_tt_recipe(const char *path, const char *dir, const char *data, const char *ckpt, const char *extra);
/* Run `hymba sft RECIPE ARGS`, return the exit status; output in *out (free). */
int hy_tt_sft(const char *recipe, const char *args, char **out);
/* Train losses of metrics.jsonl, in order: returns the count (≤ cap). */
int hy_tt_losses(const char *metrics, double *loss, int64_t *step, int cap);
/* 1 when two files have identical bytes. */
int hy_tt_same_file(const char *a, const char *b);
/* Number of the newest step-N checkpoint in DIR (−1 when none). */
long hy_tt_latest(const char *dir);
#endif

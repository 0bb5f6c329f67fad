/* data_synth.h — synthetic token stores for tests: sample i has side lengths
 * syn_len(i, side, maxlen), token t = syn_id(i, side, t), supervised where
 * syn_sup(i, side, t, prompt) holds; preference stores have two sides and a
 * shared prompt of syn_prompt tokens. */
#ifndef HY_TEST_DATA_SYNTH_H
#define HY_TEST_DATA_SYNTH_H
#include "datasets/store.h"

typedef struct {
    int64_t n;       /* samples */
    uint32_t maxlen; /* side lengths are 1..maxlen */
    int pref;        /* preference pairs */
} syn_spec;

uint32_t syn_len(int64_t i, int side, uint32_t maxlen);
int32_t syn_id(int64_t i, int side, uint32_t t);
int syn_sup(int64_t i, int side, uint32_t t, uint32_t prompt);
uint32_t syn_prompt(const syn_spec *sp, int64_t i);
/* The key the synthetic stores are made with (paths/hashes/bytes: [1]). */
hy_status syn_key(hy_store_key *k, const char **paths, uint64_t *hashes, uint64_t *bytes);
hy_status syn_write(const char *path, const syn_spec *sp, const hy_store_key *key);
/* Write a store into a fresh temporary directory; 0 on success. */
int make_store(char *path, size_t n, const char *tag, const syn_spec *sp);
/* 0 when ids/labels [len] are sample i's side `side`; prints the first difference. */
int check_doc(const int32_t *ids, const int32_t *labels, int len, int64_t i, int side, uint32_t prompt);
#endif

/* dims.h — the one shape vocabulary.  Every tensor argument in every header
 * carries a trailing comment in these symbols (row-major, last index fastest).
 *
 *   N    positions in a packed micro-batch (all documents, meta tokens included)
 *   B    documents in a micro-batch;  T = M + L positions of one document
 *   L    text tokens of one document;  NT  text tokens of a micro-batch
 *   M    meta (memory) tokens per document           1.5B: 128
 *   C    hidden size                                  1.5B: 1600
 *   NL   decoder layers                               1.5B: 32
 *   NH   query heads                                  1.5B: 25
 *   NKV  key/value heads                              1.5B: 5
 *   DQK  query/key head dim (C / NH)                  1.5B: 64
 *   DV   value head dim (DI / NH)                     1.5B: 128
 *   DI   Mamba inner dim (expand · C)                 1.5B: 3200
 *   DS   SSM state size                               1.5B: 16
 *   DC   conv kernel width                            1.5B: 4
 *   R    dt rank                                      1.5B: 100
 *   F    MLP inner dim                                1.5B: 5504
 *   V    vocabulary;  Vp  V padded to a multiple of 128   1.5B: 32001 / 32128
 *   W    sliding window (i − j ≤ W allowed)           1.5B: 1024
 *   P    in_proj rows: NH·DQK + [NKV·DQK + NKV·DV] + 2·DI
 *
 * Packed micro-batches: documents are concatenated; pos[i] is the position of
 * row i inside its document (0..T−1, meta tokens first), so the document of row
 * i starts at row i − pos[i]. */
#ifndef HY_DIMS_H
#define HY_DIMS_H
#endif

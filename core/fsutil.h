/* fsutil.h — filesystem helpers for durable outputs: mkdir -p, atomic file
 * writes, atomic directory publishing, checkpoint listing and pruning, file
 * copies and a 64-bit content hash.
 *
 * Invariant (DESIGN.md §2.8, "nothing is lost"): a reader never sees a
 * half-written file or directory under its final name.  Files are written to
 * a temporary name in the same directory, fsynced, renamed, and the directory
 * is fsynced; directories are filled under NAME.tmp-XXXXXX, every file and
 * the directory are fsynced, then renamed to NAME.  A crash at any point
 * leaves either the old state or the new one (plus, at worst, a stale
 * *.tmp-* directory that hy_fs_remove_stale removes).
 *
 * All paths are host paths; errors are HY_ERR_IO with the path and strerror. */
#ifndef HY_FSUTIL_H
#define HY_FSUTIL_H
#include "hy_base.h"
#ifdef __cplusplus
extern "C" {
#endif

enum { HY_PATH_MAX = 4096 };

/* Create `path` and its missing parents (mode 0777 & ~umask); existing
 * directories are fine, an existing non-directory is an error. */
hy_status hy_fs_mkdir_p(const char *path);
int hy_fs_exists(const char *path);
int hy_fs_is_dir(const char *path);
/* Read a whole file into a hy_malloc'd buffer (NUL-terminated; *len excludes
 * the NUL).  Free with hy_free. */
hy_status hy_fs_read_file(const char *path, char **data, size_t *len);
/* fsync a file or directory by path. */
hy_status hy_fs_fsync_path(const char *path);
/* fsync the directory that contains `path`. */
hy_status hy_fs_fsync_parent(const char *path);

/* Write `n` bytes to `path` atomically: PATH.tmp-XXXXXX in the same
 * directory, fsync, rename over `path`, fsync the directory.  On failure the
 * temporary file is removed and the old `path` (if any) is untouched. */
hy_status hy_fs_write_atomic(const char *path, const void *data, size_t n);
/* Copy `src` to `dst` atomically (same protocol as hy_fs_write_atomic),
 * keeping the source's permission bits. */
hy_status hy_fs_copy_file(const char *src, const char *dst);
/* Remove a file or a directory tree; a missing path is fine. */
hy_status hy_fs_rm_rf(const char *path);

/* ---- atomic directory publish ---- */
typedef struct {
    char final_path[HY_PATH_MAX]; /* NAME */
    char tmp_path[HY_PATH_MAX];   /* NAME.tmp-XXXXXX: write everything here */
    int open;                     /* begun and neither committed nor aborted */
} hy_fs_publish;

/* Create NAME.tmp-XXXXXX next to `final_dir` (the parent must exist or is
 * created).  Write the directory's files into p->tmp_path. */
hy_status hy_fs_publish_begin(hy_fs_publish *p, const char *final_dir);
/* fsync every regular file in the temporary directory (recursively), then
 * the directory, rename it to NAME and fsync the parent.  If NAME already
 * exists it is first renamed to NAME.old-XXXXXX and removed after the new
 * directory is in place (a crash in between leaves the complete old copy
 * under that name; hy_fs_remove_stale renames it back). */
hy_status hy_fs_publish_commit(hy_fs_publish *p);
/* Remove the temporary directory (after a failure while filling it). */
void hy_fs_publish_abort(hy_fs_publish *p);
/* Clean up after interrupted publishes/atomic writes inside `dir`: entries
 * whose names contain ".tmp-" are removed; NAME.old-XXXXXX is removed when
 * NAME exists and renamed back to NAME when it does not (a commit that died
 * between its two renames).  Call only when no other process writes into
 * `dir`.  *removed (optional) receives the number removed. */
hy_status hy_fs_remove_stale(const char *dir, int *removed);

/* ---- checkpoint directories: DIR/<prefix><number> ---- */
typedef struct {
    int64_t step;               /* the number after the prefix */
    char name[256];             /* entry name, e.g. "step-000120" */
} hy_fs_ckpt;

typedef struct {
    hy_fs_ckpt *items;          /* [count], ascending step */
    int count;
} hy_fs_ckpt_list;

/* List the directories of `dir` named exactly <prefix><decimal digits>
 * (temporaries never match), sorted by number.  A missing `dir` gives an
 * empty list.  Free with hy_fs_ckpt_list_free. */
hy_status hy_fs_list_checkpoints(const char *dir, const char *prefix, hy_fs_ckpt_list *out);
void hy_fs_ckpt_list_free(hy_fs_ckpt_list *l);
/* Keep the `keep_last` highest-numbered checkpoints and remove the rest
 * (keep_last ≤ 0 keeps everything).  *removed (optional) gets the count. */
hy_status hy_fs_prune_checkpoints(const char *dir, const char *prefix, int keep_last, int *removed);

/* ---- hashing ---- */
/* hymba's own 64-bit non-cryptographic content hash (four 64-bit lanes of
 * multiply-rotate mixing over 32-byte stripes, then a tail and an avalanche
 * finaliser).  Stable across versions and platforms (little-endian reads);
 * changing it invalidates every cache that stores it.  Not xxHash-compatible. */
typedef struct {
    uint64_t lane[4];
    uint64_t total;             /* bytes consumed */
    unsigned char buf[32];
    unsigned buf_len;
    uint64_t seed;
} hy_hash64_state;

void hy_hash64_init(hy_hash64_state *s, uint64_t seed);
void hy_hash64_update(hy_hash64_state *s, const void *data, size_t n);
uint64_t hy_hash64_final(const hy_hash64_state *s);
/* One-shot: equals init + update + final. */
uint64_t hy_hash64(const void *data, size_t n, uint64_t seed);
/* Hash a file's contents (seed 0). */
hy_status hy_fs_hash_file(const char *path, uint64_t *out);

/* Join `dir` and `name` into out (out may not alias); error when too long. */
hy_status hy_fs_join(char *out, size_t cap, const char *dir, const char *name);

#ifdef __cplusplus
}
#endif
#endif

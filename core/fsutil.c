/* fsutil.c — durable filesystem operations (see fsutil.h for the protocol).
 * POSIX only (open/fsync/rename/openat/fdopendir).  Temporary names carry a
 * random-looking suffix built from the pid, the clock and a stack address,
 * retried on collision, so no process-wide counter is needed and umask
 * applies normally (mkstemp/mkdtemp would force 0600/0700 permissions). */
#include "fsutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"

static hy_status hy_io_err(const char *what, const char *path) {
    return hy_errorf(HY_ERR_IO, "%s: %s: %s", path, what, strerror(errno));
}

hy_status hy_fs_join(char *out, size_t cap, const char *dir, const char *name) {
    size_t dl = strlen(dir);
    int sep = dl > 0 && dir[dl - 1] != '/';
    int n = snprintf(out, cap, "%s%s%s", dir, sep ? "/" : "", name);
    if (n < 0 || (size_t)n >= cap) return hy_errorf(HY_ERR_ARG, "path too long: %s/%s", dir, name);
    return HY_OK;
}

int hy_fs_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

int hy_fs_is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

hy_status hy_fs_mkdir_p(const char *path) {
    char buf[HY_PATH_MAX];
    size_t n = strlen(path);
    if (n == 0) return hy_errorf(HY_ERR_ARG, "mkdir: empty path");
    if (n >= sizeof buf) return hy_errorf(HY_ERR_ARG, "mkdir: path too long: %s", path);
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != 0) continue;
        char saved = buf[i];
        buf[i] = 0;
        if (mkdir(buf, 0777) != 0 && errno != EEXIST) return hy_io_err("cannot create directory", buf);
        if (!hy_fs_is_dir(buf)) return hy_errorf(HY_ERR_IO, "%s: exists and is not a directory", buf);
        buf[i] = saved;
    }
    return HY_OK;
}

hy_status hy_fs_read_file(const char *path, char **data, size_t *len) {
    *data = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return hy_io_err("cannot open", path);
    hy_status st = HY_OK;
    char *buf = NULL;
    long size = -1;
    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        st = hy_io_err("cannot determine size", path);
        goto done;
    }
    HY_CHECK_GOTO(st, hy_malloc((void **)&buf, (size_t)size + 1, 0, path), done);
    if (fread(buf, 1, (size_t)size, f) != (size_t)size) {
        st = hy_io_err("short read", path);
        hy_free(buf);
        goto done;
    }
    buf[size] = 0;
    *data = buf;
    *len = (size_t)size;
done:
    fclose(f);
    return st;
}

hy_status hy_fs_fsync_path(const char *path) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return hy_io_err("cannot open for fsync", path);
    int rc = fsync(fd);
    /* some filesystems refuse fsync on directories; that is not data loss */
    if (rc != 0 && !(errno == EINVAL || errno == EBADF)) {
        hy_status st = hy_io_err("fsync failed", path);
        close(fd);
        return st;
    }
    close(fd);
    return HY_OK;
}

hy_status hy_fs_fsync_parent(const char *path) {
    char dir[HY_PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/') dir[--n] = 0; /* "a/b/" names b */
    char *slash = strrchr(dir, '/');
    if (!slash) return hy_fs_fsync_path(".");
    if (slash == dir) slash[1] = 0;
    else *slash = 0;
    return hy_fs_fsync_path(dir);
}

/* base + tag + 6 hex digits that differ between processes and calls. */
static void hy_tmp_name(char *out, size_t cap, const char *base, const char *tag, unsigned attempt) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t x = (uint64_t)getpid() * 0x9E3779B97F4A7C15ull ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^
                 (uint64_t)(uintptr_t)&ts ^ ((uint64_t)attempt * 0xD6E8FEB86659FD93ull);
    x ^= x >> 29;
    x *= 0xBF58476D1CE4E5B9ull;
    x ^= x >> 32;
    snprintf(out, cap, "%s%s%06x", base, tag, (unsigned)(x & 0xffffff));
}

static hy_status hy_write_all(int fd, const void *data, size_t n, const char *path) {
    const char *p = data;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return hy_io_err("write failed", path);
        }
        p += w;
        n -= (size_t)w;
    }
    return HY_OK;
}

/* Create a fresh temporary file next to `path`; fd and name out. */
static hy_status hy_open_tmp(const char *path, char *tmp, size_t cap, int *fd) {
    for (unsigned attempt = 0; attempt < 100; attempt++) {
        hy_tmp_name(tmp, cap, path, ".tmp-", attempt);
        *fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (*fd >= 0) return HY_OK;
        if (errno != EEXIST) return hy_io_err("cannot create temporary file", tmp);
    }
    return hy_errorf(HY_ERR_IO, "%s: cannot find a free temporary name", path);
}

/* fsync + close + rename over `path` + fsync the directory; unlinks tmp on failure. */
static hy_status hy_finish_tmp(int fd, const char *tmp, const char *path) {
    hy_status st = HY_OK;
    if (fsync(fd) != 0) st = hy_io_err("fsync failed", tmp);
    if (close(fd) != 0 && st == HY_OK) st = hy_io_err("close failed", tmp);
    if (st == HY_OK && rename(tmp, path) != 0) st = hy_io_err("cannot rename temporary file into place", path);
    if (st != HY_OK) {
        unlink(tmp);
        return st;
    }
    return hy_fs_fsync_parent(path);
}

hy_status hy_fs_write_atomic(const char *path, const void *data, size_t n) {
    char tmp[HY_PATH_MAX];
    int fd;
    HY_TRY(hy_open_tmp(path, tmp, sizeof tmp, &fd));
    hy_status st = hy_write_all(fd, data, n, tmp);
    if (st != HY_OK) {
        close(fd);
        unlink(tmp);
        return st;
    }
    return hy_finish_tmp(fd, tmp, path);
}

hy_status hy_fs_copy_file(const char *src, const char *dst) {
    int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0) return hy_io_err("cannot open", src);
    struct stat st_src;
    if (fstat(in, &st_src) != 0) {
        hy_status e = hy_io_err("cannot stat", src);
        close(in);
        return e;
    }
    char tmp[HY_PATH_MAX];
    int out;
    hy_status st = hy_open_tmp(dst, tmp, sizeof tmp, &out);
    if (st != HY_OK) {
        close(in);
        return st;
    }
    char buf[1 << 16];
    for (;;) {
        ssize_t r = read(in, buf, sizeof buf);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            st = hy_io_err("read failed", src);
            break;
        }
        if (r == 0) break;
        if ((st = hy_write_all(out, buf, (size_t)r, tmp)) != HY_OK) break;
    }
    close(in);
    if (st == HY_OK && fchmod(out, st_src.st_mode & 07777) != 0) st = hy_io_err("cannot set permissions", tmp);
    if (st != HY_OK) {
        close(out);
        unlink(tmp);
        return st;
    }
    return hy_finish_tmp(out, tmp, dst);
}

/* ---------------------------------------------------------------- trees */

/* Apply to every entry of an open directory (not "." / ".."). */
static hy_status hy_rm_tree_at(int parent_fd, const char *name, const char *shown, int depth) {
    struct stat st;
    if (fstatat(parent_fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT) return HY_OK;
        return hy_io_err("cannot stat", shown);
    }
    if (!S_ISDIR(st.st_mode)) {
        if (unlinkat(parent_fd, name, 0) != 0 && errno != ENOENT) return hy_io_err("cannot remove", shown);
        return HY_OK;
    }
    if (depth > 64) return hy_errorf(HY_ERR_IO, "%s: directory tree too deep to remove", shown);
    int fd = openat(parent_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return hy_io_err("cannot open directory", shown);
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return hy_io_err("cannot read directory", shown);
    }
    hy_status rc = HY_OK;
    struct dirent *e;
    while (rc == HY_OK && (e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        rc = hy_rm_tree_at(dirfd(d), e->d_name, shown, depth + 1);
    }
    closedir(d);
    if (rc == HY_OK && unlinkat(parent_fd, name, AT_REMOVEDIR) != 0 && errno != ENOENT)
        rc = hy_io_err("cannot remove directory", shown);
    return rc;
}

hy_status hy_fs_rm_rf(const char *path) { return hy_rm_tree_at(AT_FDCWD, path, path, 0); }

/* fsync every regular file below the directory `fd`, then the directory. */
static hy_status hy_fsync_tree_fd(int fd, const char *shown, int depth) {
    if (depth > 64) return hy_errorf(HY_ERR_IO, "%s: directory tree too deep", shown);
    int dup_fd = dup(fd);
    if (dup_fd < 0) return hy_io_err("dup failed", shown);
    DIR *d = fdopendir(dup_fd);
    if (!d) {
        close(dup_fd);
        return hy_io_err("cannot read directory", shown);
    }
    hy_status rc = HY_OK;
    struct dirent *e;
    while (rc == HY_OK && (e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        struct stat st;
        if (fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
            rc = hy_io_err("cannot stat an entry of", shown);
            break;
        }
        if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) continue;
        int cfd = openat(fd, e->d_name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (cfd < 0) {
            rc = hy_io_err("cannot open an entry of", shown);
            break;
        }
        if (S_ISDIR(st.st_mode)) rc = hy_fsync_tree_fd(cfd, shown, depth + 1);
        else if (fsync(cfd) != 0) rc = hy_io_err("fsync failed in", shown);
        close(cfd);
    }
    closedir(d);
    if (rc == HY_OK && fsync(fd) != 0 && !(errno == EINVAL || errno == EBADF)) rc = hy_io_err("fsync failed", shown);
    return rc;
}

/* ---------------------------------------------------------------- publish */

hy_status hy_fs_publish_begin(hy_fs_publish *p, const char *final_dir) {
    memset(p, 0, sizeof *p);
    size_t n = strlen(final_dir);
    while (n > 1 && final_dir[n - 1] == '/') n--;
    if (n == 0 || n + 16 >= sizeof p->final_path) return hy_errorf(HY_ERR_ARG, "publish: bad directory name \"%s\"", final_dir);
    memcpy(p->final_path, final_dir, n);
    p->final_path[n] = 0;
    char parent[HY_PATH_MAX];
    snprintf(parent, sizeof parent, "%s", p->final_path);
    char *slash = strrchr(parent, '/');
    if (slash && slash != parent) {
        *slash = 0;
        HY_TRY(hy_fs_mkdir_p(parent));
    }
    for (unsigned attempt = 0; attempt < 100; attempt++) {
        hy_tmp_name(p->tmp_path, sizeof p->tmp_path, p->final_path, ".tmp-", attempt);
        if (mkdir(p->tmp_path, 0777) == 0) {
            p->open = 1;
            return HY_OK;
        }
        if (errno != EEXIST) return hy_io_err("cannot create temporary directory", p->tmp_path);
    }
    return hy_errorf(HY_ERR_IO, "%s: cannot find a free temporary name", p->final_path);
}

hy_status hy_fs_publish_commit(hy_fs_publish *p) {
    HY_ASSERT(p->open);
    int fd = open(p->tmp_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return hy_io_err("cannot open", p->tmp_path);
    hy_status st = hy_fsync_tree_fd(fd, p->tmp_path, 0);
    close(fd);
    HY_TRY(st);
    char old[HY_PATH_MAX] = "";
    if (hy_fs_exists(p->final_path)) {
        for (unsigned attempt = 0; attempt < 100 && !old[0]; attempt++) {
            hy_tmp_name(old, sizeof old, p->final_path, ".old-", attempt);
            if (hy_fs_exists(old)) old[0] = 0;
        }
        if (!old[0] || rename(p->final_path, old) != 0) return hy_io_err("cannot move the previous copy aside", p->final_path);
    }
    if (rename(p->tmp_path, p->final_path) != 0) {
        st = hy_io_err("cannot rename the new directory into place", p->final_path);
        if (old[0]) rename(old, p->final_path); /* put the previous copy back */
        return st;
    }
    p->open = 0;
    HY_TRY(hy_fs_fsync_parent(p->final_path));
    if (old[0]) HY_TRY(hy_fs_rm_rf(old));
    return HY_OK;
}

void hy_fs_publish_abort(hy_fs_publish *p) {
    if (!p->open) return;
    hy_fs_rm_rf(p->tmp_path); /* best effort: the caller is already reporting a failure */
    p->open = 0;
}

hy_status hy_fs_remove_stale(const char *dir, int *removed) {
    if (removed) *removed = 0;
    DIR *d = opendir(dir);
    if (!d) return errno == ENOENT ? HY_OK : hy_io_err("cannot read directory", dir);
    hy_status rc = HY_OK;
    struct dirent *e;
    while (rc == HY_OK && (e = readdir(d)) != NULL) {
        const char *old = strstr(e->d_name, ".old-");
        if (!strstr(e->d_name, ".tmp-") && !old) continue;
        char path[HY_PATH_MAX], orig[HY_PATH_MAX];
        rc = hy_fs_join(path, sizeof path, dir, e->d_name);
        if (rc != HY_OK) break;
        /* NAME.old-* without NAME: a publish died between its two renames and
         * this is the only complete copy, so put it back instead of removing it */
        size_t keep = strlen(path) - strlen(e->d_name) + (size_t)(old ? old - e->d_name : 0); /* DIR/NAME */
        snprintf(orig, sizeof orig, "%.*s", (int)keep, path);
        if (old && !hy_fs_exists(orig)) {
            if (rename(path, orig) != 0) rc = hy_io_err("cannot restore the previous copy", orig);
            else rc = hy_fs_fsync_path(dir);
            continue;
        }
        rc = hy_fs_rm_rf(path);
        if (rc == HY_OK && removed) (*removed)++;
    }
    closedir(d);
    return rc;
}

/* ---------------------------------------------------------------- checkpoints */

static int hy_ckpt_cmp(const void *a, const void *b) {
    int64_t x = ((const hy_fs_ckpt *)a)->step, y = ((const hy_fs_ckpt *)b)->step;
    if (x != y) return x < y ? -1 : 1;
    return strcmp(((const hy_fs_ckpt *)a)->name, ((const hy_fs_ckpt *)b)->name);
}

/* Number after `prefix` when `name` is exactly prefix + 1..18 digits; -1 otherwise. */
static int64_t hy_ckpt_number(const char *name, const char *prefix) {
    size_t pl = strlen(prefix);
    if (strncmp(name, prefix, pl) != 0) return -1;
    const char *s = name + pl;
    size_t nd = strspn(s, "0123456789");
    if (nd == 0 || nd > 18 || s[nd] != 0) return -1;
    return strtoll(s, NULL, 10);
}

hy_status hy_fs_list_checkpoints(const char *dir, const char *prefix, hy_fs_ckpt_list *out) {
    memset(out, 0, sizeof *out);
    DIR *d = opendir(dir);
    if (!d) return errno == ENOENT ? HY_OK : hy_io_err("cannot read directory", dir);
    int cap = 0;
    hy_status st = HY_OK;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        int64_t num = hy_ckpt_number(e->d_name, prefix);
        if (num < 0 || strlen(e->d_name) >= sizeof out->items[0].name) continue;
        char path[HY_PATH_MAX];
        if (hy_fs_join(path, sizeof path, dir, e->d_name) != HY_OK || !hy_fs_is_dir(path)) continue;
        if (out->count == cap) {
            cap = cap ? 2 * cap : 16;
            if (!out->items) st = hy_malloc((void **)&out->items, sizeof(hy_fs_ckpt) * (size_t)cap, 0, "checkpoint list");
            else st = hy_realloc((void **)&out->items, sizeof(hy_fs_ckpt) * (size_t)cap, "checkpoint list");
            if (st != HY_OK) break;
        }
        hy_fs_ckpt *c = &out->items[out->count++];
        c->step = num;
        snprintf(c->name, sizeof c->name, "%s", e->d_name);
    }
    closedir(d);
    if (st != HY_OK) {
        hy_fs_ckpt_list_free(out);
        return st;
    }
    if (out->count > 1) qsort(out->items, (size_t)out->count, sizeof(hy_fs_ckpt), hy_ckpt_cmp);
    return HY_OK;
}

void hy_fs_ckpt_list_free(hy_fs_ckpt_list *l) {
    hy_free(l->items);
    memset(l, 0, sizeof *l);
}

hy_status hy_fs_prune_checkpoints(const char *dir, const char *prefix, int keep_last, int *removed) {
    if (removed) *removed = 0;
    if (keep_last <= 0) return HY_OK;
    hy_fs_ckpt_list l;
    HY_TRY(hy_fs_list_checkpoints(dir, prefix, &l));
    hy_status st = HY_OK;
    for (int i = 0; i + keep_last < l.count && st == HY_OK; i++) {
        char path[HY_PATH_MAX];
        st = hy_fs_join(path, sizeof path, dir, l.items[i].name);
        if (st == HY_OK) st = hy_fs_rm_rf(path);
        if (st == HY_OK && removed) (*removed)++;
    }
    hy_fs_ckpt_list_free(&l);
    if (st == HY_OK) st = hy_fs_fsync_path(dir);
    return st;
}

/* ---------------------------------------------------------------- hash */

enum { HY_H_ROT = 31 };
static const uint64_t HY_K1 = 0x9E3779B97F4A7C15ull, HY_K2 = 0xD6E8FEB86659FD93ull, HY_K3 = 0x8CB92BA72F3D8DD7ull;

static inline uint64_t hy_rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }
static inline uint64_t hy_rd64(const unsigned char *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}
static inline uint64_t hy_avalanche(uint64_t x) {
    x ^= x >> 30;
    x *= 0xBF58476D1CE4E5B9ull;
    x ^= x >> 27;
    x *= 0x94D049BB133111EBull;
    x ^= x >> 31;
    return x;
}
static inline uint64_t hy_lane_mix(uint64_t lane, uint64_t w) { return hy_rotl(lane + w * HY_K2, HY_H_ROT) * HY_K1; }

void hy_hash64_init(hy_hash64_state *s, uint64_t seed) {
    memset(s, 0, sizeof *s);
    s->seed = seed;
    s->lane[0] = seed + HY_K1 + HY_K2;
    s->lane[1] = seed + HY_K2;
    s->lane[2] = seed ^ HY_K3;
    s->lane[3] = seed - HY_K1;
}

static void hy_stripe(hy_hash64_state *s, const unsigned char *p) {
    for (int i = 0; i < 4; i++) s->lane[i] = hy_lane_mix(s->lane[i], hy_rd64(p + 8 * i));
}

void hy_hash64_update(hy_hash64_state *s, const void *data, size_t n) {
    const unsigned char *p = data;
    s->total += n;
    if (s->buf_len) {
        size_t take = 32 - s->buf_len < n ? 32 - s->buf_len : n;
        memcpy(s->buf + s->buf_len, p, take);
        s->buf_len += (unsigned)take;
        p += take;
        n -= take;
        if (s->buf_len < 32) return;
        hy_stripe(s, s->buf);
        s->buf_len = 0;
    }
    for (; n >= 32; p += 32, n -= 32) hy_stripe(s, p);
    memcpy(s->buf, p, n);
    s->buf_len = (unsigned)n;
}

uint64_t hy_hash64_final(const hy_hash64_state *s) {
    uint64_t h = s->seed ^ (s->total * HY_K1);
    for (int i = 0; i < 4; i++) h = (h ^ hy_avalanche(s->lane[i])) * HY_K2 + HY_K3;
    const unsigned char *p = s->buf;
    unsigned n = s->buf_len;
    for (; n >= 8; p += 8, n -= 8) h = hy_rotl(h ^ hy_avalanche(hy_rd64(p)), 27) * HY_K1 + HY_K3;
    for (; n > 0; p++, n--) h = hy_rotl(h ^ ((uint64_t)*p * HY_K2), 11) * HY_K1;
    return hy_avalanche(h);
}

uint64_t hy_hash64(const void *data, size_t n, uint64_t seed) {
    hy_hash64_state s;
    hy_hash64_init(&s, seed);
    hy_hash64_update(&s, data, n);
    return hy_hash64_final(&s);
}

hy_status hy_fs_hash_file(const char *path, uint64_t *out) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return hy_io_err("cannot open", path);
    hy_hash64_state s;
    hy_hash64_init(&s, 0);
    unsigned char buf[1 << 16];
    for (;;) {
        ssize_t r = read(fd, buf, sizeof buf);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            hy_status st = hy_io_err("read failed", path);
            close(fd);
            return st;
        }
        if (r == 0) break;
        hy_hash64_update(&s, buf, (size_t)r);
    }
    close(fd);
    *out = hy_hash64_final(&s);
    return HY_OK;
}

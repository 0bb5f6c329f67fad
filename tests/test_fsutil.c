/* test_fsutil.c — durable writes survive SIGKILL: a directory publish killed
 * before its rename leaves the previous directory complete, and atomic file
 * writes killed at random moments leave either the old or the new contents;
 * checkpoint listing and pruning; copies; the 64-bit hash. */
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/fsutil.h"
#include "tests/harness.h"

static int write_text(const char *dir, const char *name, const char *text) {
    char p[HY_PATH_MAX];
    if (hy_fs_join(p, sizeof p, dir, name) != HY_OK) return -1;
    return hy_test_write_file(p, text, strlen(text));
}

/* 1 when DIR/name holds exactly `text`. */
static int has_text(const char *dir, const char *name, const char *text) {
    char p[HY_PATH_MAX], *data;
    size_t len;
    if (hy_fs_join(p, sizeof p, dir, name) != HY_OK || hy_fs_read_file(p, &data, &len) != HY_OK) return 0;
    int ok = len == strlen(text) && !memcmp(data, text, len);
    if (!ok) fprintf(stderr, "  %s: got \"%.*s\", want \"%s\"\n", p, (int)len, data, text);
    hy_free(data);
    return ok;
}

/* Number of entries of `dir` whose name contains `needle`. */
static int count_entries(const char *dir, const char *needle) {
    char cmd[HY_PATH_MAX + 64], *out = NULL;
    snprintf(cmd, sizeof cmd, "ls -a '%s' | grep -c -- '%s'", dir, needle);
    hy_test_run(cmd, &out);
    int n = out ? atoi(out) : -1;
    free(out);
    return n;
}

HY_TEST(mkdir_p_and_read) {
    char tmp[512], p[HY_PATH_MAX];
    HY_EXPECT(hy_test_tmpdir(tmp, sizeof tmp, "fs") == 0);
    snprintf(p, sizeof p, "%s/a/b/c/", tmp);
    HY_EXPECT_OK(hy_fs_mkdir_p(p));
    HY_EXPECT_OK(hy_fs_mkdir_p(p)); /* existing is fine */
    HY_EXPECT(hy_fs_is_dir(p));
    snprintf(p, sizeof p, "%s/a/file", tmp);
    HY_EXPECT(hy_test_write_file(p, "x", 1) == 0);
    snprintf(p, sizeof p, "%s/a/file/sub", tmp);
    HY_EXPECT_ERR(hy_fs_mkdir_p(p), "not a directory");
    char *data;
    size_t len;
    snprintf(p, sizeof p, "%s/missing", tmp);
    HY_EXPECT_ERR(hy_fs_read_file(p, &data, &len), "missing: cannot open");
    HY_EXPECT_OK(hy_fs_rm_rf(tmp));
    HY_EXPECT(!hy_fs_exists(tmp));
    HY_EXPECT_OK(hy_fs_rm_rf(tmp)); /* missing is fine */
    return 0;
}

HY_TEST(write_atomic_replaces) {
    char tmp[512], p[HY_PATH_MAX];
    HY_EXPECT(hy_test_tmpdir(tmp, sizeof tmp, "fs") == 0);
    snprintf(p, sizeof p, "%s/state.json", tmp);
    HY_EXPECT_OK(hy_fs_write_atomic(p, "old", 3));
    HY_EXPECT_OK(hy_fs_write_atomic(p, "new contents", 12));
    HY_EXPECT(has_text(tmp, "state.json", "new contents"));
    HY_EXPECT(count_entries(tmp, ".tmp-") == 0);
    /* permissions follow the umask like any new file, not mkstemp's 0600 */
    struct stat st;
    HY_EXPECT(stat(p, &st) == 0);
    mode_t um = umask(0);
    umask(um);
    HY_EXPECT_MSG((st.st_mode & 0777) == (0666 & ~um), "mode %o", (unsigned)(st.st_mode & 0777));
    snprintf(p, sizeof p, "%s/no/such/dir/f", tmp);
    HY_EXPECT_ERR(hy_fs_write_atomic(p, "x", 1), "cannot create temporary file");
    HY_EXPECT_OK(hy_fs_rm_rf(tmp));
    return 0;
}

/* Children rewrite an 8 MiB file in a loop, alternating its fill byte; the
 * parent SIGKILLs them at varied moments.  Every survivor must be complete. */
HY_TEST(write_atomic_survives_sigkill) {
    enum { N = 8 << 20 };
    char tmp[512], p[HY_PATH_MAX];
    HY_EXPECT(hy_test_tmpdir(tmp, sizeof tmp, "fs") == 0);
    snprintf(p, sizeof p, "%s/weights.bin", tmp);
    char *buf = malloc(N);
    HY_EXPECT(buf);
    memset(buf, 'A', N);
    HY_EXPECT_OK(hy_fs_write_atomic(p, buf, N));
    int delays_us[5] = {2000, 7000, 15000, 30000, 60000};
    for (int k = 0; k < 5; k++) {
        pid_t pid = fork();
        HY_EXPECT(pid >= 0);
        if (pid == 0) {
            for (unsigned i = 0;; i++) {
                memset(buf, 'B' + (int)(i % 2), N);
                if (hy_fs_write_atomic(p, buf, N) != HY_OK) _exit(3);
            }
        }
        struct timespec ts = {0, delays_us[k] * 1000L};
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        int status;
        HY_EXPECT(waitpid(pid, &status, 0) == pid);
        HY_EXPECT_MSG(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "child exited instead (status %d)", status);
        char *data;
        size_t len;
        HY_EXPECT_OK(hy_fs_read_file(p, &data, &len));
        int uniform = len == N;
        for (size_t i = 1; uniform && i < len; i++) uniform = data[i] == data[0];
        HY_EXPECT_MSG(uniform, "kill after %d us: %zu bytes, first byte %c: a torn file", delays_us[k], len, data[0]);
        hy_free(data);
    }
    int removed;
    HY_EXPECT_OK(hy_fs_remove_stale(tmp, &removed)); /* temporaries a killed writer left */
    fprintf(stderr, "  %d of 5 kills landed while a temporary file existed\n", removed);
    HY_EXPECT(count_entries(tmp, ".tmp-") == 0 && hy_fs_exists(p));
    free(buf);
    HY_EXPECT_OK(hy_fs_rm_rf(tmp));
    return 0;
}

/* The child starts publishing a new copy of a checkpoint directory, writes
 * part of it, and SIGKILLs itself before the rename.  The previous
 * directory must still be complete and listed; the leftover is stale. */
HY_TEST(publish_killed_before_rename_keeps_previous) {
    char tmp[512], ck[HY_PATH_MAX];
    HY_EXPECT(hy_test_tmpdir(tmp, sizeof tmp, "fs") == 0);
    snprintf(ck, sizeof ck, "%s/step-000010", tmp);
    hy_fs_publish pub;
    HY_EXPECT_OK(hy_fs_publish_begin(&pub, ck));
    HY_EXPECT(write_text(pub.tmp_path, "model.safetensors", "weights v1") == 0);
    HY_EXPECT(write_text(pub.tmp_path, "trainer_state.json", "{\"step\": 10}") == 0);
    HY_EXPECT_OK(hy_fs_publish_commit(&pub));
    pid_t pid = fork();
    HY_EXPECT(pid >= 0);
    if (pid == 0) {
        hy_fs_publish p2;
        if (hy_fs_publish_begin(&p2, ck) != HY_OK) _exit(3);
        write_text(p2.tmp_path, "model.safetensors", "weights v2, half writ");
        raise(SIGKILL);
        _exit(4);
    }
    int status;
    HY_EXPECT(waitpid(pid, &status, 0) == pid);
    HY_EXPECT_MSG(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "child status %d", status);
    HY_EXPECT(has_text(ck, "model.safetensors", "weights v1"));
    HY_EXPECT(has_text(ck, "trainer_state.json", "{\"step\": 10}"));
    HY_EXPECT(count_entries(tmp, "step-000010.tmp-") == 1);
    hy_fs_ckpt_list l;
    HY_EXPECT_OK(hy_fs_list_checkpoints(tmp, "step-", &l));
    HY_EXPECT_MSG(l.count == 1 && l.items[0].step == 10, "listed %d", l.count);
    hy_fs_ckpt_list_free(&l);
    int removed;
    HY_EXPECT_OK(hy_fs_remove_stale(tmp, &removed));
    HY_EXPECT(removed == 1 && count_entries(tmp, ".tmp-") == 0 && hy_fs_is_dir(ck));
    /* a completed publish over an existing directory replaces it whole */
    HY_EXPECT_OK(hy_fs_publish_begin(&pub, ck));
    HY_EXPECT(write_text(pub.tmp_path, "model.safetensors", "weights v3") == 0);
    HY_EXPECT_OK(hy_fs_publish_commit(&pub));
    HY_EXPECT(has_text(ck, "model.safetensors", "weights v3"));
    char gone[HY_PATH_MAX + 32];
    snprintf(gone, sizeof gone, "%s/trainer_state.json", ck);
    HY_EXPECT(!hy_fs_exists(gone));
    HY_EXPECT(count_entries(tmp, ".old-") == 0 && count_entries(tmp, ".tmp-") == 0);
    /* a commit that died between "NAME → NAME.old-*" and "tmp → NAME":
     * cleaning up restores the old copy rather than deleting it */
    char aside[HY_PATH_MAX + 32];
    snprintf(aside, sizeof aside, "%s.old-abc123", ck);
    HY_EXPECT(rename(ck, aside) == 0 && !hy_fs_exists(ck));
    HY_EXPECT_OK(hy_fs_remove_stale(tmp, &removed));
    HY_EXPECT(removed == 0 && has_text(ck, "model.safetensors", "weights v3") && !hy_fs_exists(aside));
    /* ...and with NAME present, the .old- copy is a leftover to remove */
    HY_EXPECT_OK(hy_fs_mkdir_p(aside));
    HY_EXPECT_OK(hy_fs_remove_stale(tmp, &removed));
    HY_EXPECT(removed == 1 && !hy_fs_exists(aside) && has_text(ck, "model.safetensors", "weights v3"));
    /* abort removes the temporary directory */
    HY_EXPECT_OK(hy_fs_publish_begin(&pub, ck));
    HY_EXPECT(write_text(pub.tmp_path, "x", "y") == 0);
    hy_fs_publish_abort(&pub);
    HY_EXPECT(count_entries(tmp, ".tmp-") == 0);
    HY_EXPECT_OK(hy_fs_rm_rf(tmp));
    return 0;
}

HY_TEST(list_and_prune_keep_last) {
    char tmp[512], p[HY_PATH_MAX];
    HY_EXPECT(hy_test_tmpdir(tmp, sizeof tmp, "fs") == 0);
    const char *dirs[] = {"step-1", "step-2", "step-10", "step-3", "step-5.tmp-abc123", "step-x", "other"};
    for (int i = 0; i < 7; i++) {
        snprintf(p, sizeof p, "%s/%s", tmp, dirs[i]);
        HY_EXPECT_OK(hy_fs_mkdir_p(p));
        HY_EXPECT(write_text(p, "f", dirs[i]) == 0);
    }
    HY_EXPECT(write_text(tmp, "step-7", "a file, not a checkpoint") == 0);
    hy_fs_ckpt_list l;
    HY_EXPECT_OK(hy_fs_list_checkpoints(tmp, "step-", &l));
    HY_EXPECT_MSG(l.count == 4, "count %d", l.count);
    int64_t want[4] = {1, 2, 3, 10};
    for (int i = 0; i < 4; i++) HY_EXPECT_MSG(l.items[i].step == want[i], "item %d: %lld", i, (long long)l.items[i].step);
    hy_fs_ckpt_list_free(&l);
    int removed;
    HY_EXPECT_OK(hy_fs_prune_checkpoints(tmp, "step-", 2, &removed));
    HY_EXPECT(removed == 2);
    HY_EXPECT_OK(hy_fs_list_checkpoints(tmp, "step-", &l));
    HY_EXPECT(l.count == 2 && l.items[0].step == 3 && l.items[1].step == 10);
    hy_fs_ckpt_list_free(&l);
    HY_EXPECT(has_text(tmp, "step-10/f", "step-10") && has_text(tmp, "step-3/f", "step-3"));
    const char *kept[] = {"step-5.tmp-abc123", "step-x", "other", "step-7"};
    for (int i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s/%s", tmp, kept[i]);
        HY_EXPECT_MSG(hy_fs_exists(p), "%s was removed", kept[i]);
    }
    HY_EXPECT_OK(hy_fs_prune_checkpoints(tmp, "step-", 0, &removed)); /* 0 keeps all */
    HY_EXPECT(removed == 0);
    snprintf(p, sizeof p, "%s/none", tmp);
    HY_EXPECT_OK(hy_fs_list_checkpoints(p, "step-", &l)); /* missing dir: empty */
    HY_EXPECT(l.count == 0);
    HY_EXPECT_OK(hy_fs_rm_rf(tmp));
    return 0;
}

HY_TEST(copy_and_hash) {
    char tmp[512], a[HY_PATH_MAX], b[HY_PATH_MAX];
    HY_EXPECT(hy_test_tmpdir(tmp, sizeof tmp, "fs") == 0);
    enum { N = 300001 };
    unsigned char *buf = malloc(N);
    HY_EXPECT(buf);
    for (size_t i = 0; i < N; i++) buf[i] = (unsigned char)(i * 131u + (i >> 7));
    snprintf(a, sizeof a, "%s/a.bin", tmp);
    snprintf(b, sizeof b, "%s/sub/b.bin", tmp);
    HY_EXPECT(hy_test_write_file(a, buf, N) == 0);
    HY_EXPECT(chmod(a, 0640) == 0);
    HY_EXPECT_ERR(hy_fs_copy_file(a, b), "cannot create temporary file"); /* parent missing */
    snprintf(b, sizeof b, "%s/b.bin", tmp);
    HY_EXPECT_OK(hy_fs_copy_file(a, b));
    struct stat st;
    HY_EXPECT(stat(b, &st) == 0 && (st.st_mode & 0777) == 0640 && st.st_size == N);
    uint64_t ha, hb;
    HY_EXPECT_OK(hy_fs_hash_file(a, &ha));
    HY_EXPECT_OK(hy_fs_hash_file(b, &hb));
    HY_EXPECT(ha == hb && ha == hy_hash64(buf, N, 0));
    /* streaming in odd pieces equals one shot, for every tail length */
    for (size_t n = 0; n < 70; n++) {
        hy_hash64_state s;
        hy_hash64_init(&s, 5);
        for (size_t i = 0; i < n; i += 3) hy_hash64_update(&s, buf + i, n - i < 3 ? n - i : 3);
        HY_EXPECT_MSG(hy_hash64_final(&s) == hy_hash64(buf, n, 5), "streaming differs at n=%zu", n);
    }
    /* sensitivity: one flipped bit, the length, the seed */
    uint64_t h0 = hy_hash64(buf, 1000, 0);
    buf[500] ^= 1;
    HY_EXPECT(hy_hash64(buf, 1000, 0) != h0);
    buf[500] ^= 1;
    HY_EXPECT(hy_hash64(buf, 999, 0) != h0 && hy_hash64(buf, 1000, 1) != h0);
    HY_EXPECT(hy_hash64("", 0, 0) != hy_hash64("\0", 1, 0));
    /* a pinned value: changing the function must be deliberate (it invalidates caches) */
    uint64_t pinned = hy_hash64("hymba", 5, 0);
    HY_EXPECT_MSG(pinned == 0xe53b0e56f87a14c8ull, "hash64(\"hymba\") = 0x%016llx", (unsigned long long)pinned);
    free(buf);
    HY_EXPECT_OK(hy_fs_rm_rf(tmp));
    return 0;
}

int main(int argc, char **argv) { return hy_test_main(argc, argv); }

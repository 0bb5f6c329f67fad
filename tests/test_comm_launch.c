/* test_comm_launch.c — `hymba launch` (cli/cmd_launch.c) with small shell
 * programs as ranks: the environment every rank gets and the "[rank r] "
 * prefixes; rank-0-only output; SIGTERM to the launcher reaching every rank
 * (and a second signal killing ranks that ignore it); a failing rank making
 * the launcher stop the others (after the grace period if they ignore
 * SIGTERM) and exit with that rank's status and a message naming it; usage
 * errors; and an end-to-end job: three test_comm processes joining a tcp
 * communicator through the launcher's environment. */
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/harness.h"
#include "tests/test_comm_util.h"

static int hy_run(char **out, const char *fmt, const char *arg) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, fmt, hy_test_hymba(), arg ? arg : "");
    int rc = hy_test_run(cmd, out);
    fprintf(stderr, "    $ %s\n    -> exit %d\n%s", cmd, rc, *out ? *out : "");
    return rc;
}

/* The port in "p=NNNN" on rank r's line, −1 when the line is missing. */
static int hy_line_port(const char *out, int r, char *key, size_t kn) {
    char pre[64];
    snprintf(pre, sizeof pre, "[rank %d] r=%d w=3 l=%d lw=3 a=127.0.0.1 p=", r, r, r);
    const char *s = strstr(out, pre);
    if (!s) return -1;
    int port = atoi(s + strlen(pre));
    const char *k = strstr(s, " k=");
    size_t i = 0;
    for (k = k ? k + 3 : ""; *k && *k != ' ' && *k != '\n' && i + 1 < kn; k++) key[i++] = *k;
    key[i] = '\0';
    return port;
}

HY_TEST(launch_env) {
    const char *echo = "-- sh -c 'echo \"r=$RANK w=$WORLD_SIZE l=$LOCAL_RANK lw=$LOCAL_WORLD_SIZE a=$MASTER_ADDR p=$MASTER_PORT "
                       "k=$HYMBA_JOB_KEY cvd=${CUDA_VISIBLE_DEVICES-unset}\"'";
    char *out = NULL;
    HY_EXPECT(hy_run(&out, "env -u CUDA_VISIBLE_DEVICES %s launch -n 3 --all-output %s", echo) == 0);
    int port0 = -1;
    char key0[96] = "";
    for (int r = 0; r < 3; r++) {
        char key[96];
        int port = hy_line_port(out, r, key, sizeof key);
        HY_EXPECT_MSG(port > 0, "no line with rank %d's environment", r);
        if (r == 0) { port0 = port; snprintf(key0, sizeof key0, "%s", key); }
        HY_EXPECT_MSG(port == port0 && !strcmp(key, key0) && key[0], "rank %d: port %d key \"%s\" vs rank 0's %d \"%s\"", r, port, key, port0,
                      key0);
    }
    HY_EXPECT(strstr(out, "cvd=unset"));
    free(out);
    HY_EXPECT(hy_run(&out, "%s launch -n 3 --master-port 29123 %s", echo) == 0);
    HY_EXPECT(hy_line_port(out, 0, (char[96]){0}, 96) == 29123);
    HY_EXPECT_MSG(!strstr(out, "[rank 1]") && !strstr(out, "[rank 2]"), "ranks 1 and 2 are shown without --all-output");
    free(out);
    return 0;
}

HY_TEST(launch_usage) {
    char *out = NULL;
    HY_EXPECT(hy_run(&out, "%s launch%s", "") == 2 && strstr(out, "-n N is required"));
    free(out);
    HY_EXPECT(hy_run(&out, "%s launch -n 2%s", "") == 2 && strstr(out, "no command given"));
    free(out);
    HY_EXPECT(hy_run(&out, "%s launch -n 0 -- true%s", "") == 2 && strstr(out, "expected 1..1024"));
    free(out);
    HY_EXPECT(hy_run(&out, "%s launch -n 2 --master-port 99999 -- true%s", "") == 2 && strstr(out, "expected 1..65535"));
    free(out);
    HY_EXPECT(hy_run(&out, "%s launch --help%s", "") == 0 && strstr(out, "usage: hymba launch"));
    free(out);
    HY_EXPECT(hy_run(&out, "%s launch -n 2 -- /nonexistent/program%s", "") == 127);
    HY_EXPECT(strstr(out, "cannot run \"/nonexistent/program\"") && strstr(out, "failed (exit status 127)"));
    free(out);
    return 0;
}

/* Start `hymba launch ARGS...` in the background with output to a file. */
static pid_t hy_launch_bg(const char *outfile, char *const *args) {
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(outfile, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0) _exit(120);
        dup2(fd, 1);
        dup2(fd, 2);
        execv(hy_test_hymba(), args);
        _exit(121);
    }
    return pid;
}

static int hy_wait_files(const char *dir, int n, double timeout_s) {
    for (int tries = 0; tries < (int)(timeout_s * 100); tries++) {
        int have = 0;
        for (int r = 0; r < n; r++) {
            char p[600];
            snprintf(p, sizeof p, "%s/ready.%d", dir, r);
            have += access(p, F_OK) == 0;
        }
        if (have == n) return 0;
        usleep(10000);
    }
    return -1;
}

/* waitpid with a timeout; −1 when it had to be killed. */
static int hy_wait_exit(pid_t pid, double timeout_s) {
    for (int tries = 0; tries < (int)(timeout_s * 100); tries++) {
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        usleep(10000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
}

static char *hy_slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = calloc(1, 1 << 20);
    size_t n = buf ? fread(buf, 1, (1 << 20) - 1, f) : 0;
    (void)n;
    fclose(f);
    return buf;
}

static int hy_signal_case(int ignore, int *code, char **out) {
    char dir[512], outfile[600], script[1200];
    HY_EXPECT(hy_test_tmpdir(dir, sizeof dir, "launch-sig") == 0);
    snprintf(outfile, sizeof outfile, "%s/out.txt", dir);
    snprintf(script, sizeof script, "%s touch %s/ready.$RANK; while :; do sleep 0.05; done",
             ignore ? "trap '' TERM;" : "trap 'echo term-$RANK; exit 0' TERM;", dir);
    char *args[] = {"hymba", "launch", "-n", "3", "--all-output", "--", "sh", "-c", script, NULL};
    pid_t pid = hy_launch_bg(outfile, args);
    HY_EXPECT(pid > 0);
    HY_EXPECT_MSG(hy_wait_files(dir, 3, 30) == 0, "the ranks did not start");
    kill(pid, SIGTERM);
    if (ignore) {
        usleep(300000);
        kill(pid, SIGTERM); /* second signal: kill them */
    }
    *code = hy_wait_exit(pid, 30);
    *out = hy_slurp(outfile);
    fprintf(stderr, "    launcher exit %d, output:\n%s", *code, *out ? *out : "");
    return 0;
}

HY_TEST(launch_sigterm) {
    int code;
    char *out = NULL;
    if (hy_signal_case(0, &code, &out)) return 1;
    HY_EXPECT(code == 128 + SIGTERM && out);
    HY_EXPECT(strstr(out, "forwarded to every rank"));
    for (int r = 0; r < 3; r++) {
        char want[32];
        snprintf(want, sizeof want, "[rank %d] term-%d", r, r);
        HY_EXPECT_MSG(strstr(out, want), "rank %d did not get SIGTERM", r);
    }
    free(out);
    if (hy_signal_case(1, &code, &out)) return 1;
    HY_EXPECT(code == 128 + SIGTERM && out && strstr(out, "second signal: killing every rank"));
    HY_EXPECT(strstr(out, "rank 0: killed by signal 9"));
    free(out);
    return 0;
}

HY_TEST(launch_failure) {
    char dir[512], script[2200], *out = NULL;
    HY_EXPECT(hy_test_tmpdir(dir, sizeof dir, "launch-fail") == 0);
    /* ranks 0 and 2 wait (rank 2 ignores SIGTERM in the second run); rank 1
     * fails once both are ready */
    snprintf(script, sizeof script,
             "-- sh -c 'if [ $RANK = 1 ]; then while [ ! -e %s/ready.0 ] || [ ! -e %s/ready.2 ]; do sleep 0.05; done; "
             "echo \"rank one fails\" >&2; exit 3; fi; trap \"echo stopped-$RANK; exit 0\" TERM; %%s touch %s/ready.$RANK; "
             "while :; do sleep 0.05; done'", dir, dir, dir);
    char run1[2400], run2[2400];
    snprintf(run1, sizeof run1, script, "");
    HY_EXPECT(hy_run(&out, "%s launch -n 3 %s", run1) == 3);
    HY_EXPECT(strstr(out, "rank 1 of 3 failed (exit status 3); stopping the other ranks"));
    HY_EXPECT_MSG(strstr(out, "[rank 1] rank one fails"), "the hidden failing rank's last lines are not shown");
    HY_EXPECT(strstr(out, "[rank 0] stopped-0") && !strstr(out, "stopped-2"));
    HY_EXPECT(strstr(out, "error: rank 1 failed first (exit status 3)") && strstr(out, "rank 2: exit status 0"));
    free(out);
    char rm[600];
    snprintf(rm, sizeof rm, "rm -f %s/ready.*", dir);
    HY_EXPECT(system(rm) == 0);
    snprintf(run2, sizeof run2, script, "if [ $RANK = 2 ]; then trap \"\" TERM; fi;");
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    HY_EXPECT(hy_run(&out, "%s launch -n 3 --grace 1 --all-output %s", run2) == 3);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    HY_EXPECT(strstr(out, "rank 2 did not stop within 1 s of SIGTERM: killing it") && strstr(out, "rank 2: killed by signal 9"));
    HY_EXPECT(strstr(out, "[rank 0] stopped-0"));
    double secs = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    HY_EXPECT_MSG(secs < 20, "the launcher took %.1f s", secs);
    free(out);
    return 0;
}

HY_TEST(launch_tcp_job) {
    char *out = NULL, cmd[4200], self[4096];
    snprintf(cmd, sizeof cmd, "-- %s --child-tcp", hy_test_self(self, sizeof self));
    HY_EXPECT(hy_run(&out, "%s launch -n 3 --all-output %s", cmd) == 0);
    for (int r = 0; r < 3; r++) {
        char want[96];
        snprintf(want, sizeof want, "[rank %d] rank %d of 3 (tcp): rank sum 3, expected 3", r, r);
        HY_EXPECT_MSG(strstr(out, want), "missing \"%s\"", want);
    }
    free(out);
    return 0;
}

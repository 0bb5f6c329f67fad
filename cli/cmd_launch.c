/* cmd_launch.c — `hymba launch -n N [options] -- COMMAND ...`: start N local
 * processes of one data-parallel job (one per GPU) with the torchrun-style
 * environment core/rendezvous.h reads: RANK, WORLD_SIZE, LOCAL_RANK,
 * LOCAL_WORLD_SIZE, MASTER_ADDR=127.0.0.1, MASTER_PORT and HYMBA_JOB_KEY
 * (CUDA_VISIBLE_DEVICES is left alone: each rank uses GPU LOCAL_RANK).
 *
 * Output: every line of a rank's stdout/stderr is written to the launcher's
 * stdout/stderr as "[rank r] line".  Only rank 0 is shown unless
 * --all-output; the last lines of a hidden rank are kept and shown when
 * that rank fails, so an error is never swallowed.
 *
 * Signals and failures: the first SIGINT/SIGTERM is forwarded to every rank
 * (the trainer then finishes its step, checkpoints and exits); a second one
 * kills them.  When a rank exits with a failure, the others get SIGTERM and,
 * after the grace period, SIGKILL; the launcher then exits with that rank's
 * status and a message naming it.  Each rank runs in its own process group
 * (so a terminal's Ctrl-C reaches the ranks once, through the launcher) and
 * gets SIGTERM if the launcher itself dies (PR_SET_PDEATHSIG).
 *
 * Signals are read through a signalfd polled with the output pipes, so the
 * launcher needs no signal handler and no global state.  Linux only. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/commands.h"
#include "core/alloc.h"
#include "core/timer.h"

enum { HY_LAUNCH_MAX = 1024, HY_LAUNCH_LINE = 65536, HY_LAUNCH_TAIL = 20, HY_LAUNCH_TAIL_W = 400 };

typedef struct {
    int fd;          /* read end; −1 when closed */
    int to;          /* 1 (stdout) or 2 (stderr) of the launcher */
    size_t len;      /* bytes buffered of the current line */
    char *buf;       /* [HY_LAUNCH_LINE] */
} hy_stream;

typedef struct {
    pid_t pid;       /* 0 once reaped */
    int status;      /* waitpid status */
    int exited;
    hy_stream out[2];
    char (*tail)[HY_LAUNCH_TAIL_W]; /* [HY_LAUNCH_TAIL] last lines when hidden */
    int tail_n;      /* lines stored so far (ring index = tail_n % TAIL) */
} hy_rank_proc;

typedef struct {
    int n, port, all_output;
    double grace;
    char **cmd;      /* NULL-terminated */
    char self[4096]; /* this executable, for a command named "hymba" */
    char key[64];
    hy_rank_proc *p; /* [n] */
    int sfd;         /* signalfd */
    sigset_t old_mask;
    int failed_rank; /* first rank that failed, −1 */
    int signaled;    /* signal forwarded, 0 */
    double kill_at;  /* SIGKILL the rest at this time (0: not stopping) */
} hy_launch;


static int hy_launch_usage(FILE *f) {
    fprintf(f,
            "usage: hymba launch -n N [--master-port P] [--all-output] [--grace S] -- COMMAND [ARGS...]\n\n"
            "Starts N local processes of one data-parallel job (one per GPU), e.g.\n"
            "  hymba launch -n 8 -- hymba sft recipes/hymba-1.5b/sft1.yaml\n"
            "Each gets RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR=127.0.0.1, MASTER_PORT\n"
            "and HYMBA_JOB_KEY; rank r uses GPU r.  A command named \"hymba\" runs this hymba binary.\n"
            "  -n, --nproc N       processes to start (1..%d)\n"
            "  --master-port P     rendezvous port of rank 0 (default: a free port)\n"
            "  --all-output        show every rank's output (default: rank 0 only; a failing rank's\n"
            "                      last lines are always shown)\n"
            "  --grace S           seconds between SIGTERM and SIGKILL when stopping the others after\n"
            "                      a failure (default 30)\n"
            "SIGINT/SIGTERM are forwarded to every rank; a second one kills them.  Exit status: 0 when\n"
            "every rank succeeded, the failing rank's status, or 128+signal when stopped by a signal.\n",
            HY_LAUNCH_MAX);
    return f == stdout ? 0 : 2;
}

static int hy_launch_int(const char *s, long lo, long hi, int *out) {
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || !end || *end || end == s || v < lo || v > hi) return -1;
    *out = (int)v;
    return 0;
}

/* 0 ok, 1 help shown, 2 usage error */
static int hy_launch_parse(hy_launch *L, int argc, char **argv) {
    L->n = 0;
    L->grace = 30;
    int i = 1;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--")) { i++; break; }
        if (a[0] != '-') break;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) return hy_launch_usage(stdout), 1;
        int need = !strcmp(a, "-n") || !strcmp(a, "--nproc") || !strcmp(a, "--master-port") || !strcmp(a, "--grace");
        if (need && i + 1 >= argc) { fprintf(stderr, "hymba launch: %s needs a value\n", a); return 2; }
        if (!strcmp(a, "-n") || !strcmp(a, "--nproc")) {
            if (hy_launch_int(argv[++i], 1, HY_LAUNCH_MAX, &L->n)) { fprintf(stderr, "hymba launch: -n \"%s\": expected 1..%d\n", argv[i], HY_LAUNCH_MAX); return 2; }
        } else if (!strcmp(a, "--master-port")) {
            if (hy_launch_int(argv[++i], 1, 65535, &L->port)) { fprintf(stderr, "hymba launch: --master-port \"%s\": expected 1..65535\n", argv[i]); return 2; }
        } else if (!strcmp(a, "--grace")) {
            char *end = NULL;
            L->grace = strtod(argv[++i], &end);
            if (!end || *end || !(L->grace >= 0) || L->grace > 86400) { fprintf(stderr, "hymba launch: --grace \"%s\": expected seconds (0..86400)\n", argv[i]); return 2; }
        } else if (!strcmp(a, "--all-output")) L->all_output = 1;
        else { fprintf(stderr, "hymba launch: unknown option '%s'\n", a); hy_launch_usage(stderr); return 2; }
    }
    if (!L->n) { fprintf(stderr, "hymba launch: -n N is required\n"); hy_launch_usage(stderr); return 2; }
    if (i >= argc) { fprintf(stderr, "hymba launch: no command given (hymba launch -n N -- COMMAND ...)\n"); return 2; }
    L->cmd = argv + i;
    return 0;
}

/* A port nobody listens on right now (the kernel picks it). */
static int hy_launch_free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;
    if (fd < 0) return -1;
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_ANY);
    socklen_t len = sizeof a;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 && getsockname(fd, (struct sockaddr *)&a, &len) == 0) port = ntohs(a.sin_port);
    close(fd);
    return port;
}

static void hy_write_all(int fd, const char *s, size_t n) {
    while (n > 0) {
        ssize_t k = write(fd, s, n);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return;
        s += k;
        n -= (size_t)k;
    }
}

/* Launcher's own messages (stderr). */
static void hy_launch_say(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;
static void hy_launch_say(const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg - 1, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n > sizeof msg - 2) n = (int)sizeof msg - 2;
    msg[n++] = '\n';
    hy_write_all(2, "hymba launch: ", 14);
    hy_write_all(2, msg, (size_t)n);
}

/* The child side of fork: environment, process group, pipes, exec. */
static void hy_launch_child(hy_launch *L, int r, int pout[2], int perr[2]) {
    char v[32];
    setpgid(0, 0);
#ifdef PR_SET_PDEATHSIG
    prctl(PR_SET_PDEATHSIG, SIGTERM);
#endif
    dup2(pout[1], 1);
    dup2(perr[1], 2);
    int null = open("/dev/null", O_RDONLY);
    if (null >= 0) dup2(null, 0);
    snprintf(v, sizeof v, "%d", r);
    setenv("RANK", v, 1);
    setenv("LOCAL_RANK", v, 1);
    snprintf(v, sizeof v, "%d", L->n);
    setenv("WORLD_SIZE", v, 1);
    setenv("LOCAL_WORLD_SIZE", v, 1);
    setenv("MASTER_ADDR", "127.0.0.1", 1);
    snprintf(v, sizeof v, "%d", L->port);
    setenv("MASTER_PORT", v, 1);
    setenv("HYMBA_JOB_KEY", L->key, 1);
    sigprocmask(SIG_SETMASK, &L->old_mask, NULL);
    const char *prog = !strcmp(L->cmd[0], "hymba") && L->self[0] ? L->self : L->cmd[0];
    execvp(prog, L->cmd);
    fprintf(stderr, "hymba launch: cannot run \"%s\": %s\n", L->cmd[0], strerror(errno));
    _exit(127);
}

/* A pipe whose ends close on exec (the launcher is single-threaded, so no
 * other fork can slip in between pipe and fcntl). */
static int hy_launch_pipe(int p[2]) {
    if (pipe(p) != 0) return -1;
    for (int k = 0; k < 2; k++) fcntl(p[k], F_SETFD, FD_CLOEXEC);
    return 0;
}

static int hy_launch_spawn(hy_launch *L, int r) {
    int pout[2], perr[2];
    if (hy_launch_pipe(pout) != 0) return -1;
    if (hy_launch_pipe(perr) != 0) { close(pout[0]); close(pout[1]); return -1; }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) { close(pout[0]); close(pout[1]); close(perr[0]); close(perr[1]); return -1; }
    if (pid == 0) hy_launch_child(L, r, pout, perr);
    setpgid(pid, pid); /* also from the parent: no race with an early kill */
    close(pout[1]);
    close(perr[1]);
    hy_rank_proc *p = &L->p[r];
    p->pid = pid;
    p->out[0].fd = pout[0];
    p->out[0].to = 1;
    p->out[1].fd = perr[0];
    p->out[1].to = 2;
    for (int k = 0; k < 2; k++) fcntl(p->out[k].fd, F_SETFL, fcntl(p->out[k].fd, F_GETFL, 0) | O_NONBLOCK);
    return 0;
}

/* One complete line (without its newline) of rank r. */
static void hy_launch_line(hy_launch *L, int r, int to, const char *s, size_t n) {
    hy_rank_proc *p = &L->p[r];
    if (r == 0 || L->all_output) {
        char pre[32];
        int k = snprintf(pre, sizeof pre, "[rank %d] ", r);
        hy_write_all(to, pre, (size_t)k);
        hy_write_all(to, s, n);
        hy_write_all(to, "\n", 1);
        return;
    }
    char *slot = p->tail[p->tail_n % HY_LAUNCH_TAIL];
    size_t m = n < HY_LAUNCH_TAIL_W - 1 ? n : HY_LAUNCH_TAIL_W - 1;
    memcpy(slot, s, m);
    slot[m] = '\0';
    p->tail_n++;
}

/* Read what a pipe has; emit complete lines; close at end of file. */
static void hy_launch_drain(hy_launch *L, int r, hy_stream *st) {
    for (;;) {
        ssize_t k = read(st->fd, st->buf + st->len, HY_LAUNCH_LINE - st->len);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) return; /* EAGAIN: nothing more now */
        if (k == 0) {
            if (st->len) hy_launch_line(L, r, st->to, st->buf, st->len);
            st->len = 0;
            close(st->fd);
            st->fd = -1;
            return;
        }
        st->len += (size_t)k;
        size_t start = 0;
        for (size_t i = 0; i < st->len; i++)
            if (st->buf[i] == '\n') { hy_launch_line(L, r, st->to, st->buf + start, i - start); start = i + 1; }
        if (start == 0 && st->len == HY_LAUNCH_LINE) { hy_launch_line(L, r, st->to, st->buf, st->len); start = st->len; } /* overlong */
        memmove(st->buf, st->buf + start, st->len - start);
        st->len -= start;
    }
}

static void hy_launch_signal_all(hy_launch *L, int sig) {
    for (int r = 0; r < L->n; r++)
        if (L->p[r].pid > 0) kill(-L->p[r].pid, sig); /* the whole process group of the rank */
}

static void hy_status_text(int status, char *buf, size_t n) {
    if (WIFEXITED(status)) snprintf(buf, n, "exit status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status)) snprintf(buf, n, "killed by signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
    else snprintf(buf, n, "status 0x%x", status);
}

static void hy_launch_show_tail(hy_launch *L, int r) {
    hy_rank_proc *p = &L->p[r];
    if (r == 0 || L->all_output || p->tail_n == 0) return;
    int first = p->tail_n > HY_LAUNCH_TAIL ? p->tail_n - HY_LAUNCH_TAIL : 0;
    hy_launch_say("last %d line(s) of rank %d:", p->tail_n - first, r);
    for (int i = first; i < p->tail_n; i++) {
        const char *s = p->tail[i % HY_LAUNCH_TAIL];
        char pre[32];
        int k = snprintf(pre, sizeof pre, "[rank %d] ", r);
        hy_write_all(2, pre, (size_t)k);
        hy_write_all(2, s, strlen(s));
        hy_write_all(2, "\n", 1);
    }
}

/* A rank ended: the first failure (outside a forwarded signal) stops the rest. */
static void hy_launch_reaped(hy_launch *L, int r, int status) {
    hy_rank_proc *p = &L->p[r];
    p->pid = 0;
    p->status = status;
    p->exited = 1;
    int ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (ok || L->signaled || L->failed_rank >= 0) return;
    L->failed_rank = r;
    char why[96];
    hy_status_text(status, why, sizeof why);
    for (int k = 0; k < 2; k++)
        if (p->out[k].fd >= 0) hy_launch_drain(L, r, &p->out[k]);
    hy_launch_show_tail(L, r);
    int alive = 0;
    for (int k = 0; k < L->n; k++) alive += L->p[k].pid > 0;
    hy_launch_say("rank %d of %d failed (%s)%s", r, L->n, why,
                  alive ? "; stopping the other ranks (SIGTERM, then SIGKILL after the grace period)" : "");
    if (alive) {
        hy_launch_signal_all(L, SIGTERM);
        L->kill_at = hy_now_s() + L->grace;
    }
}

static void hy_launch_reap(hy_launch *L) {
    for (;;) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid <= 0) return;
        for (int r = 0; r < L->n; r++)
            if (L->p[r].pid == pid) hy_launch_reaped(L, r, status);
    }
}

static const char *hy_sig_name(int sig) {
    return sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : strsignal(sig);
}

static void hy_launch_on_signal(hy_launch *L) {
    struct signalfd_siginfo si;
    while (read(L->sfd, &si, sizeof si) == (ssize_t)sizeof si) {
        int sig = (int)si.ssi_signo;
        if (sig == SIGCHLD) continue; /* reaped below */
        if (!L->signaled) {
            L->signaled = sig;
            hy_launch_say("%s received: forwarded to every rank (send it again to kill them)", hy_sig_name(sig));
            hy_launch_signal_all(L, sig);
        } else {
            hy_launch_say("second signal: killing every rank");
            hy_launch_signal_all(L, SIGKILL);
        }
    }
    hy_launch_reap(L);
}

static int hy_launch_count_alive(const hy_launch *L) {
    int alive = 0;
    for (int r = 0; r < L->n; r++) alive += L->p[r].pid > 0;
    return alive;
}

/* Pump output and signals until every rank has exited and its pipes are
 * drained (pipes a rank's own children keep open get 2 s after the last
 * rank exits). */
static void hy_launch_loop(hy_launch *L, struct pollfd *pf, int *who) {
    double drain_until = 0;
    for (;;) {
        int alive = hy_launch_count_alive(L), n = 0;
        pf[n++] = (struct pollfd){L->sfd, POLLIN, 0};
        for (int r = 0; r < L->n; r++)
            for (int k = 0; k < 2; k++)
                if (L->p[r].out[k].fd >= 0) { who[n] = 2 * r + k; pf[n++] = (struct pollfd){L->p[r].out[k].fd, POLLIN, 0}; }
        if (!alive && n == 1) break;
        if (!alive) {
            if (drain_until == 0) drain_until = hy_now_s() + 2.0;
            else if (hy_now_s() > drain_until) break;
        }
        if (poll(pf, (nfds_t)n, 200) < 0 && errno != EINTR) break;
        if (pf[0].revents) hy_launch_on_signal(L);
        for (int i = 1; i < n; i++)
            if (pf[i].revents) hy_launch_drain(L, who[i] / 2, &L->p[who[i] / 2].out[who[i] % 2]);
        hy_launch_reap(L);
        if (L->kill_at > 0 && hy_now_s() >= L->kill_at) {
            for (int r = 0; r < L->n; r++)
                if (L->p[r].pid > 0) hy_launch_say("rank %d did not stop within %.0f s of SIGTERM: killing it", r, L->grace);
            hy_launch_signal_all(L, SIGKILL);
            L->kill_at = 0;
        }
    }
    for (int r = 0; r < L->n; r++)
        for (int k = 0; k < 2; k++)
            if (L->p[r].out[k].fd >= 0) { close(L->p[r].out[k].fd); L->p[r].out[k].fd = -1; }
}

/* Exit status of the launcher, with a closing message when not 0. */
static int hy_launch_result(hy_launch *L) {
    char why[96], all[1024];
    size_t len = 0;
    all[0] = '\0';
    for (int r = 0; r < L->n && len + 120 < sizeof all; r++) {
        hy_status_text(L->p[r].status, why, sizeof why);
        len += (size_t)snprintf(all + len, sizeof all - len, "%srank %d: %s", r ? "; " : "", r, why);
    }
    if (L->failed_rank >= 0) {
        int st = L->p[L->failed_rank].status;
        hy_status_text(st, why, sizeof why);
        hy_launch_say("error: rank %d failed first (%s); the other ranks were stopped (%s)", L->failed_rank, why, all);
        if (WIFEXITED(st)) return WEXITSTATUS(st) ? WEXITSTATUS(st) : 1;
        return WIFSIGNALED(st) ? 128 + WTERMSIG(st) : 1;
    }
    if (L->signaled) {
        hy_launch_say("stopped by %s (%s)", hy_sig_name(L->signaled), all);
        return 128 + L->signaled;
    }
    return 0;
}

static hy_status hy_launch_alloc(hy_launch *L) {
    HY_TRY(hy_malloc((void **)&L->p, sizeof(hy_rank_proc) * (size_t)L->n, 1, "launcher ranks"));
    for (int r = 0; r < L->n; r++) {
        hy_rank_proc *p = &L->p[r];
        p->out[0].fd = p->out[1].fd = -1;
        for (int k = 0; k < 2; k++) HY_TRY(hy_malloc((void **)&p->out[k].buf, HY_LAUNCH_LINE, 0, "launcher line buffer"));
        if (r > 0 && !L->all_output) HY_TRY(hy_malloc((void **)&p->tail, sizeof *p->tail * HY_LAUNCH_TAIL, 0, "launcher tail"));
    }
    return HY_OK;
}

static void hy_launch_free(hy_launch *L) {
    for (int r = 0; L->p && r < L->n; r++) {
        for (int k = 0; k < 2; k++) hy_free(L->p[r].out[k].buf);
        hy_free(L->p[r].tail);
    }
    hy_free(L->p);
}

/* Start every rank; on a failure kill the ones already running. */
static int hy_launch_start(hy_launch *L) {
    for (int r = 0; r < L->n; r++) {
        if (hy_launch_spawn(L, r) == 0) continue;
        hy_launch_say("error: cannot start rank %d: %s", r, strerror(errno));
        hy_launch_signal_all(L, SIGKILL);
        for (int k = 0; k < r; k++)
            if (L->p[k].pid > 0) waitpid(L->p[k].pid, NULL, 0);
        return -1;
    }
    return 0;
}

int hy_cmd_launch(int argc, char **argv) {
    hy_launch L;
    memset(&L, 0, sizeof L);
    L.failed_rank = -1;
    int pr = hy_launch_parse(&L, argc, argv);
    if (pr) return pr == 1 ? 0 : 2;
    if (!L.port && (L.port = hy_launch_free_port()) <= 0) { hy_launch_say("error: cannot find a free TCP port; pass --master-port"); return 1; }
    ssize_t sl = readlink("/proc/self/exe", L.self, sizeof L.self - 1);
    L.self[sl > 0 ? sl : 0] = '\0';
    snprintf(L.key, sizeof L.key, "launch-%d-%lld", (int)getpid(), (long long)time(NULL));
    struct pollfd *pf = NULL;
    int *who = NULL, rc = 1;
    if (hy_launch_alloc(&L) || hy_malloc((void **)&pf, sizeof *pf * (size_t)(2 * L.n + 1), 0, "launcher poll set") ||
        hy_malloc((void **)&who, sizeof *who * (size_t)(2 * L.n + 1), 0, "launcher poll index")) {
        hy_cli_fail("launch");
        goto done;
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGCHLD);
    sigprocmask(SIG_BLOCK, &set, &L.old_mask);
    L.sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (L.sfd < 0) { hy_launch_say("error: signalfd: %s", strerror(errno)); goto unblock; }
    if (hy_launch_start(&L) == 0) {
        hy_launch_say("%d rank(s) started, rendezvous at 127.0.0.1:%d", L.n, L.port);
        hy_launch_loop(&L, pf, who);
        rc = hy_launch_result(&L);
    }
    close(L.sfd);
unblock:
    sigprocmask(SIG_SETMASK, &L.old_mask, NULL);
done:
    hy_free(pf);
    hy_free(who);
    hy_launch_free(&L);
    return rc;
}

/* test_comm.c — the communicator on the CPU (issue 6): launcher environment
 * detection for every launcher style and its conflicts, the TCP rendezvous
 * with several forked processes (payload to every rank, barriers, a rank
 * that never arrives, version / world / duplicate / job mismatches, a dead
 * or aborting peer named by the others), the single-process communicator
 * (every collective an identity), and the CPU "tcp" communicator's
 * collectives and ZeRO-1 helpers across 3 processes, compared exactly with
 * sums formed in rank order.  Sharding arithmetic: test_comm_shard.c; the
 * launcher: test_comm_launch.c.
 *
 * `test_comm --child-tcp` is the body `hymba launch` runs in the launcher
 * test (a rank that joins through the environment). */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/comm.h"
#include "tests/harness.h"
#include "tests/test_comm_util.h"

/* ---------------------------------------------------------------- helpers */

int hy_fork_run(int n, const int *ranks, hy_rank_fn fn, void *arg, int *codes, char (*msgs)[HY_RANK_MSG], double timeout_s) {
    pid_t pid[16];
    int fd[16];
    HY_ASSERT(n <= 16);
    fflush(NULL);
    for (int i = 0; i < n; i++) {
        int p[2];
        HY_ASSERT(pipe(p) == 0);
        pid[i] = fork();
        HY_ASSERT(pid[i] >= 0);
        if (pid[i] == 0) {
            close(p[0]);
            char msg[HY_RANK_MSG] = "";
            hy_error_clear();
            int rc = fn(ranks[i], arg, msg, sizeof msg);
            ssize_t w = write(p[1], msg, strlen(msg));
            (void)w;
            _exit(rc);
        }
        close(p[1]);
        fd[i] = p[0];
        codes[i] = -1;
        msgs[i][0] = '\0';
    }
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int left = n, killed = 0;
    while (left > 0) {
        for (int i = 0; i < n; i++) {
            int st;
            if (pid[i] > 0 && waitpid(pid[i], &st, WNOHANG) == pid[i]) {
                codes[i] = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
                pid[i] = 0;
                left--;
            }
        }
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (left && (double)(now.tv_sec - t0.tv_sec) + 1e-9 * (double)(now.tv_nsec - t0.tv_nsec) > timeout_s) {
            for (int i = 0; i < n; i++)
                if (pid[i] > 0) { kill(pid[i], SIGKILL); waitpid(pid[i], NULL, 0); pid[i] = 0; killed++; }
            break;
        }
        struct timespec ts = {0, 5000000};
        nanosleep(&ts, NULL);
    }
    for (int i = 0; i < n; i++) {
        size_t len = 0;
        ssize_t k;
        while (len + 1 < HY_RANK_MSG && (k = read(fd[i], msgs[i] + len, HY_RANK_MSG - 1 - len)) > 0) len += (size_t)k;
        msgs[i][len] = '\0';
        close(fd[i]);
    }
    return killed;
}

int hy_test_free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_ANY);
    socklen_t len = sizeof a;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 && getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0) close(fd);
    return port;
}

void hy_test_env(hy_dist_env *e, int rank, int world, int port, const char *key) {
    memset(e, 0, sizeof *e);
    e->launcher = HY_LAUNCHER_TORCHRUN;
    e->rank = rank;
    e->world = world;
    e->local_rank = rank;
    e->local_world = world;
    snprintf(e->master_addr, sizeof e->master_addr, "127.0.0.1");
    e->master_port = port;
    snprintf(e->job_key, sizeof e->job_key, "%s", key ? key : "test");
    snprintf(e->origin, sizeof e->origin, "test");
}

const char *hy_test_self(char *buf, size_t n) {
    ssize_t k = readlink("/proc/self/exe", buf, n - 1);
    buf[k > 0 ? k : 0] = '\0';
    return buf;
}

#define HY_FAIL_MSG(msg, cap, ...) (snprintf((msg), (cap), __VA_ARGS__), 1)

/* ---------------------------------------------------------------- environment */

static hy_status hy_detect(hy_dist_env *e, const char *const *vars) {
    return hy_dist_env_detect(e, (char *const *)vars);
}

HY_TEST(env_torchrun) {
    const char *v[] = {"RANK=2", "WORLD_SIZE=4", "LOCAL_RANK=0", "LOCAL_WORLD_SIZE=2", "MASTER_ADDR=10.0.0.1", "MASTER_PORT=29501",
                       "TORCHELASTIC_RUN_ID=abc", "PATH=/bin", NULL};
    hy_dist_env e;
    HY_EXPECT_OK(hy_detect(&e, v));
    HY_EXPECT(e.launcher == HY_LAUNCHER_TORCHRUN && e.rank == 2 && e.world == 4 && e.local_rank == 0 && e.local_world == 2);
    HY_EXPECT(!strcmp(e.master_addr, "10.0.0.1") && e.master_port == 29501 && !strcmp(e.job_key, "abc"));
    const char *one[] = {"RANK=0", "WORLD_SIZE=1", NULL}; /* one process: nothing else needed */
    HY_EXPECT_OK(hy_detect(&e, one));
    HY_EXPECT(e.world == 1 && e.rank == 0 && e.local_rank == 0 && e.master_port == 0);
    /* torchrun's agent holds MASTER_PORT; HYMBA_RDZV_PORT overrides any port */
    const char *agent[] = {"RANK=1", "WORLD_SIZE=2", "LOCAL_RANK=1", "MASTER_ADDR=h", "MASTER_PORT=29500",
                           "TORCHELASTIC_USE_AGENT_STORE=True", NULL};
    HY_EXPECT_OK(hy_detect(&e, agent));
    HY_EXPECT(e.master_port == 29501);
    const char *over[] = {"RANK=1", "WORLD_SIZE=2", "LOCAL_RANK=1", "MASTER_ADDR=h", "MASTER_PORT=29500",
                          "TORCHELASTIC_USE_AGENT_STORE=True", "HYMBA_RDZV_PORT=31000", NULL};
    HY_EXPECT_OK(hy_detect(&e, over));
    HY_EXPECT(e.master_port == 31000);
    return 0;
}

HY_TEST(env_mpi) {
    const char *v[] = {"OMPI_COMM_WORLD_RANK=5", "OMPI_COMM_WORLD_SIZE=8", "OMPI_COMM_WORLD_LOCAL_RANK=1",
                       "OMPI_COMM_WORLD_LOCAL_SIZE=4", "MASTER_ADDR=node0", "PMIX_NAMESPACE=ns7", NULL};
    hy_dist_env e;
    HY_EXPECT_OK(hy_detect(&e, v));
    HY_EXPECT(e.launcher == HY_LAUNCHER_MPI && e.rank == 5 && e.world == 8 && e.local_rank == 1 && e.local_world == 4);
    HY_EXPECT(!strcmp(e.master_addr, "node0") && e.master_port == 29500 && !strcmp(e.job_key, "ns7"));
    /* one node: rank 0 is local */
    const char *local[] = {"OMPI_COMM_WORLD_RANK=1", "OMPI_COMM_WORLD_SIZE=2", "OMPI_COMM_WORLD_LOCAL_RANK=1",
                           "OMPI_COMM_WORLD_LOCAL_SIZE=2", "MASTER_PORT=1234", NULL};
    HY_EXPECT_OK(hy_detect(&e, local));
    HY_EXPECT(!strcmp(e.master_addr, "127.0.0.1") && e.master_port == 1234);
    const char *multi[] = {"OMPI_COMM_WORLD_RANK=1", "OMPI_COMM_WORLD_SIZE=4", "OMPI_COMM_WORLD_LOCAL_RANK=1",
                           "OMPI_COMM_WORLD_LOCAL_SIZE=2", NULL};
    HY_EXPECT_ERR(hy_detect(&e, multi), "MASTER_ADDR is not set");
    return 0;
}

HY_TEST(env_slurm) {
    const char *v[] = {"SLURM_PROCID=3", "SLURM_NTASKS=4", "SLURM_LOCALID=1", "SLURM_LAUNCH_NODE_IPADDR=10.1.2.3",
                       "SLURM_JOB_ID=12345", "SLURM_STEP_ID=2", NULL};
    hy_dist_env e;
    HY_EXPECT_OK(hy_detect(&e, v));
    HY_EXPECT(e.launcher == HY_LAUNCHER_SLURM && e.rank == 3 && e.world == 4 && e.local_rank == 1);
    HY_EXPECT(!strcmp(e.master_addr, "10.1.2.3") && e.master_port == 29500 + 12345 % 1000 && !strcmp(e.job_key, "slurm-12345.2"));
    const char *expl[] = {"SLURM_PROCID=0", "SLURM_NTASKS=8", "SLURM_STEP_NUM_TASKS=2", "SLURM_LOCALID=0",
                          "SLURM_LAUNCH_NODE_IPADDR=10.1.2.3", "MASTER_ADDR=gpu7", "MASTER_PORT=4000", NULL};
    HY_EXPECT_OK(hy_detect(&e, expl)); /* explicit master wins, the step's task count wins */
    HY_EXPECT(e.world == 2 && !strcmp(e.master_addr, "gpu7") && e.master_port == 4000);
    const char *batch[] = {"SLURM_PROCID=0", "SLURM_NTASKS=8", "SLURM_JOB_ID=1", NULL}; /* the batch script itself */
    HY_EXPECT_OK(hy_detect(&e, batch));
    HY_EXPECT(e.launcher == HY_LAUNCHER_NONE && e.world == 1);
    const char *noaddr[] = {"SLURM_PROCID=1", "SLURM_NTASKS=2", "SLURM_LOCALID=1", NULL};
    HY_EXPECT_ERR(hy_detect(&e, noaddr), "SLURM_LAUNCH_NODE_IPADDR");
    return 0;
}

HY_TEST(env_precedence) {
    hy_dist_env e;
    const char *none[] = {"HOME=/root", NULL};
    HY_EXPECT_OK(hy_detect(&e, none));
    HY_EXPECT(e.launcher == HY_LAUNCHER_NONE && e.rank == 0 && e.world == 1 && e.local_rank == 0);
    /* torchrun started by srun: torchrun's variables describe the rank */
    const char *both[] = {"SLURM_PROCID=1", "SLURM_NTASKS=2", "SLURM_LOCALID=0", "SLURM_LAUNCH_NODE_IPADDR=10.0.0.9",
                          "RANK=13", "WORLD_SIZE=16", "LOCAL_RANK=5", "MASTER_ADDR=10.0.0.9", "MASTER_PORT=29400", NULL};
    HY_EXPECT_OK(hy_detect(&e, both));
    HY_EXPECT(e.launcher == HY_LAUNCHER_TORCHRUN && e.rank == 13 && e.world == 16 && e.local_rank == 5);
    /* mpirun inside a SLURM allocation: MPI's variables win over SLURM's */
    const char *mpi_slurm[] = {"SLURM_PROCID=0", "SLURM_NTASKS=1", "SLURM_LOCALID=0", "OMPI_COMM_WORLD_RANK=3",
                               "OMPI_COMM_WORLD_SIZE=4", "OMPI_COMM_WORLD_LOCAL_RANK=3", "OMPI_COMM_WORLD_LOCAL_SIZE=4", NULL};
    HY_EXPECT_OK(hy_detect(&e, mpi_slurm));
    HY_EXPECT(e.launcher == HY_LAUNCHER_MPI && e.rank == 3 && e.world == 4);
    /* HYMBA_LAUNCHER forces a source */
    const char *forced[] = {"HYMBA_LAUNCHER=slurm", "RANK=1", "WORLD_SIZE=2", "LOCAL_RANK=1", "MASTER_ADDR=a", "MASTER_PORT=1",
                            "SLURM_PROCID=0", "SLURM_NTASKS=1", "SLURM_LOCALID=0", NULL};
    HY_EXPECT_OK(hy_detect(&e, forced));
    HY_EXPECT(e.launcher == HY_LAUNCHER_SLURM && e.world == 1);
    const char *key[] = {"RANK=0", "WORLD_SIZE=2", "LOCAL_RANK=0", "MASTER_ADDR=a", "MASTER_PORT=9", "TORCHELASTIC_RUN_ID=x",
                         "HYMBA_JOB_KEY=mine", NULL};
    HY_EXPECT_OK(hy_detect(&e, key));
    HY_EXPECT(!strcmp(e.job_key, "mine"));
    return 0;
}

HY_TEST(env_conflicts) {
    static const struct {
        const char *vars[8];
        const char *needle;
    } cases[] = {
        {{"RANK=1", NULL}, "RANK is set but WORLD_SIZE is not"},
        {{"WORLD_SIZE=2", NULL}, "WORLD_SIZE is set but RANK is not"},
        {{"RANK=4", "WORLD_SIZE=4", "LOCAL_RANK=0", "MASTER_ADDR=a", "MASTER_PORT=1", NULL}, "rank 4 is outside 0..3"},
        {{"RANK=x1", "WORLD_SIZE=4", NULL}, "RANK=\"x1\": expected an integer"},
        {{"RANK=-1", "WORLD_SIZE=4", NULL}, "RANK=\"-1\""},
        {{"RANK=0", "WORLD_SIZE=0", NULL}, "WORLD_SIZE=\"0\""},
        {{"RANK=1", "WORLD_SIZE=2", "MASTER_ADDR=a", "MASTER_PORT=1", NULL}, "LOCAL_RANK is not set"},
        {{"RANK=1", "WORLD_SIZE=2", "LOCAL_RANK=0", "MASTER_PORT=1", NULL}, "MASTER_ADDR is not set"},
        {{"RANK=1", "WORLD_SIZE=2", "LOCAL_RANK=0", "MASTER_ADDR=a", NULL}, "MASTER_PORT is not set"},
        {{"RANK=1", "WORLD_SIZE=2", "LOCAL_RANK=0", "MASTER_ADDR=a", "MASTER_PORT=70000", NULL}, "MASTER_PORT=\"70000\""},
        {{"RANK=1", "WORLD_SIZE=4", "LOCAL_RANK=2", "LOCAL_WORLD_SIZE=2", "MASTER_ADDR=a", "MASTER_PORT=1", NULL}, "local rank 2 is outside 0..1"},
        {{"RANK=1", "WORLD_SIZE=2", "LOCAL_RANK=1", "LOCAL_WORLD_SIZE=4", "MASTER_ADDR=a", "MASTER_PORT=1", NULL}, "4 ranks on this node but only 2"},
        {{"LOCAL_RANK=1", NULL}, "LOCAL_RANK=1 is set but RANK and WORLD_SIZE are not"},
        {{"OMPI_COMM_WORLD_RANK=1", NULL}, "OMPI_COMM_WORLD_RANK is set but OMPI_COMM_WORLD_SIZE is not"},
        {{"OMPI_COMM_WORLD_RANK=1", "OMPI_COMM_WORLD_SIZE=2", "MASTER_ADDR=a", NULL}, "OMPI_COMM_WORLD_LOCAL_RANK is not set"},
        {{"SLURM_LOCALID=0", "SLURM_NTASKS=2", NULL}, "SLURM_PROCID is not set"},
        {{"SLURM_LOCALID=0", "SLURM_PROCID=0", NULL}, "SLURM_NTASKS is not set"},
        {{"HYMBA_LAUNCHER=pbs", NULL}, "HYMBA_LAUNCHER=\"pbs\""},
        {{"HYMBA_LAUNCHER=mpi", NULL}, "OMPI_COMM_WORLD_SIZE is not set"},
    };
    for (size_t i = 0; i < HY_ARRAY_LEN(cases); i++) {
        hy_dist_env e;
        hy_error_clear();
        hy_status s = hy_detect(&e, cases[i].vars);
        HY_EXPECT_MSG(s == HY_ERR_CONFIG && strstr(hy_last_error(), cases[i].needle), "case %zu: expected \"%s\", got %s: \"%s\"", i,
                      cases[i].needle, hy_status_name(s), hy_last_error());
    }
    double t;
    const char *tv[] = {"HYMBA_COMM_TIMEOUT=2.5", NULL}, *bad[] = {"HYMBA_COMM_TIMEOUT=soon", NULL}, *none[] = {NULL};
    HY_EXPECT_OK(hy_dist_timeout((char *const *)tv, 9, &t));
    HY_EXPECT(t == 2.5);
    HY_EXPECT_OK(hy_dist_timeout((char *const *)none, 9, &t));
    HY_EXPECT(t == 9);
    HY_EXPECT_ERR(hy_dist_timeout((char *const *)bad, 9, &t), "HYMBA_COMM_TIMEOUT=\"soon\"");
    return 0;
}

HY_TEST(pick_device) {
    hy_dist_env e;
    hy_test_env(&e, 5, 8, 1, NULL);
    e.local_rank = 3;
    int d;
    HY_EXPECT_OK(hy_comm_pick_device(&e, 8, &d));
    HY_EXPECT(d == 3);
    HY_EXPECT_OK(hy_comm_pick_device(&e, 1, &d)); /* launcher gave each rank one GPU */
    HY_EXPECT(d == 0);
    HY_EXPECT_ERR(hy_comm_pick_device(&e, 2, &d), "local rank 3 but only 2 CUDA devices");
    HY_EXPECT_ERR(hy_comm_pick_device(&e, 0, &d), "no CUDA device");
    return 0;
}

/* ---------------------------------------------------------------- rendezvous */

typedef struct {
    int world, port;
    double timeout_s;
    int rank_world[8];     /* world size each rank claims (0: world) */
    unsigned version[8];   /* protocol version each rank speaks (0: current) */
    const char *key[8];    /* job key per rank (NULL: "test") */
    int mode;              /* what happens after the handshake */
} hy_rdzv_case;

enum { HY_AFTER_BARRIERS = 0, HY_AFTER_DIE_2, HY_AFTER_ABORT_1, HY_AFTER_LATE_1 };

static void hy_payload(unsigned char *p, size_t n) {
    for (size_t i = 0; i < n; i++) p[i] = (unsigned char)(i * 37u + 11u);
}

/* After the handshake: what each rank does in the failure scenarios. */
static int hy_rdzv_after(const hy_rdzv_case *c, hy_rdzv *r, int rank, char *msg, size_t cap) {
    if (c->mode == HY_AFTER_DIE_2 && rank == 2) _exit(0); /* no goodbye: like a crash */
    if (c->mode == HY_AFTER_ABORT_1 && rank == 1) {
        hy_rdzv_abort(r, "disk full");
        hy_rdzv_close(r);
        return 0;
    }
    if (c->mode == HY_AFTER_LATE_1 && rank == 1) {
        sleep(2);
        hy_status st = hy_rdzv_barrier(r, 5);
        snprintf(msg, cap, "%s", hy_last_error());
        hy_rdzv_close(r);
        return st != HY_OK;
    }
    hy_status st = HY_OK;
    if (c->mode == HY_AFTER_DIE_2) { /* the health check must notice, without a barrier */
        for (int i = 0; i < 1000 && !(st = hy_rdzv_check(r)); i++) usleep(10000);
        if (!st) snprintf(msg, cap, "hy_rdzv_check never noticed the dead rank");
    } else {
        double t = c->mode == HY_AFTER_LATE_1 ? 0.5 : 10;
        for (int k = 0; k < 3 && !st; k++) st = hy_rdzv_barrier(r, t);
    }
    if (st) snprintf(msg, cap, "%s", hy_last_error());
    hy_rdzv_close(r);
    return st != HY_OK || c->mode != HY_AFTER_BARRIERS;
}

static int hy_rdzv_rank_body(int rank, void *arg, char *msg, size_t cap) {
    const hy_rdzv_case *c = arg;
    hy_dist_env e;
    hy_test_env(&e, rank, c->rank_world[rank] ? c->rank_world[rank] : c->world, c->port, c->key[rank]);
    unsigned char want[128], got[256];
    hy_payload(want, sizeof want);
    hy_rdzv_opts o = {c->timeout_s, rank == 0 ? want : NULL, rank == 0 ? sizeof want : 0, c->version[rank]};
    size_t n = 0;
    hy_rdzv *r = NULL;
    if (hy_rdzv_open(&r, &e, &o, got, sizeof got, &n) != HY_OK) return HY_FAIL_MSG(msg, cap, "%s", hy_last_error());
    if (n != sizeof want || memcmp(got, want, n) != 0) {
        hy_rdzv_close(r);
        return HY_FAIL_MSG(msg, cap, "rank %d: payload of %zu bytes differs from rank 0's", rank, n);
    }
    return hy_rdzv_after(c, r, rank, msg, cap);
}

/* Run ranks[0..n) of case c; expect the given exit codes (−2: any nonzero). */
static int hy_rdzv_run(hy_rdzv_case *c, int n, const int *ranks, int *codes, char (*msgs)[HY_RANK_MSG]) {
    c->port = hy_test_free_port();
    int killed = hy_fork_run(n, ranks, hy_rdzv_rank_body, c, codes, msgs, 60);
    for (int i = 0; i < n; i++) fprintf(stderr, "    rank %d: exit %d: %s\n", ranks[i], codes[i], msgs[i]);
    return killed;
}

HY_TEST(rdzv_handshake) {
    static const int worlds[] = {1, 2, 3, 5};
    for (size_t w = 0; w < HY_ARRAY_LEN(worlds); w++) {
        hy_rdzv_case c = {.world = worlds[w], .timeout_s = 30};
        int ranks[8], codes[8];
        char msgs[8][HY_RANK_MSG];
        for (int i = 0; i < c.world; i++) ranks[i] = c.world - 1 - i; /* start the peers before rank 0 */
        HY_EXPECT(hy_rdzv_run(&c, c.world, ranks, codes, msgs) == 0);
        for (int i = 0; i < c.world; i++) HY_EXPECT_MSG(codes[i] == 0, "world %d rank %d: %s", c.world, ranks[i], msgs[i]);
    }
    return 0;
}

HY_TEST(rdzv_missing_rank) {
    hy_rdzv_case c = {.world = 3, .timeout_s = 3};
    int ranks[] = {0, 1}, codes[2];
    char msgs[2][HY_RANK_MSG];
    HY_EXPECT(hy_rdzv_run(&c, 2, ranks, codes, msgs) == 0);
    HY_EXPECT(codes[0] != 0 && strstr(msgs[0], "rank 2 of 3 never connected to port") && strstr(msgs[0], "within 3 s"));
    HY_EXPECT(codes[1] != 0 && strstr(msgs[1], "rank 0 ended the job") && strstr(msgs[1], "rank 2 of 3 never connected"));
    /* no rank 0 at all: the peer names itself, the address and the time */
    hy_dist_env e;
    int port = hy_test_free_port();
    hy_test_env(&e, 3, 4, port, NULL);
    hy_rdzv_opts o = {1.0, NULL, 0, 0};
    hy_rdzv *r = NULL;
    size_t n;
    char want[160];
    snprintf(want, sizeof want, "rank 3 of 4 did not connect to 127.0.0.1:%d within 1 s", port);
    HY_EXPECT_ERR(hy_rdzv_open(&r, &e, &o, NULL, 0, &n), want);
    fprintf(stderr, "    %s\n", hy_last_error());
    return 0;
}

HY_TEST(rdzv_mismatches) {
    int ranks2[] = {0, 1}, codes[3];
    char msgs[3][HY_RANK_MSG];
    hy_rdzv_case v = {.world = 2, .timeout_s = 10, .version = {0, 2}};
    HY_EXPECT(hy_rdzv_run(&v, 2, ranks2, codes, msgs) == 0);
    HY_EXPECT(codes[0] && strstr(msgs[0], "speaks rendezvous protocol version 2 but rank 0 speaks version 1"));
    HY_EXPECT(codes[1] && strstr(msgs[1], "rank 0 ended the job") && strstr(msgs[1], "same hymba build"));
    hy_rdzv_case w = {.world = 2, .timeout_s = 10, .rank_world = {0, 3}};
    HY_EXPECT(hy_rdzv_run(&w, 2, ranks2, codes, msgs) == 0);
    HY_EXPECT(codes[0] && strstr(msgs[0], "rank 1 (host") && strstr(msgs[0], "says the world size is 3 but rank 0 says 2"));
    HY_EXPECT(codes[1] && strstr(msgs[1], "world size is 3 but rank 0 says 2"));
    hy_rdzv_case d = {.world = 3, .timeout_s = 10};
    int dup[] = {0, 1, 1};
    HY_EXPECT(hy_rdzv_run(&d, 3, dup, codes, msgs) == 0);
    HY_EXPECT(codes[0] && strstr(msgs[0], "rank 1 connected twice") && strstr(msgs[0], "same RANK"));
    HY_EXPECT(codes[1] && codes[2]);
    hy_rdzv_case k = {.world = 2, .timeout_s = 3, .key = {"job-a", "job-b"}};
    HY_EXPECT(hy_rdzv_run(&k, 2, ranks2, codes, msgs) == 0);
    HY_EXPECT(codes[1] && strstr(msgs[1], "turned away") && strstr(msgs[1], "another job uses the same MASTER_PORT"));
    HY_EXPECT(codes[0] && strstr(msgs[0], "rank 1 of 2 never connected") && strstr(msgs[0], "another job (key \"job-b\")"));
    return 0;
}

HY_TEST(rdzv_dead_peer) {
    int ranks[] = {0, 1, 2}, codes[3];
    char msgs[3][HY_RANK_MSG];
    hy_rdzv_case c = {.world = 3, .timeout_s = 20, .mode = HY_AFTER_DIE_2};
    HY_EXPECT(hy_rdzv_run(&c, 3, ranks, codes, msgs) == 0);
    /* rank 0 sees the socket close; rank 1 hears it from rank 0 */
    HY_EXPECT(strstr(msgs[0], "rank 2 (host") && strstr(msgs[0], "without a goodbye: its process died or was killed"));
    HY_EXPECT(strstr(msgs[1], "rank 2 (host") && strstr(msgs[1], "died or was killed"));
    hy_rdzv_case a = {.world = 3, .timeout_s = 20, .mode = HY_AFTER_ABORT_1};
    HY_EXPECT(hy_rdzv_run(&a, 3, ranks, codes, msgs) == 0);
    HY_EXPECT(codes[0] && strstr(msgs[0], "rank 1 (host") && strstr(msgs[0], "aborted: disk full"));
    HY_EXPECT(codes[2] && strstr(msgs[2], "rank 1 (host") && strstr(msgs[2], "aborted: disk full"));
    hy_rdzv_case l = {.world = 2, .timeout_s = 20, .mode = HY_AFTER_LATE_1};
    HY_EXPECT(hy_rdzv_run(&l, 2, ranks, codes, msgs) == 0);
    HY_EXPECT(codes[0] && strstr(msgs[0], "barrier: rank(s) 1 of 2 did not arrive within 0.5 s"));
    HY_EXPECT(codes[1] && strstr(msgs[1], "did not arrive"));
    return 0;
}

/* ---------------------------------------------------------------- single */

static hy_status hy_make_comm(hy_comm **c, const char *kind, char *const *envp, int host) {
    hy_comm_opts o;
    hy_comm_opts_default(&o);
    o.kind = kind;
    o.envp = envp;
    o.host_buffers = host;
    o.timeout_s = 20;
    return hy_comm_create_opts(c, &o);
}

HY_TEST(comm_single_identity) {
    char *empty[] = {NULL};
    hy_comm *c = NULL;
    HY_EXPECT_OK(hy_make_comm(&c, "auto", empty, 0));
    HY_EXPECT(!strcmp(hy_comm_kind(c), "single") && hy_comm_rank(c) == 0 && hy_comm_world(c) == 1 && hy_comm_device(c) == -1);
    enum { N = 4099 };
    float *a = NULL, *ref = NULL;
    uint16_t h[N], href[N];
    HY_EXPECT_OK(hy_malloc((void **)&a, N * 4, 0, "a"));
    HY_EXPECT_OK(hy_malloc((void **)&ref, N * 4, 0, "ref"));
    hy_test_rng rng = {42};
    hy_test_fill(&rng, a, N, 1.0f);
    memcpy(ref, a, N * 4);
    for (int i = 0; i < N; i++) href[i] = h[i] = hy_f32_to_bf16(a[i]);
    hy_comm_ticket t1 = 0, t2 = 0, t3 = 0, t4 = 0, t5 = 0;
    HY_EXPECT_OK(hy_comm_all_reduce(c, a, N, HY_DTYPE_F32, HY_COMM_SUM, &t1));
    HY_EXPECT_OK(hy_comm_all_reduce(c, h, N, HY_DTYPE_BF16, HY_COMM_AVG, &t2));
    HY_EXPECT_OK(hy_comm_reduce_scatter(c, a, N, HY_DTYPE_F32, HY_COMM_SUM, &t3));
    HY_EXPECT_OK(hy_comm_all_gather(c, h, N, HY_DTYPE_BF16, &t4));
    HY_EXPECT_OK(hy_comm_broadcast(c, a, N, HY_DTYPE_F32, 0, &t5));
    HY_EXPECT(t1 == 1 && t2 == 2 && t3 == 3 && t4 == 4 && t5 == 5);
    HY_EXPECT_OK(hy_comm_wait(c, t3));
    HY_EXPECT_OK(hy_comm_wait_all(c));
    HY_EXPECT_OK(hy_comm_barrier(c));
    HY_EXPECT_OK(hy_comm_order_after(c, NULL));
    HY_EXPECT_OK(hy_comm_order_before(c, NULL));
    double v[3] = {1.5, -2, 7};
    HY_EXPECT_OK(hy_comm_all_reduce_host(c, v, 3, HY_COMM_SUM));
    HY_EXPECT(v[0] == 1.5 && v[1] == -2 && v[2] == 7);
    hy_shard_plan p;
    HY_EXPECT_OK(hy_shard_plan_build(&p, N - 3, 1, 1000, 0));
    HY_EXPECT(p.padded <= N);
    hy_comm_reducer red;
    hy_comm_reducer_begin(&red, &p, a, HY_COMM_SUM, NULL);
    HY_EXPECT_OK(hy_comm_reducer_ready(c, &red, 0));
    HY_EXPECT_OK(hy_comm_reducer_finish(c, &red, NULL));
    HY_EXPECT(red.next == p.n_buckets);
    HY_EXPECT_OK(hy_comm_all_gather_params(c, h, HY_DTYPE_BF16, &p, NULL));
    HY_EXPECT_OK(hy_comm_reduce_scatter_grads(c, a, &p, HY_COMM_AVG, NULL));
    HY_EXPECT(hy_test_compare("single: f32 buffer after every collective", a, ref, N, 0, 0) == 0);
    HY_EXPECT_MSG(memcmp(h, href, sizeof h) == 0, "single: a bf16 buffer changed");
    HY_EXPECT_ERR(hy_comm_all_reduce(c, a, N, HY_DTYPE_I32, HY_COMM_SUM, NULL), "dtype I32 is not supported");
    HY_EXPECT_ERR(hy_comm_broadcast(c, a, N, HY_DTYPE_F32, 1, NULL), "root 1 outside 0..0");
    HY_EXPECT_ERR(hy_comm_wait(c, 999), "ticket 999 was never issued");
    hy_shard_plan p2;
    HY_EXPECT_OK(hy_shard_plan_build(&p2, 100, 2, 0, 0));
    HY_EXPECT_ERR(hy_comm_reduce_scatter_bucket(c, a, &p2, 0, HY_COMM_SUM, NULL), "plan for 2 rank(s) used with a communicator of 1");
    hy_shard_plan_free(&p2);
    hy_shard_plan_free(&p);
    hy_comm_free(c);
    hy_free(a);
    hy_free(ref);
    return 0;
}

HY_TEST(comm_kinds) {
    char *empty[] = {NULL};
    char *two[] = {"RANK=1", "WORLD_SIZE=2", "LOCAL_RANK=1", "MASTER_ADDR=127.0.0.1", "MASTER_PORT=1", NULL};
    char *bad[] = {"RANK=1", NULL};
    hy_comm *c = NULL;
    HY_EXPECT_ERR(hy_make_comm(&c, "single", two, 0), "kind \"single\" runs one process");
    HY_EXPECT_ERR(hy_make_comm(&c, "nccl", empty, 0), "built without NCCL"); /* this test does not link hy_comm_nccl */
    HY_EXPECT(c == NULL);
    HY_EXPECT_ERR(hy_make_comm(&c, "auto", two, 0), "built without NCCL");
    HY_EXPECT_ERR(hy_make_comm(&c, "mpi", empty, 0), "unknown kind \"mpi\"");
    HY_EXPECT_ERR(hy_make_comm(&c, "auto", bad, 0), "RANK is set but WORLD_SIZE is not");
    HY_EXPECT_OK(hy_make_comm(&c, "tcp", empty, 1)); /* one CPU process: identities */
    HY_EXPECT(!strcmp(hy_comm_kind(c), "tcp"));
    float x[3] = {1, 2, 3};
    HY_EXPECT_OK(hy_comm_all_reduce(c, x, 3, HY_DTYPE_F32, HY_COMM_AVG, NULL));
    HY_EXPECT(x[0] == 1 && x[1] == 2 && x[2] == 3);
    hy_comm_free(c);
    return 0;
}

/* ---------------------------------------------------------------- tcp, 3 processes */

typedef struct {
    int port, world, mode;
} hy_tcp_case;

static float hy_val(size_t i, int r) { return (float)((int)((i * 7919u + (size_t)r * 104729u) % 2001u) - 1000) / 64.0f; }

static int hy_tcp_join(const hy_tcp_case *c, int rank, hy_comm **comm, char *msg, size_t cap) {
    char v[6][64];
    snprintf(v[0], 64, "RANK=%d", rank);
    snprintf(v[1], 64, "WORLD_SIZE=%d", c->world);
    snprintf(v[2], 64, "LOCAL_RANK=%d", rank);
    snprintf(v[3], 64, "MASTER_ADDR=127.0.0.1");
    snprintf(v[4], 64, "MASTER_PORT=%d", c->port);
    snprintf(v[5], 64, "HYMBA_JOB_KEY=tcp-test");
    char *envp[] = {v[0], v[1], v[2], v[3], v[4], v[5], NULL};
    if (hy_make_comm(comm, "auto", envp, 1) != HY_OK) return HY_FAIL_MSG(msg, cap, "join: %s", hy_last_error());
    if (strcmp(hy_comm_kind(*comm), "tcp") || hy_comm_rank(*comm) != rank) return HY_FAIL_MSG(msg, cap, "wrong kind or rank");
    return 0;
}

/* Check buf[i] == want(i) exactly; describe the first mismatch. */
#define HY_CHECK_EXACT(label, n, got_expr, want_expr)                                                        \
    for (size_t i = 0; i < (n); i++) {                                                                       \
        float g_ = (got_expr), w_ = (want_expr);                                                             \
        if (g_ != w_ && !(g_ != g_ && w_ != w_))                                                             \
            return HY_FAIL_MSG(msg, cap, "rank %d: %s: element %zu is %.9g, expected %.9g", rank, label, i, g_, w_); \
    }

static int hy_tcp_collectives(hy_comm *c, int rank, int W, char *msg, size_t cap) {
    enum { N = 3001 };
    static float a[3 * N];
    static uint16_t h[3 * N];
    for (size_t i = 0; i < N; i++) a[i] = hy_val(i, rank);
    if (hy_comm_all_reduce(c, a, N, HY_DTYPE_F32, HY_COMM_SUM, NULL) || hy_comm_wait_all(c)) return HY_FAIL_MSG(msg, cap, "%s", hy_last_error());
    HY_CHECK_EXACT("all-reduce sum f32", N, a[i], (hy_val(i, 0) + hy_val(i, 1)) + hy_val(i, 2));
    for (size_t i = 0; i < N; i++) a[i] = hy_val(i, rank);
    if (hy_comm_all_reduce(c, a, N, HY_DTYPE_F32, HY_COMM_MAX, NULL)) return HY_FAIL_MSG(msg, cap, "%s", hy_last_error());
    HY_CHECK_EXACT("all-reduce max f32", N, a[i], fmaxf(fmaxf(hy_val(i, 0), hy_val(i, 1)), hy_val(i, 2)));
    for (size_t i = 0; i < N; i++) h[i] = hy_f32_to_bf16(hy_val(i, rank));
    if (hy_comm_all_reduce(c, h, N, HY_DTYPE_BF16, HY_COMM_AVG, NULL)) return HY_FAIL_MSG(msg, cap, "%s", hy_last_error());
    HY_CHECK_EXACT("all-reduce avg bf16", N, hy_bf16_to_f32(h[i]),
                   hy_bf16_to_f32(hy_f32_to_bf16(((hy_bf16_to_f32(hy_f32_to_bf16(hy_val(i, 0))) + hy_bf16_to_f32(hy_f32_to_bf16(hy_val(i, 1)))) +
                                                  hy_bf16_to_f32(hy_f32_to_bf16(hy_val(i, 2)))) / 3.0f)));
    for (size_t i = 0; i < (size_t)W * N; i++) a[i] = hy_val(i, rank);
    if (hy_comm_reduce_scatter(c, a, N, HY_DTYPE_F32, HY_COMM_SUM, NULL)) return HY_FAIL_MSG(msg, cap, "%s", hy_last_error());
    size_t o = (size_t)rank * N;
    HY_CHECK_EXACT("reduce-scatter own chunk", N, a[o + i], (hy_val(o + i, 0) + hy_val(o + i, 1)) + hy_val(o + i, 2));
    for (size_t i = 0; i < (size_t)W * N; i++) h[i] = i / N == (size_t)rank ? hy_f32_to_bf16(hy_val(i, 9)) : 0xffff;
    if (hy_comm_all_gather(c, h, N, HY_DTYPE_BF16, NULL)) return HY_FAIL_MSG(msg, cap, "%s", hy_last_error());
    HY_CHECK_EXACT("all-gather bf16", (size_t)W * N, hy_bf16_to_f32(h[i]), hy_bf16_to_f32(hy_f32_to_bf16(hy_val(i, 9))));
    for (size_t i = 0; i < N; i++) a[i] = rank == 2 ? hy_val(i, 5) : -1.0f;
    if (hy_comm_broadcast(c, a, N, HY_DTYPE_F32, 2, NULL)) return HY_FAIL_MSG(msg, cap, "%s", hy_last_error());
    HY_CHECK_EXACT("broadcast from rank 2", N, a[i], hy_val(i, 5));
    double v[2] = {(double)rank + 0.25, (double)(10 * rank)};
    if (hy_comm_all_reduce_host(c, v, 2, HY_COMM_SUM)) return HY_FAIL_MSG(msg, cap, "%s", hy_last_error());
    if (v[0] != 3.75 || v[1] != 30) return HY_FAIL_MSG(msg, cap, "rank %d: host all-reduce gave %g %g", rank, v[0], v[1]);
    return 0;
}

/* ZeRO-1: reduce-scatter the flat gradients by buckets, update the owned
 * chunks, all-gather: every rank ends with every bucket's update. */
static int hy_tcp_zero1(hy_comm *c, int rank, char *msg, size_t cap) {
    hy_shard_plan p;
    if (hy_shard_plan_build(&p, 10007, 3, 1000, 0)) return HY_FAIL_MSG(msg, cap, "%s", hy_last_error());
    float *g = calloc(p.padded, 4), *w = calloc(p.padded, 4);
    int bad = !g || !w;
    for (size_t i = 0; !bad && i < p.total; i++) g[i] = hy_val(i, rank);
    hy_comm_reducer red;
    hy_comm_reducer_begin(&red, &p, g, HY_COMM_SUM, NULL);
    if (!bad && (hy_comm_reducer_ready(c, &red, 0) || hy_comm_reducer_finish(c, &red, NULL))) bad = 2;
    for (size_t i = 0; bad == 0 && i < p.padded; i++) {
        size_t loc;
        if (hy_shard_owner(&p, i, &loc) != rank) continue;
        float want = i < p.total ? (hy_val(i, 0) + hy_val(i, 1)) + hy_val(i, 2) : 0.0f;
        if (g[i] != want) { snprintf(msg, cap, "rank %d: reduced gradient %zu is %g, expected %g", rank, i, g[i], want); bad = 1; }
        w[i] = 2.0f * g[i]; /* "the update" of the owned elements */
    }
    if (!bad && hy_comm_all_gather_params(c, w, HY_DTYPE_F32, &p, NULL)) bad = 2;
    for (size_t i = 0; bad == 0 && i < p.padded; i++) {
        float want = i < p.total ? 2.0f * ((hy_val(i, 0) + hy_val(i, 1)) + hy_val(i, 2)) : 0.0f;
        if (w[i] != want) { snprintf(msg, cap, "rank %d: gathered weight %zu is %g, expected %g", rank, i, w[i], want); bad = 1; }
    }
    if (bad == 2) snprintf(msg, cap, "%s", hy_last_error());
    free(g);
    free(w);
    hy_shard_plan_free(&p);
    return bad;
}

static int hy_tcp_rank_body(int rank, void *arg, char *msg, size_t cap) {
    const hy_tcp_case *tc = arg;
    hy_comm *c = NULL;
    if (hy_tcp_join(tc, rank, &c, msg, cap)) return 1;
    int rc = 0;
    if (tc->mode == 1) { /* rank 2 dies; the others must name it */
        if (rank == 2) _exit(3);
        float x[4] = {0};
        hy_status st = hy_comm_all_reduce(c, x, 4, HY_DTYPE_F32, HY_COMM_SUM, NULL);
        rc = st == HY_OK ? HY_FAIL_MSG(msg, cap, "all-reduce succeeded without rank 2") : HY_FAIL_MSG(msg, cap, "%s", hy_last_error());
    } else {
        rc = hy_tcp_collectives(c, rank, tc->world, msg, cap);
        if (!rc) rc = hy_tcp_zero1(c, rank, msg, cap);
        if (!rc && hy_comm_barrier(c)) rc = HY_FAIL_MSG(msg, cap, "barrier: %s", hy_last_error());
    }
    if (rc && tc->mode == 0) hy_comm_abort(c, msg);
    hy_comm_free(c);
    return rc;
}

HY_TEST(comm_tcp_three_ranks) {
    hy_tcp_case tc = {hy_test_free_port(), 3, 0};
    int ranks[] = {2, 1, 0}, codes[3];
    char msgs[3][HY_RANK_MSG];
    HY_EXPECT(hy_fork_run(3, ranks, hy_tcp_rank_body, &tc, codes, msgs, 120) == 0);
    for (int i = 0; i < 3; i++) HY_EXPECT_MSG(codes[i] == 0, "rank %d: %s", ranks[i], msgs[i]);
    return 0;
}

HY_TEST(comm_tcp_dead_rank) {
    hy_tcp_case tc = {hy_test_free_port(), 3, 1};
    int ranks[] = {0, 1, 2}, codes[3];
    char msgs[3][HY_RANK_MSG];
    HY_EXPECT(hy_fork_run(3, ranks, hy_tcp_rank_body, &tc, codes, msgs, 60) == 0);
    for (int i = 0; i < 2; i++) {
        fprintf(stderr, "    rank %d: %s\n", i, msgs[i]);
        HY_EXPECT_MSG(codes[i] != 0 && strstr(msgs[i], "rank 2 (host") && strstr(msgs[i], "died or was killed"), "rank %d: %s", i, msgs[i]);
    }
    HY_EXPECT(codes[2] == 3);
    return 0;
}

/* `hymba launch -n 3 -- test_comm --child-tcp`: join through the
 * environment, sum the ranks, print from rank 0. */
static int hy_child_tcp(void) {
    hy_comm_opts o;
    hy_comm_opts_default(&o);
    o.host_buffers = 1;
    o.timeout_s = 30;
    hy_comm *c = NULL;
    if (hy_comm_create_opts(&c, &o)) { fprintf(stderr, "child: %s\n", hy_last_error()); return 1; }
    double v[1] = {(double)hy_comm_rank(c)};
    hy_status st = hy_comm_all_reduce_host(c, v, 1, HY_COMM_SUM);
    if (!st) st = hy_comm_barrier(c);
    int w = hy_comm_world(c);
    if (st) fprintf(stderr, "child: %s\n", hy_last_error());
    else printf("rank %d of %d (%s): rank sum %g, expected %d\n", hy_comm_rank(c), w, hy_comm_kind(c), v[0], w * (w - 1) / 2);
    fflush(stdout);
    hy_comm_free(c);
    return st != HY_OK || v[0] != w * (w - 1) / 2;
}

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "--child-tcp")) return hy_child_tcp();
    return hy_test_main(argc, argv);
}

/* rendezvous.h — how the processes of a data-parallel job find each other.
 *
 * 1. Environment detection (core/rendezvous_env.c): rank, world size, local
 *    rank and the master address from the variables of the common
 *    launchers, in this order of precedence (the first that is present wins;
 *    HYMBA_LAUNCHER=torchrun|mpi|slurm|none forces one):
 *      torchrun style  RANK, WORLD_SIZE, LOCAL_RANK [, LOCAL_WORLD_SIZE],
 *                      MASTER_ADDR, MASTER_PORT — what `hymba launch` and
 *                      torchrun set;
 *      Open MPI        OMPI_COMM_WORLD_RANK, _SIZE, _LOCAL_RANK [, _LOCAL_SIZE];
 *                      MASTER_ADDR (127.0.0.1 when every rank is on one
 *                      node), MASTER_PORT (default 29500);
 *      SLURM (srun)    SLURM_PROCID, SLURM_STEP_NUM_TASKS or SLURM_NTASKS,
 *                      SLURM_LOCALID; MASTER_ADDR or else
 *                      SLURM_LAUNCH_NODE_IPADDR; MASTER_PORT or else
 *                      29500 + SLURM_JOB_ID mod 1000.  Only srun tasks count
 *                      (SLURM_LOCALID set): a batch script itself is a
 *                      single process;
 *      none            rank 0 of 1.
 *    HYMBA_RDZV_PORT, when set, replaces the port for every launcher; under
 *    torchrun with TORCHELASTIC_USE_AGENT_STORE=True (its agent serves a
 *    store on MASTER_PORT itself) the default is MASTER_PORT + 1.
 *    torchrun wins over the others because torchrun (and `hymba launch`) is
 *    often started BY srun or mpirun, one launcher per node, and then the
 *    outer launcher's variables describe the launcher, not the rank.
 *    Errors (HY_ERR_CONFIG) name the variable, its value and what was
 *    expected: half a set (RANK without WORLD_SIZE), non-numbers, a rank
 *    outside [0, world), a local rank outside [0, local world), a missing
 *    master address, a port outside 1..65535.
 *
 * 2. Handshake (core/rendezvous.c), a small TCP protocol: rank 0 listens on
 *    MASTER_PORT (all interfaces), every other rank connects to
 *    MASTER_ADDR:MASTER_PORT (retrying until the timeout) and sends a hello
 *    (magic, protocol version, rank, world size, job key, host, pid).  Rank 0
 *    checks every hello — a different version, world size or a rank already
 *    taken ends the job with a message naming both sides; a different job
 *    key (another job that picked the same port) is turned away and rank 0
 *    keeps waiting — and once all world−1 ranks are in, replies to each with
 *    the payload (the NCCL unique id, or any blob up to
 *    HY_RDZV_PAYLOAD_MAX bytes).  Returning from hy_rdzv_open is therefore
 *    also a barrier.  A rank that never arrives makes rank 0 fail with
 *    "ranks 2, 3 of 4 never connected to port 29500 within 60 s" and the
 *    others fail with "rank 3 of 4 did not connect to 10.0.0.1:29500
 *    within 60 s" or with rank 0's reason.
 *
 * 3. The control channel: the handshake's connections (a star around rank
 *    0) stay open for the job's lifetime and carry barriers, abort notices
 *    and, for the CPU communicator, data.  A process that dies closes its
 *    socket, so hy_rdzv_check — polled by the NCCL communicator while it
 *    waits — notices a dead peer at once and names it, where NCCL alone
 *    would hang until the timeout.  Rank 0 relays what it learns (a peer's
 *    death or abort) to all others.
 *
 * Threading: one hy_rdzv belongs to one thread at a time.  Every call is
 * bounded by a timeout; nothing here blocks forever.  SIGPIPE is never
 * raised (writes use MSG_NOSIGNAL). */
#ifndef HY_RENDEZVOUS_H
#define HY_RENDEZVOUS_H
#include "hy_base.h"
#ifdef __cplusplus
extern "C" {
#endif

typedef enum { HY_LAUNCHER_NONE = 0, HY_LAUNCHER_TORCHRUN, HY_LAUNCHER_MPI, HY_LAUNCHER_SLURM } hy_launcher;

typedef struct {
    hy_launcher launcher; /* where the values came from */
    int rank;             /* 0 ≤ rank < world */
    int world;            /* ≥ 1 */
    int local_rank;       /* index among the ranks of this node: the GPU to use */
    int local_world;      /* ranks on this node; −1 when the launcher does not say */
    char master_addr[256]; /* host name or address of rank 0 ("" when world = 1) */
    int master_port;      /* 1..65535 (0 when world = 1) */
    char job_key[96];     /* identifies the job: HYMBA_JOB_KEY, TORCHELASTIC_RUN_ID,
                             PMIX_NAMESPACE or SLURM_JOB_ID.SLURM_STEP_ID; may be "" */
    char origin[64];      /* the variables used, for messages: "RANK/WORLD_SIZE" ... */
} hy_dist_env;

/* Detect from `envp` (NULL-terminated "NAME=value" strings; NULL: the
 * process environment).  HY_ERR_CONFIG with the variable named on
 * inconsistent or malformed values. */
hy_status hy_dist_env_detect(hy_dist_env *e, char *const *envp);
const char *hy_launcher_name(hy_launcher l); /* "none", "torchrun", "mpi", "slurm" */
/* Timeout in seconds from HYMBA_COMM_TIMEOUT in `envp` (NULL: process
 * environment), else `fallback`; HY_ERR_CONFIG when set but not a positive
 * number. */
hy_status hy_dist_timeout(char *const *envp, double fallback, double *out);

enum { HY_RDZV_PAYLOAD_MAX = 4096, HY_RDZV_VERSION = 1 };

typedef struct hy_rdzv hy_rdzv;

typedef struct {
    double timeout_s;          /* handshake deadline, from each rank's start (> 0) */
    const void *payload;       /* rank 0: the blob every rank receives (may be NULL if n = 0) */
    size_t payload_len;        /* ≤ HY_RDZV_PAYLOAD_MAX */
    unsigned protocol_version; /* 0: HY_RDZV_VERSION (tests send others) */
} hy_rdzv_opts;

/* Run the handshake for rank e->rank of e->world.  On success *out owns the
 * control channel and `payload_out` (capacity `cap`) holds rank 0's payload,
 * *n_out its length (rank 0 gets its own).  World size 1: no sockets.
 * Errors: HY_ERR_NCCL (the category of every distributed-setup failure)
 * with a message saying which rank, which address and port, and a hint. */
hy_status hy_rdzv_open(hy_rdzv **out, const hy_dist_env *e, const hy_rdzv_opts *o, void *payload_out, size_t cap, size_t *n_out);
/* Clean shutdown: peers say goodbye so rank 0 does not report them dead.
 * NULL is a no-op. */
void hy_rdzv_close(hy_rdzv *r);

int hy_rdzv_rank(const hy_rdzv *r);
int hy_rdzv_world(const hy_rdzv *r);

/* All ranks meet (or an error: a peer died, aborted, or did not arrive in
 * `timeout_s`). */
hy_status hy_rdzv_barrier(hy_rdzv *r, double timeout_s);
/* Non-blocking health check: HY_ERR_NCCL when a peer has died (closed its
 * connection without a goodbye) or an abort notice arrived; the message
 * names the rank and relays its reason.  Rank 0 passes the news on. */
hy_status hy_rdzv_check(hy_rdzv *r);
/* Tell every other rank that this one is giving up and why (best effort,
 * never blocks more than a moment).  The channel stays usable for close. */
void hy_rdzv_abort(hy_rdzv *r, const char *reason);

/* Point-to-point data over the star (rank 0 ↔ peer; a peer can only talk
 * to rank 0): the CPU communicator's transport.  Both sides must agree on
 * `n`; a length mismatch is a protocol error. */
hy_status hy_rdzv_send(hy_rdzv *r, int peer, const void *data, size_t n, double timeout_s);
hy_status hy_rdzv_recv(hy_rdzv *r, int peer, void *data, size_t n, double timeout_s);

#ifdef __cplusplus
}
#endif
#endif

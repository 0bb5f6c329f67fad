/* rendezvous_env.c — rank, world size, local rank and master address from
 * the launcher's environment variables (precedence and rules in
 * rendezvous.h).  Reads an explicit envp array so tests can present any
 * launcher without touching the process environment.  Every value is parsed
 * strictly (decimal digits only): a typo must not silently become rank 0. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rendezvous.h"

extern char **environ;

/* Value of NAME in envp (NULL: the process environment); NULL when unset. */
static const char *hy_env_get(char *const *envp, const char *name) {
    char *const *env = envp ? envp : environ;
    size_t n = strlen(name);
    for (size_t i = 0; env && env[i]; i++)
        if (!strncmp(env[i], name, n) && env[i][n] == '=') return env[i] + n + 1;
    return NULL;
}

static int hy_env_set(char *const *envp, const char *name) {
    const char *v = hy_env_get(envp, name);
    return v != NULL && v[0] != '\0';
}

/* Parse NAME as an integer in [lo, hi]; *out untouched when unset (returns
 * HY_OK with *present = 0). */
static hy_status hy_env_int(char *const *envp, const char *name, long lo, long hi, int *out, int *present) {
    const char *v = hy_env_get(envp, name);
    *present = v != NULL && v[0] != '\0';
    if (!*present) return HY_OK;
    int digits = 1;
    for (const char *p = v; *p; p++) digits &= (*p >= '0' && *p <= '9');
    errno = 0;
    char *end = NULL;
    long x = digits ? strtol(v, &end, 10) : 0;
    if (!digits || errno || !end || *end || x < lo || x > hi)
        return hy_errorf(HY_ERR_CONFIG, "environment: %s=\"%s\": expected an integer in %ld..%ld", name, v, lo, hi);
    *out = (int)x;
    return HY_OK;
}

/* Require NAME (integer in [lo, hi]); `why` completes the error message. */
static hy_status hy_env_need(char *const *envp, const char *name, long lo, long hi, int *out, const char *why) {
    int present;
    HY_TRY(hy_env_int(envp, name, lo, hi, out, &present));
    if (!present) return hy_errorf(HY_ERR_CONFIG, "environment: %s is not set: %s", name, why);
    return HY_OK;
}

static hy_status hy_env_copy(char *dst, size_t cap, const char *name, const char *v) {
    if (strlen(v) >= cap) return hy_errorf(HY_ERR_CONFIG, "environment: %s is %zu characters long (at most %zu)", name, strlen(v), cap - 1);
    memcpy(dst, v, strlen(v) + 1);
    return HY_OK;
}

const char *hy_launcher_name(hy_launcher l) {
    switch (l) {
    case HY_LAUNCHER_NONE: return "none";
    case HY_LAUNCHER_TORCHRUN: return "torchrun";
    case HY_LAUNCHER_MPI: return "mpi";
    case HY_LAUNCHER_SLURM: return "slurm";
    }
    return "?";
}

/* MASTER_ADDR / MASTER_PORT with launcher-specific fallbacks ("" / 0 when
 * none applies). */
static hy_status hy_env_master(hy_dist_env *e, char *const *envp, const char *addr_fallback, int port_fallback) {
    const char *a = hy_env_get(envp, "MASTER_ADDR");
    if (a && a[0]) HY_TRY(hy_env_copy(e->master_addr, sizeof e->master_addr, "MASTER_ADDR", a));
    else if (addr_fallback) HY_TRY(hy_env_copy(e->master_addr, sizeof e->master_addr, "master address", addr_fallback));
    int present;
    e->master_port = port_fallback;
    return hy_env_int(envp, "MASTER_PORT", 1, 65535, &e->master_port, &present);
}

static hy_status hy_detect_torchrun(hy_dist_env *e, char *const *envp) {
    int has_rank = hy_env_set(envp, "RANK"), has_world = hy_env_set(envp, "WORLD_SIZE"), present;
    if (has_rank != has_world)
        return hy_errorf(HY_ERR_CONFIG, "environment: %s is set but %s is not: set both RANK and WORLD_SIZE (torchrun style) or neither",
                         has_rank ? "RANK" : "WORLD_SIZE", has_rank ? "WORLD_SIZE" : "RANK");
    HY_TRY(hy_env_need(envp, "WORLD_SIZE", 1, 65536, &e->world, "the number of ranks"));
    HY_TRY(hy_env_need(envp, "RANK", 0, 65535, &e->rank, "this process's rank"));
    HY_TRY(hy_env_int(envp, "LOCAL_RANK", 0, 65535, &e->local_rank, &present));
    if (!present && e->world > 1)
        return hy_errorf(HY_ERR_CONFIG, "environment: RANK=%d WORLD_SIZE=%d but LOCAL_RANK is not set: it selects this rank's GPU on its "
                                        "node (hymba launch and torchrun set it)", e->rank, e->world);
    HY_TRY(hy_env_int(envp, "LOCAL_WORLD_SIZE", 1, 65536, &e->local_world, &present));
    const char *key = hy_env_get(envp, "TORCHELASTIC_RUN_ID");
    if (key) HY_TRY(hy_env_copy(e->job_key, sizeof e->job_key, "TORCHELASTIC_RUN_ID", key));
    snprintf(e->origin, sizeof e->origin, "RANK/WORLD_SIZE");
    HY_TRY(hy_env_master(e, envp, NULL, 0));
    /* torchrun's agent serves its own store on MASTER_PORT (workers only
     * connect to it), so that port is taken: use the next one */
    const char *agent = hy_env_get(envp, "TORCHELASTIC_USE_AGENT_STORE");
    if (agent && (!strcmp(agent, "True") || !strcmp(agent, "1")) && e->master_port > 0 && e->master_port < 65535) e->master_port++;
    return HY_OK;
}

static hy_status hy_detect_mpi(hy_dist_env *e, char *const *envp) {
    int has_rank = hy_env_set(envp, "OMPI_COMM_WORLD_RANK"), has_world = hy_env_set(envp, "OMPI_COMM_WORLD_SIZE"), present;
    if (has_rank != has_world)
        return hy_errorf(HY_ERR_CONFIG, "environment: %s is set but %s is not (Open MPI sets both)",
                         has_rank ? "OMPI_COMM_WORLD_RANK" : "OMPI_COMM_WORLD_SIZE", has_rank ? "OMPI_COMM_WORLD_SIZE" : "OMPI_COMM_WORLD_RANK");
    HY_TRY(hy_env_need(envp, "OMPI_COMM_WORLD_SIZE", 1, 65536, &e->world, "the number of ranks (run under mpirun)"));
    HY_TRY(hy_env_need(envp, "OMPI_COMM_WORLD_RANK", 0, 65535, &e->rank, "this process's rank (run under mpirun)"));
    HY_TRY(hy_env_int(envp, "OMPI_COMM_WORLD_LOCAL_RANK", 0, 65535, &e->local_rank, &present));
    if (!present && e->world > 1)
        return hy_errorf(HY_ERR_CONFIG, "environment: OMPI_COMM_WORLD_LOCAL_RANK is not set (Open MPI sets it; an older or different MPI?)");
    HY_TRY(hy_env_int(envp, "OMPI_COMM_WORLD_LOCAL_SIZE", 1, 65536, &e->local_world, &present));
    const char *key = hy_env_get(envp, "PMIX_NAMESPACE");
    if (key) HY_TRY(hy_env_copy(e->job_key, sizeof e->job_key, "PMIX_NAMESPACE", key));
    snprintf(e->origin, sizeof e->origin, "OMPI_COMM_WORLD_*");
    /* one node: rank 0 is on this host */
    const char *fallback = e->local_world == e->world ? "127.0.0.1" : NULL;
    HY_TRY(hy_env_master(e, envp, fallback, 29500));
    if (!e->master_addr[0] && e->world > 1)
        return hy_errorf(HY_ERR_CONFIG, "environment: Open MPI job over several nodes but MASTER_ADDR is not set: pass the host of rank 0, "
                                        "e.g. mpirun -x MASTER_ADDR=$(hostname) -x MASTER_PORT=29500 ...");
    return HY_OK;
}

static hy_status hy_detect_slurm(hy_dist_env *e, char *const *envp) {
    int present;
    HY_TRY(hy_env_need(envp, "SLURM_PROCID", 0, 65535, &e->rank, "this task's rank (run under srun)"));
    HY_TRY(hy_env_int(envp, "SLURM_STEP_NUM_TASKS", 1, 65536, &e->world, &present));
    if (!present) HY_TRY(hy_env_need(envp, "SLURM_NTASKS", 1, 65536, &e->world, "the number of tasks (srun -n N)"));
    HY_TRY(hy_env_need(envp, "SLURM_LOCALID", 0, 65535, &e->local_rank, "this task's index on its node"));
    int job = 0, has_job;
    HY_TRY(hy_env_int(envp, "SLURM_JOB_ID", 0, 2147483647L, &job, &has_job));
    if (has_job) {
        const char *step = hy_env_get(envp, "SLURM_STEP_ID");
        snprintf(e->job_key, sizeof e->job_key, "slurm-%d.%s", job, step && step[0] ? step : "0");
    }
    snprintf(e->origin, sizeof e->origin, "SLURM_PROCID/SLURM_NTASKS");
    HY_TRY(hy_env_master(e, envp, hy_env_get(envp, "SLURM_LAUNCH_NODE_IPADDR"), 29500 + (has_job ? job % 1000 : 0)));
    if (!e->master_addr[0] && e->world > 1)
        return hy_errorf(HY_ERR_CONFIG, "environment: SLURM job without MASTER_ADDR or SLURM_LAUNCH_NODE_IPADDR: set MASTER_ADDR to "
                                        "the host of rank 0 (e.g. $(scontrol show hostnames $SLURM_JOB_NODELIST | head -n1))");
    return HY_OK;
}

static hy_status hy_pick_launcher(char *const *envp, hy_launcher *l) {
    const char *force = hy_env_get(envp, "HYMBA_LAUNCHER");
    if (force && force[0]) {
        for (int k = HY_LAUNCHER_NONE; k <= HY_LAUNCHER_SLURM; k++)
            if (!strcmp(force, hy_launcher_name((hy_launcher)k))) { *l = (hy_launcher)k; return HY_OK; }
        return hy_errorf(HY_ERR_CONFIG, "environment: HYMBA_LAUNCHER=\"%s\": expected one of torchrun, mpi, slurm, none", force);
    }
    if (hy_env_set(envp, "RANK") || hy_env_set(envp, "WORLD_SIZE")) *l = HY_LAUNCHER_TORCHRUN;
    else if (hy_env_set(envp, "OMPI_COMM_WORLD_RANK") || hy_env_set(envp, "OMPI_COMM_WORLD_SIZE")) *l = HY_LAUNCHER_MPI;
    else if (hy_env_set(envp, "SLURM_LOCALID")) *l = HY_LAUNCHER_SLURM;
    else if (hy_env_set(envp, "LOCAL_RANK"))
        return hy_errorf(HY_ERR_CONFIG, "environment: LOCAL_RANK=%s is set but RANK and WORLD_SIZE are not: set all three "
                                        "(torchrun style) or use hymba launch", hy_env_get(envp, "LOCAL_RANK"));
    else *l = HY_LAUNCHER_NONE;
    return HY_OK;
}

/* Rules every launcher's values must satisfy. */
static hy_status hy_env_validate(const hy_dist_env *e) {
    if (e->rank >= e->world)
        return hy_errorf(HY_ERR_CONFIG, "environment (%s): rank %d is outside 0..%d for world size %d", e->origin, e->rank, e->world - 1, e->world);
    if (e->local_world > 0 && e->local_rank >= e->local_world)
        return hy_errorf(HY_ERR_CONFIG, "environment (%s): local rank %d is outside 0..%d for %d rank(s) on this node", e->origin,
                         e->local_rank, e->local_world - 1, e->local_world);
    if (e->local_world > e->world)
        return hy_errorf(HY_ERR_CONFIG, "environment (%s): %d ranks on this node but only %d in the job", e->origin, e->local_world, e->world);
    if (e->world > 1 && !e->master_addr[0])
        return hy_errorf(HY_ERR_CONFIG, "environment (%s): world size %d but MASTER_ADDR is not set: set it to the host of rank 0",
                         e->origin, e->world);
    if (e->world > 1 && e->master_port <= 0)
        return hy_errorf(HY_ERR_CONFIG, "environment (%s): world size %d but MASTER_PORT is not set: pick a free TCP port, e.g. 29500",
                         e->origin, e->world);
    return HY_OK;
}

hy_status hy_dist_env_detect(hy_dist_env *e, char *const *envp) {
    memset(e, 0, sizeof *e);
    e->world = 1;
    e->local_world = -1;
    HY_TRY(hy_pick_launcher(envp, &e->launcher));
    switch (e->launcher) {
    case HY_LAUNCHER_TORCHRUN: HY_TRY(hy_detect_torchrun(e, envp)); break;
    case HY_LAUNCHER_MPI: HY_TRY(hy_detect_mpi(e, envp)); break;
    case HY_LAUNCHER_SLURM: HY_TRY(hy_detect_slurm(e, envp)); break;
    case HY_LAUNCHER_NONE:
        e->local_world = 1;
        snprintf(e->origin, sizeof e->origin, "no launcher");
        break;
    }
    const char *key = hy_env_get(envp, "HYMBA_JOB_KEY");
    if (key && key[0]) HY_TRY(hy_env_copy(e->job_key, sizeof e->job_key, "HYMBA_JOB_KEY", key));
    int present;
    HY_TRY(hy_env_int(envp, "HYMBA_RDZV_PORT", 1, 65535, &e->master_port, &present));
    if (e->world == 1) { e->master_addr[0] = '\0'; e->master_port = 0; }
    return hy_env_validate(e);
}

hy_status hy_dist_timeout(char *const *envp, double fallback, double *out) {
    const char *v = hy_env_get(envp, "HYMBA_COMM_TIMEOUT");
    *out = fallback;
    if (!v || !v[0]) return HY_OK;
    char *end = NULL;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || !end || *end || !(x > 0) || x > 1e7)
        return hy_errorf(HY_ERR_CONFIG, "environment: HYMBA_COMM_TIMEOUT=\"%s\": expected a positive number of seconds", v);
    *out = x;
    return HY_OK;
}

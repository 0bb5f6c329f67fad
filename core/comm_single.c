/* comm_single.c — the single-process communicator (world size 1), used by
 * the CPU build and by one-GPU runs.  Every collective over one rank is the
 * identity (sum, average, maximum, gather and broadcast of one contribution
 * are that contribution), and every collective here works in place, so no
 * call reads or writes memory: the same code serves host and device
 * buffers, and nothing needs a CUDA stream.  Completion is immediate. */
#include "comm_internal.h"

static hy_status hy_single_all_reduce(hy_comm *c, void *buf, size_t n, hy_dtype dt, hy_comm_op op) {
    (void)c, (void)buf, (void)n, (void)dt, (void)op;
    return HY_OK;
}

static hy_status hy_single_reduce_scatter(hy_comm *c, void *buf, size_t chunk, hy_dtype dt, hy_comm_op op) {
    (void)c, (void)buf, (void)chunk, (void)dt, (void)op;
    return HY_OK;
}

static hy_status hy_single_all_gather(hy_comm *c, void *buf, size_t chunk, hy_dtype dt) {
    (void)c, (void)buf, (void)chunk, (void)dt;
    return HY_OK;
}

static hy_status hy_single_broadcast(hy_comm *c, void *buf, size_t n, hy_dtype dt, int root) {
    (void)c, (void)buf, (void)n, (void)dt, (void)root;
    return HY_OK;
}

static hy_status hy_single_all_reduce_host(hy_comm *c, double *vals, int n, hy_comm_op op) {
    (void)c, (void)vals, (void)n, (void)op;
    return HY_OK;
}

static const hy_comm_vt hy_single_vt = {
    .name = "single",
    .all_reduce = hy_single_all_reduce,
    .reduce_scatter = hy_single_reduce_scatter,
    .all_gather = hy_single_all_gather,
    .broadcast = hy_single_broadcast,
    .all_reduce_host = hy_single_all_reduce_host,
};

hy_status hy_comm_single_init(hy_comm *c) {
    HY_ASSERT(c->env.world == 1);
    c->vt = &hy_single_vt;
    return HY_OK;
}

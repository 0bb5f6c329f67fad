/* comm_internal.h — the communicator's implementation table and state,
 * shared by core/comm.c (dispatch, argument checks, factory, ZeRO-1
 * helpers) and the implementations core/comm_single.c, core/comm_tcp.c and
 * core/comm_nccl.c.  Not for other modules.
 *
 * The dispatch layer checks arguments, hands out tickets (one per
 * collective, increasing from 1) and makes failures sticky; an
 * implementation only moves data.  Implementations whose collectives
 * complete synchronously leave `record` and `wait` NULL. */
#ifndef HY_COMM_INTERNAL_H
#define HY_COMM_INTERNAL_H
#include "comm.h"

typedef struct {
    const char *name;
    hy_status (*all_reduce)(hy_comm *c, void *buf, size_t n, hy_dtype dt, hy_comm_op op);
    hy_status (*reduce_scatter)(hy_comm *c, void *buf, size_t chunk, hy_dtype dt, hy_comm_op op);
    hy_status (*all_gather)(hy_comm *c, void *buf, size_t chunk, hy_dtype dt);
    hy_status (*broadcast)(hy_comm *c, void *buf, size_t n, hy_dtype dt, int root);
    hy_status (*all_reduce_host)(hy_comm *c, double *vals, int n, hy_comm_op op);
    /* after collective `t` was queued: remember where it ends (may be NULL) */
    hy_status (*record)(hy_comm *c, hy_comm_ticket t);
    /* block until `t` is complete (may be NULL: everything completes at once) */
    hy_status (*wait)(hy_comm *c, hy_comm_ticket t);
    hy_status (*order_after)(hy_comm *c, void *stream);  /* may be NULL */
    hy_status (*order_before)(hy_comm *c, void *stream); /* may be NULL */
    void (*abort)(hy_comm *c, const char *reason);       /* may be NULL */
    void (*destroy)(hy_comm *c);                         /* may be NULL */
} hy_comm_vt;

struct hy_comm {
    const hy_comm_vt *vt;
    void *impl;               /* the implementation's state */
    hy_dist_env env;
    hy_rdzv *rdzv;            /* control channel; NULL for world size 1 */
    double timeout_s;
    int device;               /* CUDA device (nccl), −1 otherwise */
    hy_comm_ticket issued;    /* last ticket handed out */
    hy_comm_ticket completed; /* every ticket ≤ this is known complete */
    int failed;               /* sticky: a collective or wait failed */
    char failed_msg[1280];
};

/* Implementations: fill c->vt / c->impl (and c->rdzv for world > 1). */
hy_status hy_comm_single_init(hy_comm *c);
hy_status hy_comm_tcp_init(hy_comm *c);
/* Defined by core/comm_nccl.c when the hy_comm_nccl library is linked; a
 * weak fallback in core/comm.c reports that NCCL was not built. */
hy_status hy_comm_nccl_init(hy_comm *c, int device);

/* Run the rendezvous for c->env with `payload` from rank 0 (the others get
 * it in `out`, capacity `cap`). */
hy_status hy_comm_rendezvous(hy_comm *c, const void *payload, size_t n, void *out, size_t cap);

#endif

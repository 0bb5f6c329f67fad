/* rendezvous_internal.h — the control channel's state and socket helpers,
 * shared by core/rendezvous.c (handshake) and core/rendezvous_chan.c
 * (barriers, health checks, aborts, data).  Not for other modules. */
#ifndef HY_RENDEZVOUS_INTERNAL_H
#define HY_RENDEZVOUS_INTERNAL_H
#include <poll.h>

#include "rendezvous.h"

enum { HY_SOCK_OK = 0, HY_SOCK_TIMEOUT, HY_SOCK_CLOSED, HY_SOCK_ERROR };
/* channel message types (u32 type, u32 0, u64 len, body) */
enum { HY_MSG_BARRIER = 1, HY_MSG_RELEASE, HY_MSG_ABORT, HY_MSG_BYE, HY_MSG_DATA };
enum { HY_MSG_HEAD = 16, HY_MSG_TEXT_MAX = 1024 };

typedef struct {
    int fd;                /* −1: none (not connected, or closed after a goodbye) */
    int bye;               /* said goodbye: its end of file is not a death */
    uint64_t barrier_seq;  /* rank 0: latest barrier this peer reached */
    int pid;
    char host[64];
} hy_rdzv_peer;

struct hy_rdzv {
    int rank, world;
    unsigned version;
    hy_rdzv_peer *peers;   /* [world]: rank 0 uses 1..world−1, a peer uses [0] (rank 0) */
    uint64_t barrier_seq;  /* barriers entered by this rank */
    uint64_t released;     /* peer: latest barrier rank 0 released */
    char failed[HY_MSG_TEXT_MAX + 128]; /* sticky: once set, every call fails with it */
    struct pollfd *pfd;    /* [world] scratch for polling the peers (allocated once) */
    int *pidx;             /* [world] peer rank of each pfd entry */
};

/* HY_SOCK_* codes; the fd is non-blocking, waits end at `deadline`. */
int hy_sock_write_all(int fd, const void *buf, size_t n, double deadline);
int hy_sock_read_all(int fd, void *buf, size_t n, double deadline);
const char *hy_sock_what(int sock_code);
void hy_put_u32(unsigned char *p, uint32_t v);
uint32_t hy_get_u32(const unsigned char *p);
void hy_put_u64(unsigned char *p, uint64_t v);
uint64_t hy_get_u64(const unsigned char *p);
/* One framed channel message. */
int hy_chan_send(int fd, uint32_t type, const void *body, uint64_t len, double deadline);

#endif

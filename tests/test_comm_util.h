/* test_comm_util.h — helpers shared by the communicator tests
 * (tests/test_comm*.c): run a function in several forked "ranks", pick a
 * free TCP port, build a rendezvous environment. */
#ifndef HY_TEST_COMM_UTIL_H
#define HY_TEST_COMM_UTIL_H
#include <stddef.h>

#include "core/rendezvous.h"

enum { HY_RANK_MSG = 2048 };
/* The body of one rank: return 0 on success, nonzero on failure, with a
 * message in msg (the error text the rank saw, or what mismatched). */
typedef int (*hy_rank_fn)(int rank, void *arg, char *msg, size_t cap);

/* Fork n processes; process i runs fn(ranks[i], arg, ...) and exits with its
 * return value.  codes[i] receives the exit status (−1: killed after
 * timeout_s), msgs[i] the message.  Returns the number of processes that
 * had to be killed. */
int hy_fork_run(int n, const int *ranks, hy_rank_fn fn, void *arg, int *codes, char (*msgs)[HY_RANK_MSG], double timeout_s);
/* A TCP port nobody listens on right now. */
int hy_test_free_port(void);
/* A torchrun-style environment for rank/world on 127.0.0.1:port. */
void hy_test_env(hy_dist_env *e, int rank, int world, int port, const char *key);
/* Path of this test executable, written to buf. */
const char *hy_test_self(char *buf, size_t n);

#endif

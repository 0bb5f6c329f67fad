/* train_signal.c — graceful stop on SIGINT/SIGTERM.  The flag is the one
 * process-wide mutable variable of the trainer: a signal handler can only
 * communicate through a volatile sig_atomic_t.  A second signal while stopping
 * restores the default action, so a stuck save can still be interrupted. */
#include <signal.h>
#include <string.h>

#include "core/train.h"

static volatile sig_atomic_t hy_stop_flag;

static void hy_on_signal(int sig) {
    if (hy_stop_flag) {
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    hy_stop_flag = 1;
}

void hy_train_signals_install(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = hy_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

int hy_train_stop_requested(void) { return hy_stop_flag != 0; }

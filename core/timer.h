/* timer.h — wall-clock timing: the one monotonic clock of the toolkit
 * (progress lines, tokens/s, timeouts, profiles). */
#ifndef HY_TIMER_H
#define HY_TIMER_H
#ifdef __cplusplus
extern "C" {
#endif

/* Seconds on CLOCK_MONOTONIC (an arbitrary origin: use differences). */
double hy_now_s(void);

#ifdef __cplusplus
}
#endif
#endif

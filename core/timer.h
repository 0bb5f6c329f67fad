/* timer.h — wall-clock timing: the one monotonic clock of the toolkit
 * (progress lines, tokens/s, timeouts, profiles). */
#ifndef HY_TIMER_H
#define HY_TIMER_H
#ifdef __cplusplus
extern "C" {
#endif

/* Seconds on CLOCK_MONOTONIC (an arbitrary origin: use differences). */
double hy_now_s(void);

/* The median of n ≥ 1 timings (the mean of the middle two for even n);
 * sorts v ascending in place, so v[0] and v[n-1] are then the min and max. */
double hy_median(double *v /* [n] */, int n);

#ifdef __cplusplus
}
#endif
#endif

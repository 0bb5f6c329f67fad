/* timer.c — see timer.h. */
#include "timer.h"

#include <stdlib.h>
#include <time.h>

double hy_now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int hy_median_cmp(const void *x, const void *y) {
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

double hy_median(double *v, int n) {
    qsort(v, (size_t)n, sizeof v[0], hy_median_cmp);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

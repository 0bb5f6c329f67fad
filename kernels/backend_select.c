/* backend_select.c — the backend factory and memory-plan check (backend.h).
 *
 * The one place that knows at compile time whether the CUDA backend is in
 * the build: CMake compiles this file into the small hy_backends library,
 * which links hy_kernels_cuda (and so gets HY_HAVE_CUDA=1) only when nvcc
 * was found.  Everything else chooses a backend through these functions, so
 * shared code has no #ifdef and a CPU-only build still links.
 *
 * Names: device "auto" | "cpu" | "cuda" | "cuda:N", precision "auto" | "bf16"
 * | "fp32" (backend.h has the rules). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/log.h"
#include "kernels/backend.h"
#if HY_HAVE_CUDA
#include "kernels/backend_cuda.h"
#endif

int hy_backend_has_cuda(void) {
#if HY_HAVE_CUDA
    return 1;
#else
    return 0;
#endif
}

/* Parse a device name: *cuda = 1 for cuda[:N] (index in *index), 0 for cpu,
 * -1 for auto. */
static hy_status hy_parse_device(const char *device, int *cuda, int *index) {
    *index = 0;
    if (!device || !strcmp(device, "auto") || !*device) { *cuda = -1; return HY_OK; }
    if (!strcmp(device, "cpu")) { *cuda = 0; return HY_OK; }
    if (!strncmp(device, "cuda", 4) && (device[4] == 0 || device[4] == ':')) {
        *cuda = 1;
        if (device[4] == ':') {
            char *end;
            long v = strtol(device + 5, &end, 10);
            if (end == device + 5 || *end || v < 0 || v > 1024)
                return hy_errorf(HY_ERR_ARG, "device '%s': expected cuda:N with a GPU index N >= 0", device);
            *index = (int)v;
        }
        return HY_OK;
    }
    return hy_errorf(HY_ERR_ARG, "device '%s': expected one of auto, cpu, cuda, cuda:N", device);
}

/* Parse a precision name: 1 bf16, 0 fp32, -1 auto. */
static hy_status hy_parse_precision(const char *precision, int *bf16) {
    if (!precision || !*precision || !strcmp(precision, "auto")) *bf16 = -1;
    else if (!strcmp(precision, "bf16")) *bf16 = 1;
    else if (!strcmp(precision, "fp32")) *bf16 = 0;
    else return hy_errorf(HY_ERR_ARG, "precision '%s': expected one of auto, bf16, fp32", precision);
    return HY_OK;
}

static int hy_cuda_visible(void) {
#if HY_HAVE_CUDA
    return hy_backend_cuda_device_count() > 0;
#else
    return 0;
#endif
}

hy_status hy_backend_create(hy_ops **out, const char *device, const char *precision) {
    *out = NULL;
    int cuda = -1, index = 0, bf16 = -1;
    HY_TRY(hy_parse_device(device, &cuda, &index));
    HY_TRY(hy_parse_precision(precision, &bf16));
    int automatic = cuda < 0;
    if (automatic) cuda = hy_cuda_visible();
    if (!cuda) {
        if (bf16 == 1 && !automatic)
            return hy_errorf(HY_ERR_ARG, "precision bf16 on device cpu: the CPU backend computes in fp32 only; use precision fp32 "
                                         "(or auto), or device cuda");
        if (bf16 == 1) hy_log_warn("no CUDA device: running on the CPU in fp32 (precision bf16 applies to CUDA only)");
        return hy_backend_cpu_create(out, 0);
    }
#if HY_HAVE_CUDA
    return hy_backend_cuda_create(out, index, bf16 == 0 ? HY_DTYPE_F32 : HY_DTYPE_BF16);
#else
    (void)index;
    return hy_errorf(HY_ERR_UNSUPPORTED, "device '%s': this hymba was built without the CUDA backend (nvcc was not found when it was "
                                         "configured); use device cpu, or rebuild on a machine with the CUDA toolkit",
                     device);
#endif
}

void hy_backend_destroy(hy_ops *ops) {
    if (!ops) return;
#if HY_HAVE_CUDA
    if (!strcmp(ops->name, "cuda")) {
        hy_backend_cuda_destroy(ops);
        return;
    }
#endif
    hy_backend_cpu_destroy(ops);
}

hy_status hy_backend_mem_info(const hy_ops *ops, size_t *free_bytes, size_t *total_bytes) {
#if HY_HAVE_CUDA
    if (!strcmp(ops->name, "cuda")) return hy_backend_cuda_mem_info(ops, free_bytes, total_bytes);
#endif
    long page = sysconf(_SC_PAGESIZE), avail = sysconf(_SC_AVPHYS_PAGES), total = sysconf(_SC_PHYS_PAGES);
    if (page <= 0 || avail < 0 || total <= 0) return hy_errorf(HY_ERR_IO, "cannot read the amount of physical memory (sysconf)");
    *free_bytes = (size_t)avail * (size_t)page;
    *total_bytes = (size_t)total * (size_t)page;
    return HY_OK;
}

hy_status hy_backend_check_fit(const hy_ops *ops, const hy_mem_item *items, int n, size_t reserve, const char *hint) {
    size_t fr, tot, need = reserve;
    HY_TRY(hy_backend_mem_info(ops, &fr, &tot));
    for (int i = 0; i < n; i++) need += items[i].bytes;
    if (need <= fr) return HY_OK;
    char list[2048] = "", b[32];
    size_t len = 0;
    for (int i = 0; i < n && len < sizeof list; i++) {
        hy_fmt_bytes(b, sizeof b, (double)items[i].bytes);
        len += (size_t)snprintf(list + len, sizeof list - len, "%s%s %s", i ? ", " : "", items[i].what, b);
    }
    char bneed[32], bfree[32], btot[32], bres[32];
    hy_fmt_bytes(bneed, sizeof bneed, (double)need);
    hy_fmt_bytes(bfree, sizeof bfree, (double)fr);
    hy_fmt_bytes(btot, sizeof btot, (double)tot);
    hy_fmt_bytes(bres, sizeof bres, (double)reserve);
    return hy_errorf(HY_ERR_OOM, "memory plan does not fit on %s: it needs %s (%s, reserve %s) but only %s of %s are free%s%s", ops->name,
                     bneed, list, bres, bfree, btot, hint ? "; hint: " : "", hint ? hint : "");
}

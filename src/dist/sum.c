/* The ordered sum of a rank's own arrays, shared by both builds of src/dist. */
#include <string.h>

#include "core/internal.h"
#include "dist/dist_internal.h"

void am_dist_sum_in_order(float *dst, float *const *local, int nlocal, int64_t m)
{
    if (nlocal < 1) return;
    if (local[0] != dst) memcpy(dst, local[0], (size_t)m * sizeof *dst);
    for (int l = 1; l < nlocal; l++) {
        const float *src = local[l];
#pragma omp parallel for schedule(static) if (m >= AM_PARALLEL_MIN)
        for (int64_t j = 0; j < m; j++) dst[j] += src[j];
    }
}

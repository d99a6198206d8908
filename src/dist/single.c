/* The ranks of include/astromorph/dist.h when astromorph is built without MPI: this process
 * alone, where every collective is its own result. */
#include <stdlib.h>
#include <string.h>

#include "dist/dist_internal.h"

am_status am_dist_init(int *argc, char ***argv) { return AM_OK; }
void am_dist_finalize(void) {}
_Noreturn void am_dist_abort(int code) { exit(code); }
int am_dist_rank(void) { return 0; }
int am_dist_size(void) { return 1; }
int am_dist_built_with_mpi(void) { return 0; }
int am_dist_failure_agreed(void) { return 0; }
void am_dist_get_stats(am_dist_stats *out) { memset(out, 0, sizeof *out); }

am_status am_dist_agree(am_status st) { return st; }
int am_dist_any(int flag) { return flag != 0; }
am_status am_dist_sum_disjoint_f64(double *x, int64_t n) { return AM_OK; }
am_status am_dist_sum_disjoint_i32(int32_t *x, int64_t n) { return AM_OK; }

am_status am_dist_chain_sum_f32(float *dst, float *const *local, int nlocal, int64_t m)
{
    am_dist_sum_in_order(dst, local, nlocal, m);
    return AM_OK;
}

am_status am_dist_ordered_f64(double *acc, int64_t m, void (*add)(void *user, double *acc), void *user)
{
    add(user, acc);
    return AM_OK;
}

am_status am_dist_allgather(const void *mine, int64_t bytes, void *all)
{
    if (all != mine) memmove(all, mine, (size_t)bytes);
    return AM_OK;
}

am_status am_dist_bcast(void *buf, int64_t bytes, int root) { return AM_OK; }

am_status am_dist_ring_shift(const void *send, int64_t sbytes, void *recv, int64_t rbytes)
{
    if (recv != send) memmove(recv, send, (size_t)sbytes);
    return AM_OK;
}

am_status am_dist_gatherv(const void *mine, int64_t bytes, void *all, const int64_t *counts, int root)
{
    if (all != mine) memmove(all, mine, (size_t)bytes);
    return AM_OK;
}

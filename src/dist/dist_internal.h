/* The collectives the library's parallel paths use, over the ranks of include/astromorph/dist.h.
 * Every rank calls each one in the same order. Sums that must not depend on the rank count are
 * ordered (am_dist_chain_sum) or have one contributor per element (am_dist_sum_disjoint). */
#ifndef AM_DIST_INTERNAL_H
#define AM_DIST_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "astromorph/dist.h"
#include "astromorph/embeddings.h"

enum { AM_DIST_MAX_LOCAL = 256 }; /* arrays per rank in a chain sum (replicas per rank) */

/* Every rank's status made one: AM_OK when all are, else the status and message of the lowest
 * failing rank, set as this rank's error (am_errmsg), and am_dist_failure_agreed() becomes 1. */
am_status am_dist_agree(am_status st);
/* 1 on every rank when flag is non-zero on any. */
int am_dist_any(int flag);
/* Element-wise sum over ranks, in place, where each element is non-zero on at most one rank: the
 * result is exact whatever the order (x + 0 = x). */
am_status am_dist_sum_disjoint_f64(double *x, int64_t n);
am_status am_dist_sum_disjoint_i32(int32_t *x, int64_t n);
/* The sum, in order, of the global sequence of arrays held as `nlocal` arrays per rank (rank 0's
 * first, each rank's in the order given): dst = ((a0 + a1) + a2) + ..., exactly as one process
 * adds them one after the other, into dst on every rank. A rank with nlocal = 0 adds nothing.
 * local[0] may be dst itself. Runs as a pipelined chain over the ranks (docs/cluster.md). */
am_status am_dist_chain_sum_f32(float *dst, float *const *local, int nlocal, int64_t m);
/* dst = ((local[0] + local[1]) + ...) on this rank alone (local[0] may be dst). */
void am_dist_sum_in_order(float *dst, float *const *local, int nlocal, int64_t m);
/* A running sum carried through the ranks in order: acc (m doubles, as rank 0 starts it) arrives
 * from rank − 1, add(user, acc) adds this rank's terms into it one after the other, it goes on
 * to rank + 1, and the last rank's result comes back to every rank. The additions are one
 * process's, in the same order, so the sum does not depend on the rank count. */
am_status am_dist_ordered_f64(double *acc, int64_t m, void (*add)(void *user, double *acc), void *user);
/* Every rank's `bytes` bytes (the same count on every rank), rank after rank, into all
 * (size · bytes) on every rank: how each rank learns every rank's counts, offsets or values. */
am_status am_dist_allgather(const void *mine, int64_t bytes, void *all);
/* Bytes from root to every rank. */
am_status am_dist_bcast(void *buf, int64_t bytes, int root);
/* Passes a block round the ring: sbytes to rank + 1, rbytes from rank − 1 (sizes known to all). */
am_status am_dist_ring_shift(const void *send, int64_t sbytes, void *recv, int64_t rbytes);
/* Bytes gathered at root, rank after rank: counts[r] bytes from rank r (counts known to all). */
am_status am_dist_gatherv(const void *mine, int64_t bytes, void *all, const int64_t *counts, int root);

/* Rows lo[r] .. lo[r+1] − 1 of E (values, statistics, metadata) and of feats (rows × nfeat, may
 * be NULL), made on rank r and held there from index 0, brought to rank 0, whose E and feats
 * hold every row (src/dist/gather_rows.c). Other ranks keep theirs. */
am_status am_dist_gather_rows(am_embeddings *E, const int64_t *lo, float *feats, int64_t nfeat);
/* The metadata of global rows rows[0..nrows) (the list is rank 0's) into out[0..nrows) on rank
 * 0 (am_meta_init'ed by the caller), each from the rank whose share (local: n rows from global
 * row row0) holds it. */
am_status am_dist_fetch_meta(const am_meta *local, int64_t n, int64_t row0, const int64_t *rows, int64_t nrows,
                             am_meta *out);

#endif

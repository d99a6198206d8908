/* The pieces of our inverted-list k-NN graph (knn_lists.c) that the search over MPI ranks
 * (knn_lists_ranks.c) shares: the lists, the nearest lists of a row, and the scan of one unit of
 * queries against the lists they probe. Internal to src/analysis. */
#ifndef AM_ANALYSIS_KNN_LISTS_INTERNAL_H
#define AM_ANALYSIS_KNN_LISTS_INTERNAL_H

#include <stdint.h>

#include "astromorph/status.h"
#include "search_internal.h"

enum {
    KL_GROUP = 256, /* most queries in a unit: a list's rows in chunks of this */
    KL_XBLK = 2048, /* most list rows in one sgemm */
    KL_QBLK = 512, /* rows a block when finding the nearest centres */
    KL_MARGIN = 16, /* candidates beyond k, as in similarity.c: float rounding reorders only ties */
    KL_SAMPLE_PER_LIST = 32, /* k-means sample rows per list */
    KL_KM_ITERS = 10, /* Lloyd rounds for the centres: they only need to split the rows well */
    KL_RECALL_QUERIES = 500, /* rows whose recall against the exact search picks nprobe */
    KL_NPROBE_START = 8
};

/* The sample recall nprobe is raised to: 0.01 above the 0.95 wanted, a margin for the sample's
 * error (the per-query recalls' spread over √500, a few thousandths as measured). */
#define KL_RECALL 0.96

typedef struct {
    int64_t n, dim, nlist;
    float *cent, *cn; /* nlist × dim centres, their squared norms */
    float *xs, *xn; /* the searched rows (x, or x's unit rows for cosine) sorted by list; norms */
    int64_t *xrow; /* row in x of each sorted row */
    int64_t *start; /* nlist + 1: list c is sorted rows start[c] .. start[c + 1] − 1 */
} kl_lists;

/* One thread's work space for a unit of at most KL_GROUP queries. */
typedef struct {
    float *q, *qn, *d; /* KL_GROUP × dim queries of one list, their norms, KL_GROUP × KL_XBLK distances */
    am_cand *heap; /* KL_GROUP × cap */
    int *size, *count; /* KL_GROUP: heap sizes; found by the re-score */
    int32_t *slot; /* nlist: a list's place among the unit's lists, −1 when not among them */
    int32_t *touched, *first, *member; /* the unit's lists (ascending), where each one's queries
                                          start in member, the queries grouped by list */
    int64_t *labels, *idx; /* KL_GROUP × cap candidates; KL_GROUP × k re-scored */
    double *bad; /* KL_GROUP × k */
} kl_scratch;

void kl_lists_free(kl_lists *L);
/* The np nearest centres of each of the nq rows q (ties to the lower centre), nearest first. */
am_status kl_nearest_lists(const kl_lists *L, const float *q, int64_t nq, int np, int32_t *out);
/* The lists' centres: k-means (one seeding, KL_KM_ITERS rounds) on the m sample rows (into *cent,
 * am_malloc'd). */
am_status kl_centres_of(const float *sample, int64_t m, int64_t dim, int64_t nlist, float **cent);
/* Centres from k-means on a seeded sample of w's rows (into *cent, am_malloc'd): its draw is
 * am_silhouette_sample(n, min(n, KL_SAMPLE_PER_LIST · nlist), 0). */
am_status kl_sample_centres(const float *w, int64_t n, int64_t dim, int64_t nlist, float **cent);
/* Every row of w in the list of its nearest centre: the centres given (nlist × dim, as a saved
 * index's), or k-means ones when NULL. xrow numbers the rows of w from 0. */
am_status kl_lists_build(const float *w, int64_t n, int64_t dim, int64_t nlist, const float *centres, kl_lists *L);
void kl_scratch_free(kl_scratch *s);
int kl_scratch_alloc(kl_scratch *s, const kl_lists *L, int np, int cap, int k);
/* The best cap candidates (rows L->xrow names, −1 for none) of nu queries qv (norms qvn; rows
 * self, never their own candidates), query i searching the lists probe[i·np ..]: into s->labels,
 * and the heaps (approximate badness, row) in s->heap / s->size. */
void kl_scan_unit(const kl_lists *L, const float *qv, const float *qvn, const int64_t *self, int nu,
                  const int32_t *probe, int np, int cap, kl_scratch *s);
/* 2·√n lists, at most n / 16. */
int64_t kl_default_nlist(int64_t n);
/* The units of L's rows: each list's rows in chunks of at most KL_GROUP, unit u the sorted rows
 * ufirst[u] .. ufirst[u + 1] − 1 (malloc'd, *nunits + 1 entries; NULL when out of memory). */
int64_t *kl_units(const kl_lists *L, int64_t *nunits);
/* Candidates kept per query for the exact re-score: k + KL_MARGIN, at most the n − 1 others. */
int kl_cap(int k, int64_t n);
/* nprobe: the caller's fixed count (0: none) or KL_NPROBE_START to begin with, at most nlist;
 * the next one to try while the recall is short; whether the exact search is cheaper than
 * probing np lists (never with a fixed count). */
int kl_first_nprobe(int64_t fixed, int64_t nlist);
int kl_next_nprobe(int np, int64_t nlist);
int kl_exact_cheaper(int64_t fixed, int np, int64_t nlist);

#endif

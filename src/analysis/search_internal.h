/* Exact nearest-neighbour search in pieces (src/analysis/similarity.c), for searches whose rows
 * are split over MPI ranks (src/analysis/search_ranks.c) or whose candidates an index found
 * (knn.c). Badness is lower-is-better in double: the squared Euclidean distance, or minus the
 * cosine; ties go to the lower row. */
#ifndef AM_ANALYSIS_SEARCH_INTERNAL_H
#define AM_ANALYSIS_SEARCH_INTERNAL_H

#include <stdint.h>

#include "astromorph/similarity.h"

/* A bounded max-heap on badness (lower is better, ties to the lower row): keeps the cap best
 * entries whatever order they come in, so any split of the work finds the same ones. */
typedef struct {
    double bad;
    int64_t index;
} am_cand;

static inline int am_cand_worse(const am_cand *a, const am_cand *b)
{
    return a->bad > b->bad || (a->bad == b->bad && a->index > b->index);
}

/* The bounded max-heap's push, for any entry type T ordered by WORSE(const T *, const T *):
 * defines `static inline void NAME(T *h, int *size, int cap, T c)`. */
#define AM_BOUNDED_HEAP_PUSH(NAME, T, WORSE)                                                                           \
    static inline void NAME(T *h, int *size, int cap, T c)                                                             \
    {                                                                                                                  \
        if (*size == cap) {                                                                                            \
            if (!WORSE(&h[0], &c)) return;                                                                             \
            h[0] = c;                                                                                                  \
            int i = 0;                                                                                                 \
            for (;;) {                                                                                                 \
                int l = 2 * i + 1, r = l + 1, m = i;                                                                   \
                if (l < cap && WORSE(&h[l], &h[m])) m = l;                                                             \
                if (r < cap && WORSE(&h[r], &h[m])) m = r;                                                             \
                if (m == i) break;                                                                                     \
                T t = h[i];                                                                                            \
                h[i] = h[m];                                                                                           \
                h[m] = t;                                                                                              \
                i = m;                                                                                                 \
            }                                                                                                          \
            return;                                                                                                    \
        }                                                                                                              \
        int i = (*size)++;                                                                                             \
        h[i] = c;                                                                                                      \
        while (i > 0 && WORSE(&h[i], &h[(i - 1) / 2])) {                                                               \
            T t = h[i];                                                                                                \
            h[i] = h[(i - 1) / 2];                                                                                     \
            h[(i - 1) / 2] = t;                                                                                        \
            i = (i - 1) / 2;                                                                                           \
        }                                                                                                              \
    }

AM_BOUNDED_HEAP_PUSH(am_cand_push, am_cand, am_cand_worse)

/* qsort order of am_cand: best first. */
static inline int am_cand_cmp(const void *a, const void *b)
{
    const am_cand *x = a, *y = b;
    return am_cand_worse(x, y) ? 1 : am_cand_worse(y, x) ? -1 : 0;
}

/* Unit rows (am_malloc'd, NULL when out of memory) for cosine as an inner product or a Euclidean
 * distance; a zero row stays zero, cosine 0 to every row, as the exact search scores it. */
float *am_unit_rows(const float *x, int64_t n, int64_t dim);

/* The exact badness of rows a and b, in double: the squared distance, or minus the cosine (0
 * with a zero row). */
double am_exact_bad(const float *a, const float *b, int64_t dim, am_metric metric);

/* Over MPI ranks (search_ranks.c): every rank's row count and first global row, on every rank
 * (malloc'd, size entries each). */
am_status am_search_shares(int64_t n, int64_t row0, int64_t **count, int64_t **first);
/* am_knn_ranks for the local rows `rows` alone (nrows of them; NULL: all n in order), into
 * idx/score[j·k ..] for the j-th: the exact search every rank takes part in. */
am_status am_knn_ranks_rows(const float *x, int64_t n, int64_t row0, int64_t dim, am_metric metric, int k,
                            const int64_t *rows, int64_t nrows, int64_t *idx, float *score);

/* The score a neighbour list shows for an exact badness. */
float am_bad_to_score(double bad, am_metric metric);

/* am_similar's search with the exact badness of each of the *found best rows (idx into x). */
am_status am_similar_exact(const float *x, int64_t n, int64_t dim, const float *sqnorms, const float *q,
                           am_metric metric, int k, const uint8_t *exclude, int64_t *idx, double *bad, int *found);

/* Query rows q (global rows q0 ..) against the block x (global rows x0 ..), a row never its own
 * neighbour: each query's best k in the block, found as am_knn_all finds them, merged into its
 * running list idx/bad[row·k ..] of count[row] entries (global rows, best first). */
am_status am_knn_block(const float *q, int64_t nq, int64_t q0, const float *x, int64_t nx, int64_t x0, int64_t dim,
                       am_metric metric, int k, int64_t *idx, double *bad, int *count);

/* The candidates an index found for query rows of x (found: nq × nc rows of x, -1 for none; the
 * row itself skipped) re-scored exactly, the best k of each kept as am_knn_block orders them:
 * idx/bad[i·k ..], count[i] of them. Query i is row rows[i], or q0 + i when rows is NULL.
 * count[i] < k (0 where the k-th score ties with the last candidate's, so unlisted rows may tie
 * too) leaves the row to the exact search. */
am_status am_knn_rescore(const float *x, int64_t dim, int64_t q0, const int64_t *rows, int64_t nq, am_metric metric,
                         int k, const int64_t *found, int nc, int64_t *idx, double *bad, int *count);

/* The same for one query vector q with exclusion flags (NULL: none): *count of the best k. */
am_status am_similar_rescore(const float *x, int64_t dim, const float *q, am_metric metric, int k, const int64_t *found,
                             int nc, const uint8_t *exclude, int64_t *idx, double *bad, int *count);

#endif

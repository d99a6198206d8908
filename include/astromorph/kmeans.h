/* k-means clustering (Lloyd's algorithm, k-means++ seeding, several seeded restarts keeping the
 * lowest inertia; or mini-batch k-means for large n) and the silhouette score. Distances are
 * squared Euclidean, computed with BLAS. Results depend only on the seed, not on the thread
 * count. */
#ifndef ASTROMORPH_KMEANS_H
#define ASTROMORPH_KMEANS_H

#include <stdint.h>

#include "astromorph/rows.h"
#include "astromorph/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { AM_KMEANS_AUTO, AM_KMEANS_LLOYD, AM_KMEANS_MINIBATCH } am_kmeans_algorithm;

/* Rows from which AM_KMEANS_AUTO picks mini-batch k-means (measured: docs/analysis.md). */
#define AM_KMEANS_MINIBATCH_FROM 100000

typedef struct am_kmeans_options {
    int k; /* clusters (inference uses 10, as the original's KMeans default) */
    int restarts; /* independent k-means++ seedings; the best inertia wins (default 10) */
    int max_iter; /* Lloyd iterations per restart (default 300) */
    double tol; /* stop when centroids move less than tol × mean feature variance (1e-4) */
    uint64_t seed; /* default 0 */
    /* am_kmeans_rows only: */
    am_kmeans_algorithm algorithm; /* default AM_KMEANS_AUTO */
    int64_t batch; /* mini-batch: rows per batch (default 4096) */
    int passes; /* mini-batch: most passes of n / batch batches (default 20) */
} am_kmeans_options;

void am_kmeans_options_default(am_kmeans_options *o); /* k = 10 and the defaults above */

typedef struct am_kmeans_result {
    int k;
    int64_t n, dim;
    int32_t *labels; /* n, in [0, k) */
    float *centroids; /* k × dim */
    int64_t *sizes; /* k: points per cluster */
    double inertia; /* sum of squared distances to the assigned centroid */
    int iterations; /* Lloyd iterations of the winning restart */
} am_kmeans_result;

/* x: n × dim row-major, n >= k >= 1. Lloyd's algorithm (opts->algorithm is not read). */
am_status am_kmeans(const float *x, int64_t n, int64_t dim, const am_kmeans_options *opts, am_kmeans_result *res);

/* Mini-batch k-means (Sculley 2010, "Web-scale k-means clustering") over a row view, which it
 * streams: centres from am_kmeans (k-means++ and Lloyd, opts->restarts) on a seeded sample of
 * max(3 batch, 20 k) rows; then up to `passes` passes of n / batch seeded batches (rows drawn
 * with replacement), each row moving its nearest centre c by 1/count_c of the difference (the
 * centre is the running mean of the rows it has taken); stopping after a pass whose squared
 * centre shift is at most tol × mean feature variance. The labels and the inertia (in double)
 * come from one exact assignment pass over every row; `iterations` counts batches. Memory:
 * O(batch·dim + k·dim) beside the n labels. */
am_status am_kmeans_minibatch(const am_rows *x, const am_kmeans_options *opts, am_kmeans_result *res);
/* Lloyd or mini-batch as opts->algorithm says (auto: mini-batch from AM_KMEANS_MINIBATCH_FROM
 * rows). Lloyd on float16 rows converts them to float32 once. */
am_status am_kmeans_rows(const am_rows *x, const am_kmeans_options *opts, am_kmeans_result *res);
/* "auto", "lloyd" or "minibatch"; an error naming `what` otherwise. */
am_status am_kmeans_algorithm_parse(const char *s, const char *what, am_kmeans_algorithm *a);
void am_kmeans_result_free(am_kmeans_result *res);

/* am_kmeans over MPI ranks (include/astromorph/dist.h), every rank calling it: this rank holds
 * global rows row0 .. row0 + n − 1, the shares following each other in rank order and each but
 * the last ending on a multiple of AM_KMEANS_ALIGN rows. Every sum over rows is carried through
 * the ranks in row order, so the result is one process's over all rows: res's labels are this
 * rank's rows', its centroids, sizes and inertia the whole set's. */
#define AM_KMEANS_ALIGN 64
am_status am_kmeans_ranks(const float *x, int64_t n, int64_t row0, int64_t dim, const am_kmeans_options *opts,
                          am_kmeans_result *res);

/* Mean silhouette coefficient (Euclidean) of a labelling with k clusters. Exact, O(m² dim) over
 * m points: when sample > 0 and sample < n, a seeded random subset of `sample` points is scored
 * (as scikit-learn's sample_size). Points in singleton clusters score 0. per_point (optional,
 * n entries) receives each scored point's coefficient and NaN for points not in the sample. */
am_status am_silhouette(const float *x, int64_t n, int64_t dim, const int32_t *labels, int k, int64_t sample,
                        uint64_t seed, double *mean, float *per_point);
/* The rows am_silhouette scores: the first m of idx (n entries, sorted ascending), returning m. */
int64_t am_silhouette_sample(int64_t n, int64_t sample, uint64_t seed, int64_t *idx);

#ifdef __cplusplus
}
#endif
#endif

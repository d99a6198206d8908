/* Anomaly scores from the k-nearest-neighbour graph (higher = more unusual):
 *  - AM_OUTLIER_KNN: mean distance to the k nearest neighbours;
 *  - AM_OUTLIER_LOF: local outlier factor (Breunig et al. 2000): a point's local reachability
 *    density (inverse mean reachability distance to its k neighbours, where
 *    reach(a, b) = max(k-distance(b), d(a, b))) compared with its neighbours' densities;
 *    ≈ 1 inside a cluster of any density, clearly > 1 for a point less dense than its neighbours.
 *    Unlike the kNN distance it does not flag every point of a sparse but regular cluster. */
#ifndef ASTROMORPH_OUTLIERS_H
#define ASTROMORPH_OUTLIERS_H

#include <stdint.h>

#include "astromorph/knn_index.h"
#include "astromorph/similarity.h"
#include "astromorph/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { AM_OUTLIER_KNN, AM_OUTLIER_LOF } am_outlier_method;

/* "knn" / "lof" (error naming `what` otherwise). */
am_status am_outlier_method_parse(const char *s, const char *what, am_outlier_method *m);
const char *am_outlier_method_name(am_outlier_method m);

/* Both scores for every row (either output may be NULL). Distances are Euclidean, or cosine
 * distance 1 - cos with AM_METRIC_COSINE. n > k >= 1. Neighbours are exact below 50 000 rows,
 * from inverted lists scanned with sgemm above, nprobe tuned to a sampled recall of 0.96
 * (AM_KNN_METHOD=exact keeps them exact). */
am_status am_outlier_scores(const float *x, int64_t n, int64_t dim, am_metric metric, int k, double *knn_score,
                            double *lof_score);
/* The same with the neighbours from a saved index over x (knn_index.h, checked fresh by the
 * caller; used when its metric is metric, NULL: as am_outlier_scores). */
am_status am_outlier_scores_indexed(const float *x, int64_t n, int64_t dim, am_metric metric, int k,
                                    const am_knn_index *index, double *knn_score, double *lof_score);

/* am_outlier_scores over MPI ranks (collective): this rank's rows are global rows row0 ..
 * row0 + n − 1; scores for them, equal to one process's exact search over all rows. */
am_status am_outlier_scores_ranks(const float *x, int64_t n, int64_t row0, int64_t dim, am_metric metric, int k,
                                  double *knn_score, double *lof_score);

/* Row indices sorted by descending score (ties by index). */
am_status am_rank_desc(const double *score, int64_t n, int64_t *order);

#ifdef __cplusplus
}
#endif
#endif

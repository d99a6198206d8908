/* Anomaly scores from the kNN graph (knn.h: exact, or inverted lists at scale): mean kNN distance and
 * the local outlier factor. */
#include "astromorph/outliers.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "knn.h"

am_status am_outlier_method_parse(const char *s, const char *what, am_outlier_method *m)
{
    if (strcmp(s, "knn") == 0) *m = AM_OUTLIER_KNN;
    else if (strcmp(s, "lof") == 0) *m = AM_OUTLIER_LOF;
    else return am_error(AM_ERR_VALUE, "%s: unknown outlier method '%s' (knn or lof)", what, s);
    return AM_OK;
}

const char *am_outlier_method_name(am_outlier_method m) { return m == AM_OUTLIER_KNN ? "knn" : "lof"; }

am_status am_outlier_scores(const float *x, int64_t n, int64_t dim, am_metric metric, int k, double *knn_score,
                            double *lof_score)
{
    return am_outlier_scores_indexed(x, n, dim, metric, k, NULL, knn_score, lof_score);
}

am_status am_outlier_scores_indexed(const float *x, int64_t n, int64_t dim, am_metric metric, int k,
                                    const am_knn_index *index, double *knn_score, double *lof_score)
{
    int64_t *idx = malloc((size_t)n * (size_t)k * sizeof *idx);
    float *sc = malloc((size_t)n * (size_t)k * sizeof *sc);
    double *lrd = malloc((size_t)n * sizeof *lrd);
    if (!idx || !sc || !lrd) {
        free(idx);
        free(sc);
        free(lrd);
        return am_error(AM_ERR_NOMEM, "outliers: out of memory for %lld rows", (long long)n);
    }
    am_knn_options ko;
    am_knn_options_default(&ko);
    ko.index = index;
    am_status s = am_knn_search(x, n, dim, metric, k, &ko, idx, sc);
    if (s != AM_OK) goto done;
    /* Distances: cosine similarity becomes the cosine distance 1 - cos. */
    if (metric == AM_METRIC_COSINE)
        for (int64_t i = 0; i < n * k; i++) sc[i] = 1.0f - sc[i];
    if (knn_score)
        for (int64_t i = 0; i < n; i++) {
            double t = 0;
            for (int j = 0; j < k; j++) t += sc[i * k + j];
            knn_score[i] = t / k;
        }
    if (lof_score) {
        /* k-distance(b) is the distance to b's k-th neighbour (the last, neighbours sorted). A
         * floor on the mean reachability keeps duplicates (distance 0) from dividing by zero. */
        for (int64_t i = 0; i < n; i++) {
            double t = 0;
            for (int j = 0; j < k; j++) {
                int64_t b = idx[i * k + j];
                double kd = sc[b * k + k - 1], d = sc[i * k + j];
                t += d > kd ? d : kd;
            }
            t /= k;
            lrd[i] = 1.0 / (t > 1e-12 ? t : 1e-12);
        }
        for (int64_t i = 0; i < n; i++) {
            double t = 0;
            for (int j = 0; j < k; j++) t += lrd[idx[i * k + j]];
            lof_score[i] = t / k / lrd[i];
        }
    }
done:
    free(idx);
    free(sc);
    free(lrd);
    return s;
}

static _Thread_local const double *rank_key;

static int cmp_desc(const void *a, const void *b)
{
    int64_t i = *(const int64_t *)a, j = *(const int64_t *)b;
    double x = rank_key[i], y = rank_key[j];
    /* NaN scores sort last. */
    if (isnan(x) || isnan(y)) return isnan(x) - isnan(y) ? (isnan(x) ? 1 : -1) : (i > j) - (i < j);
    if (x != y) return x < y ? 1 : -1;
    return (i > j) - (i < j);
}

am_status am_rank_desc(const double *score, int64_t n, int64_t *order)
{
    for (int64_t i = 0; i < n; i++) order[i] = i;
    /* qsort has no user pointer in C11: a thread-local key, set for this call only. */
    rank_key = score;
    qsort(order, (size_t)n, sizeof *order, cmp_desc);
    rank_key = NULL;
    return AM_OK;
}

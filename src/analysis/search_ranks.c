/* Exact search over MPI ranks: each rank holds a share of the rows (shares in rank order, this
 * one global rows row0 .. row0 + n − 1), searches it as one process searches all rows, and the
 * lists merge into what one process finds: the same candidates re-scored exactly in double, the
 * same order, ties to the lower row. The k-NN graph passes the shares round the ring, so no rank
 * ever holds more than two shares. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "astromorph/outliers.h"
#include "astromorph/similarity.h"
#include "astromorph/tensor.h"
#include "dist/dist_internal.h"
#include "knn.h"
#include "search_internal.h"

am_status am_search_shares(int64_t n, int64_t row0, int64_t **count, int64_t **first)
{
    const int size = am_dist_size();
    int64_t *v = calloc((size_t)size * 2, sizeof *v);
    *count = malloc((size_t)size * sizeof **count), *first = malloc((size_t)size * sizeof **first);
    am_status s = v && *count && *first ? AM_OK : am_error(AM_ERR_NOMEM, "search: out of memory");
    if (s == AM_OK) s = am_dist_allgather((int64_t[2]){n, row0}, 2 * sizeof(int64_t), v);
    for (int r = 0; s == AM_OK && r < size; r++) (*count)[r] = v[2 * r], (*first)[r] = v[2 * r + 1];
    free(v);
    if (s != AM_OK) free(*count), free(*first), *count = *first = NULL;
    return s;
}

am_status am_similar_ranks(const float *x, int64_t n, int64_t row0, int64_t dim, const float *q, am_metric metric,
                           int k, const uint8_t *exclude, am_neighbor *out, int *found)
{
    *found = 0;
    if (k < 1) return am_error(AM_ERR_VALUE, "similarity: k = %d, must be at least 1", k);
    const int size = am_dist_size();
    const int64_t w = 1 + 2 * (int64_t)k; /* per rank: found, then (badness, row) pairs */
    double *all = calloc((size_t)size * (size_t)w, sizeof *all), *list = calloc((size_t)w, sizeof *list);
    int64_t *idx = malloc((size_t)k * sizeof *idx);
    double *bad = malloc((size_t)k * sizeof *bad);
    int mine = 0;
    am_status s = all && list && idx && bad ? am_similar_exact(x, n, dim, NULL, q, metric, k, exclude, idx, bad, &mine)
                                            : am_error(AM_ERR_NOMEM, "similarity: out of memory");
    s = am_dist_agree(s);
    if (s == AM_OK) {
        list[0] = mine;
        for (int i = 0; i < mine; i++) list[1 + 2 * i] = bad[i], list[2 + 2 * i] = (double)(row0 + idx[i]);
        s = am_dist_allgather(list, w * (int64_t)sizeof *list, all);
    }
    /* merge: the best of the ranks' heads, k times (rows are below 2^53, exact in double) */
    int *head = calloc((size_t)size, sizeof *head);
    if (s == AM_OK && !head) s = am_error(AM_ERR_NOMEM, "similarity: out of memory");
    while (s == AM_OK && *found < k) {
        int best = -1;
        for (int r = 0; r < size; r++) {
            const double *at = all + r * w;
            if (head[r] >= (int)at[0]) continue;
            if (best < 0) {
                best = r;
                continue;
            }
            const double *b = all + best * w;
            double ba = at[1 + 2 * head[r]], bb = b[1 + 2 * head[best]];
            if (ba < bb || (ba == bb && at[2 + 2 * head[r]] < b[2 + 2 * head[best]])) best = r;
        }
        if (best < 0) break;
        const double *b = all + best * w;
        out[*found].index = (int64_t)b[2 + 2 * head[best]];
        out[*found].score = am_bad_to_score(b[1 + 2 * head[best]], metric);
        ++*found, head[best]++;
    }
    free(head), free(all), free(list), free(idx), free(bad);
    return s;
}

am_status am_knn_ranks_rows(const float *x, int64_t n, int64_t row0, int64_t dim, am_metric metric, int k,
                            const int64_t *rows, int64_t nrows, int64_t *idx, float *score)
{
    const int size = am_dist_size(), rank = am_dist_rank();
    int64_t *count = NULL, *first = NULL;
    AM_TRY(am_search_shares(n, row0, &count, &first));
    int64_t total = 0, most = 0;
    for (int r = 0; r < size; r++) total += count[r], most = count[r] > most ? count[r] : most;
    if (!rows) nrows = n;
    am_status s = AM_OK;
    if (k < 1 || total <= k)
        s = am_error(AM_ERR_VALUE, "k nearest neighbours: need n > k >= 1 (n = %lld, k = %d)", (long long)total, k);
    double *bad = s == AM_OK ? malloc((size_t)(nrows ? nrows : 1) * (size_t)k * sizeof *bad) : NULL;
    int *have = s == AM_OK ? calloc((size_t)(nrows ? nrows : 1), sizeof *have) : NULL;
    float *cur = s == AM_OK ? am_malloc((size_t)(most ? most : 1) * (size_t)dim * sizeof *cur) : NULL;
    float *next = s == AM_OK ? am_malloc((size_t)(most ? most : 1) * (size_t)dim * sizeof *next) : NULL;
    if (s == AM_OK && (!bad || !have || !cur || !next))
        s = am_error(AM_ERR_NOMEM, "k nearest neighbours: out of memory");
    s = am_dist_agree(s);
    if (s == AM_OK) memcpy(cur, x, (size_t)(n * dim) * sizeof *cur);
    /* round t holds the share of rank − t; it moves on to rank + 1 while the next arrives */
    for (int t = 0; s == AM_OK && t < size; t++) {
        const int owner = (rank - t + size) % size;
        if (!rows) s = am_knn_block(x, n, row0, cur, count[owner], first[owner], dim, metric, k, idx, bad, have);
        for (int64_t j = 0; rows && s == AM_OK && j < nrows; j++)
            s = am_knn_block(x + rows[j] * dim, 1, row0 + rows[j], cur, count[owner], first[owner], dim, metric, k,
                             idx + j * k, bad + j * k, have + j);
        s = am_dist_agree(s);
        if (s != AM_OK || t == size - 1) break;
        const int from = (owner - 1 + size) % size;
        s = am_dist_ring_shift(cur, count[owner] * dim * (int64_t)sizeof *cur, next,
                               count[from] * dim * (int64_t)sizeof *next);
        float *tmp = cur;
        cur = next, next = tmp;
    }
    for (int64_t i = 0; s == AM_OK && i < nrows * k; i++) score[i] = am_bad_to_score(bad[i], metric);
    free(bad), free(have), free(count), free(first);
    am_free(cur), am_free(next);
    return s;
}

am_status am_knn_ranks(const float *x, int64_t n, int64_t row0, int64_t dim, am_metric metric, int k, int64_t *idx,
                       float *score)
{
    return am_knn_ranks_rows(x, n, row0, dim, metric, k, NULL, n, idx, score);
}

am_status am_outlier_scores_ranks(const float *x, int64_t n, int64_t row0, int64_t dim, am_metric metric, int k,
                                  double *knn_score, double *lof_score)
{
    int64_t *count = NULL, *first = NULL;
    AM_TRY(am_search_shares(n, row0, &count, &first));
    int64_t total = 0;
    for (int r = 0; r < am_dist_size(); r++) total += count[r];
    free(count), free(first);
    int64_t *idx = malloc((size_t)(n ? n : 1) * (size_t)k * sizeof *idx);
    float *sc = malloc((size_t)(n ? n : 1) * (size_t)k * sizeof *sc);
    double *kd = lof_score ? calloc((size_t)total, sizeof *kd) : NULL,
           *lrd = lof_score ? calloc((size_t)total, sizeof *lrd) : NULL;
    am_status s = idx && sc && (!lof_score || (kd && lrd)) ? AM_OK : am_error(AM_ERR_NOMEM, "outliers: out of memory");
    s = am_dist_agree(s);
    if (s == AM_OK) s = am_knn_search_ranks(x, n, row0, dim, metric, k, idx, sc);
    /* as am_outlier_scores does, row by row in the same order */
    if (s == AM_OK && metric == AM_METRIC_COSINE)
        for (int64_t i = 0; i < n * k; i++) sc[i] = 1.0f - sc[i];
    for (int64_t i = 0; s == AM_OK && knn_score && i < n; i++) {
        double t = 0;
        for (int j = 0; j < k; j++) t += sc[i * k + j];
        knn_score[i] = t / k;
    }
    if (s == AM_OK && lof_score) {
        /* every row's k-distance, then every row's reachability density, known to all ranks */
        for (int64_t i = 0; i < n; i++) kd[row0 + i] = sc[i * k + k - 1];
        s = am_dist_sum_disjoint_f64(kd, total);
        for (int64_t i = 0; s == AM_OK && i < n; i++) {
            double t = 0;
            for (int j = 0; j < k; j++) {
                double kb = kd[idx[i * k + j]], d = sc[i * k + j];
                t += d > kb ? d : kb;
            }
            t /= k;
            lrd[row0 + i] = 1.0 / (t > 1e-12 ? t : 1e-12);
        }
        if (s == AM_OK) s = am_dist_sum_disjoint_f64(lrd, total);
        for (int64_t i = 0; s == AM_OK && i < n; i++) {
            double t = 0;
            for (int j = 0; j < k; j++) t += lrd[idx[i * k + j]];
            lof_score[i] = t / k / lrd[row0 + i];
        }
    }
    free(idx), free(sc), free(kd), free(lrd);
    return s;
}

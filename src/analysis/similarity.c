/* Exact similarity search: BLAS scores for every row, a bounded heap for the best candidates,
 * then an exact double-precision re-score of those candidates. */
#include "astromorph/similarity.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "astromorph/tensor.h"
#include "distance.h"
#include "search_internal.h"

#ifdef _OPENMP
#include <omp.h>
#endif

/* Candidates kept beyond k before the exact re-score: float rounding can only reorder rows
 * whose scores differ by ~1e-6 relative, far fewer than this margin. */
enum { SIM_MARGIN = 16 };

/* Per-thread scratch: one slot per thread of the parallel loops below. */
static int max_threads(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

static int thread_num(void)
{
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

am_status am_metric_parse(const char *s, const char *what, am_metric *m)
{
    if (strcmp(s, "cosine") == 0) *m = AM_METRIC_COSINE;
    else if (strcmp(s, "euclidean") == 0) *m = AM_METRIC_EUCLIDEAN;
    else return am_error(AM_ERR_VALUE, "%s: unknown metric '%s' (cosine or euclidean)", what, s);
    return AM_OK;
}

const char *am_metric_name(am_metric m) { return m == AM_METRIC_COSINE ? "cosine" : "euclidean"; }

am_status am_row_sqnorms(const float *x, int64_t n, int64_t dim, float *sqnorms)
{
    if (n < 0 || dim < 1) return am_error(AM_ERR_VALUE, "similarity: bad matrix size");
    am_sqnorms(x, n, dim, sqnorms);
    return AM_OK;
}

double am_exact_bad(const float *a, const float *b, int64_t dim, am_metric metric)
{
    if (metric == AM_METRIC_EUCLIDEAN) return am_sqdist_exact(a, b, dim);
    double ab = 0, aa = 0, bb = 0;
    for (int64_t d = 0; d < dim; d++) {
        ab += (double)a[d] * b[d];
        aa += (double)a[d] * a[d];
        bb += (double)b[d] * b[d];
    }
    return (aa > 0 && bb > 0) ? -ab / sqrt(aa * bb) : 0.0;
}

float am_bad_to_score(double bad, am_metric metric)
{
    return metric == AM_METRIC_EUCLIDEAN ? (float)sqrt(bad) : (float)-bad;
}

/* Approximate badness from a dot product and squared norms. */
static double approx_bad(float dot, float xn, float qn, am_metric metric)
{
    if (metric == AM_METRIC_EUCLIDEAN) return (double)xn + qn - 2.0 * dot;
    return (xn > 0 && qn > 0) ? -(double)dot / sqrt((double)xn * qn) : 0.0;
}

/* Re-scores the heap's candidates exactly and sorts them, best first; returns min(size, k). */
static int finish_exact(am_cand *h, int size, int k, const float *x, int64_t dim, const float *q, am_metric metric)
{
    for (int i = 0; i < size; i++) h[i].bad = am_exact_bad(x + h[i].index * dim, q, dim, metric);
    qsort(h, (size_t)size, sizeof *h, am_cand_cmp);
    return size < k ? size : k;
}

am_status am_similar_exact(const float *x, int64_t n, int64_t dim, const float *sqnorms, const float *q,
                           am_metric metric, int k, const uint8_t *exclude, int64_t *idx, double *bad, int *found)
{
    *found = 0;
    if (k < 1) return am_error(AM_ERR_VALUE, "similarity: k = %d, must be at least 1", k);
    if (n < 0 || dim < 1 || n > INT32_MAX) return am_error(AM_ERR_VALUE, "similarity: bad matrix size");
    int cap = k + SIM_MARGIN;
    float *own = NULL, *dots = am_malloc((size_t)(n ? n : 1) * sizeof(float));
    am_cand *h = malloc((size_t)cap * sizeof *h);
    if (!sqnorms) own = am_malloc((size_t)(n ? n : 1) * sizeof(float));
    if (!dots || !h || (!sqnorms && !own)) {
        am_free(dots);
        am_free(own);
        free(h);
        return am_error(AM_ERR_NOMEM, "similarity: out of memory for %lld rows", (long long)n);
    }
    if (own) {
        am_sqnorms(x, n, dim, own);
        sqnorms = own;
    }
    if (n) cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)n, (int)dim, 1.0f, x, (int)dim, q, 1, 0.0f, dots, 1);
    double qn = 0;
    for (int64_t d = 0; d < dim; d++) qn += (double)q[d] * q[d];
    int size = 0;
    for (int64_t i = 0; i < n; i++) {
        if (exclude && exclude[i]) continue;
        am_cand c = {approx_bad(dots[i], sqnorms[i], (float)qn, metric), i};
        am_cand_push(h, &size, cap, c);
    }
    *found = finish_exact(h, size, k, x, dim, q, metric);
    for (int i = 0; i < *found; i++) idx[i] = h[i].index, bad[i] = h[i].bad;
    am_free(dots);
    am_free(own);
    free(h);
    return AM_OK;
}

am_status am_similar(const float *x, int64_t n, int64_t dim, const float *sqnorms, const float *q, am_metric metric,
                     int k, const uint8_t *exclude, am_neighbor *out, int *found)
{
    *found = 0;
    if (k < 1) return am_error(AM_ERR_VALUE, "similarity: k = %d, must be at least 1", k);
    int64_t *idx = malloc((size_t)k * sizeof *idx);
    double *bad = malloc((size_t)k * sizeof *bad);
    am_status s = idx && bad ? am_similar_exact(x, n, dim, sqnorms, q, metric, k, exclude, idx, bad, found)
                             : am_error(AM_ERR_NOMEM, "similarity: out of memory");
    for (int i = 0; s == AM_OK && i < *found; i++)
        out[i].index = idx[i], out[i].score = am_bad_to_score(bad[i], metric);
    free(idx), free(bad);
    return s;
}

am_status am_knn_block(const float *q, int64_t nq, int64_t q0, const float *x, int64_t nx, int64_t x0, int64_t dim,
                       am_metric metric, int k, int64_t *idx, double *bad, int *count)
{
    if (nq == 0 || nx == 0) return AM_OK;
    if (nq > INT32_MAX || nx > INT32_MAX) return am_error(AM_ERR_VALUE, "k nearest neighbours: too many rows");
    const int cap = k + SIM_MARGIN;
    int64_t blk = (16 << 20) / nx;
    blk = blk < 16 ? 16 : blk > 1024 ? 1024 : blk;
    float *qn = am_malloc((size_t)nq * sizeof(float)), *xn = am_malloc((size_t)nx * sizeof(float));
    float *g = am_malloc((size_t)(blk < nq ? blk : nq) * (size_t)nx * sizeof(float));
    const int nt = max_threads();
    am_cand *heaps = malloc((size_t)nt * (size_t)(cap + k) * sizeof *heaps);
    if (!qn || !xn || !g || !heaps) {
        am_free(qn), am_free(xn), am_free(g);
        free(heaps);
        return am_error(AM_ERR_NOMEM, "k nearest neighbours: out of memory for %lld x %lld rows", (long long)nq,
                        (long long)nx);
    }
    am_sqnorms(q, nq, dim, qn);
    am_sqnorms(x, nx, dim, xn);
    for (int64_t b0 = 0; b0 < nq; b0 += blk) {
        int64_t nb = nq - b0 < blk ? nq - b0 : blk;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nb, (int)nx, (int)dim, 1.0f, q + b0 * dim, (int)dim,
                    x, (int)dim, 0.0f, g, (int)nx);
#pragma omp parallel for schedule(dynamic, 8)
        for (int64_t i = 0; i < nb; i++) {
            am_cand *h = heaps + (size_t)thread_num() * (cap + k), *merged = h + cap;
            const int64_t row = b0 + i, self = q0 + row;
            const float *gi = g + i * nx;
            int size = 0;
            for (int64_t j = 0; j < nx; j++) {
                if (x0 + j == self) continue;
                am_cand c = {approx_bad(gi[j], xn[j], qn[row], metric), j};
                am_cand_push(h, &size, cap, c);
            }
            int m = finish_exact(h, size, k, x, dim, q + row * dim, metric);
            /* this block's best, numbered globally, merged with the lists of earlier blocks */
            int64_t *li = idx + row * k;
            double *lb = bad + row * k;
            int a = 0, b = 0, c = 0;
            while (c < k && (a < count[row] || b < m)) {
                am_cand from_block = {b < m ? h[b].bad : 0, b < m ? x0 + h[b].index : 0};
                am_cand from_list = {a < count[row] ? lb[a] : 0, a < count[row] ? li[a] : 0};
                int take_block = a == count[row] || (b < m && am_cand_worse(&from_list, &from_block));
                merged[c++] = take_block ? (b++, from_block) : (a++, from_list);
            }
            for (int j = 0; j < c; j++) li[j] = merged[j].index, lb[j] = merged[j].bad;
            count[row] = c;
        }
    }
    am_free(qn), am_free(xn), am_free(g);
    free(heaps);
    return AM_OK;
}

/* The candidates found[0 .. nc) (-1 for none) but self and the excluded, re-scored exactly into
 * idx/bad: how many of the best k, 0 where the k-th score ties with the last candidate's. */
static int rescore(am_cand *h, const int64_t *found, int nc, int64_t self, const uint8_t *exclude, const float *x,
                   int64_t dim, const float *q, am_metric metric, int k, int64_t *idx, double *bad)
{
    int size = 0;
    for (int j = 0; j < nc; j++) {
        int64_t c = found[j];
        if (c >= 0 && c != self && !(exclude && exclude[c])) h[size++] = (am_cand){0, c};
    }
    int m = finish_exact(h, size, k, x, dim, q, metric);
    /* a tie at the k-th score that reaches the last candidate may go on among rows the index
     * did not return, and the lowest rows must win it: left to the exact search */
    int count = m == k && size > k && h[k - 1].bad == h[size - 1].bad ? 0 : m;
    for (int j = 0; j < count; j++) idx[j] = h[j].index, bad[j] = h[j].bad;
    return count;
}

am_status am_knn_rescore(const float *x, int64_t dim, int64_t q0, const int64_t *rows, int64_t nq, am_metric metric,
                         int k, const int64_t *found, int nc, int64_t *idx, double *bad, int *count)
{
    const int nt = max_threads();
    am_cand *lists = malloc((size_t)nt * (size_t)nc * sizeof *lists);
    if (!lists) return am_error(AM_ERR_NOMEM, "k nearest neighbours: out of memory for %d candidates", nc);
#pragma omp parallel for schedule(dynamic, 64)
    for (int64_t i = 0; i < nq; i++) {
        const int64_t self = rows ? rows[i] : q0 + i;
        count[i] = rescore(lists + (size_t)thread_num() * nc, found + i * nc, nc, self, NULL, x, dim, x + self * dim,
                           metric, k, idx + i * k, bad + i * k);
    }
    free(lists);
    return AM_OK;
}

am_status am_similar_rescore(const float *x, int64_t dim, const float *q, am_metric metric, int k, const int64_t *found,
                             int nc, const uint8_t *exclude, int64_t *idx, double *bad, int *count)
{
    am_cand *h = malloc((size_t)(nc ? nc : 1) * sizeof *h);
    if (!h) return am_error(AM_ERR_NOMEM, "similarity: out of memory for %d candidates", nc);
    *count = rescore(h, found, nc, -1, exclude, x, dim, q, metric, k, idx, bad);
    free(h);
    return AM_OK;
}

static int known_object(const char *s) { return s[0] && strcmp(s, "N/A") != 0; }

am_status am_similar_exclusions_object(const am_embeddings *e, int64_t self, const char *object, int keep_same_object,
                                       uint8_t *exclude)
{
    const int by_object = !keep_same_object && known_object(object);
    for (int64_t i = 0; i < e->n; i++) {
        int same = 0;
        if (by_object && i != self) AM_TRY(am_embeddings_object_is(e, i, object, &same));
        exclude[i] = i == self || same;
    }
    return AM_OK;
}

am_status am_similar_exclusions(const am_embeddings *e, int64_t query, int keep_same_object, uint8_t *exclude)
{
    if (query < 0 || query >= e->n)
        return am_error(AM_ERR_VALUE, "similarity: query row %lld outside [0, %lld)", (long long)query,
                        (long long)e->n);
    am_meta q;
    am_status s = am_embeddings_meta(e, query, &q);
    if (s == AM_OK) s = am_similar_exclusions_object(e, query, q.object, keep_same_object, exclude);
    am_meta_free(&q);
    return s;
}

am_status am_knn_all(const float *x, int64_t n, int64_t dim, am_metric metric, int k, int64_t *idx, float *score)
{
    if (k < 1 || n <= k)
        return am_error(AM_ERR_VALUE, "k nearest neighbours: need n > k >= 1 (n = %lld, k = %d)", (long long)n, k);
    if (n > INT32_MAX) return am_error(AM_ERR_VALUE, "k nearest neighbours: too many rows");
    /* the whole set as one block against itself */
    double *bad = malloc((size_t)n * (size_t)k * sizeof *bad);
    int *count = calloc((size_t)n, sizeof *count);
    am_status s = bad && count
                      ? am_knn_block(x, n, 0, x, n, 0, dim, metric, k, idx, bad, count)
                      : am_error(AM_ERR_NOMEM, "k nearest neighbours: out of memory for %lld rows", (long long)n);
    for (int64_t i = 0; s == AM_OK && i < n * k; i++) score[i] = am_bad_to_score(bad[i], metric);
    free(bad), free(count);
    return s;
}

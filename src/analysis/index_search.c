/* Searches through a saved index (knn_index.h): one query for `similar`, and the recall check
 * against the exact search that `astromorph index --check` reports. */
#include <stdlib.h>
#include <string.h>

#include "astromorph/knn_index.h"
#include "astromorph/rng.h"
#include "astromorph/runtime.h"
#include "astromorph/tensor.h"
#include "search_internal.h"

am_status am_knn_index_similar(const am_knn_index *ix, const float *x, const float *q, int k, const uint8_t *exclude,
                               am_neighbor *out, int *found)
{
    *found = 0;
    if (k < 1) return am_error(AM_ERR_VALUE, "similarity: k = %d, must be at least 1", k);
    const am_knn_index_info *f = am_knn_index_get_info(ix);
    /* the excluded rows may be the best ones: ask for as many more */
    int64_t nex = 0;
    for (int64_t i = 0; exclude && i < f->n; i++) nex += exclude[i] != 0;
    const int64_t want = k + nex;
    const int nc = am_knn_index_candidates(ix, want < f->n ? (int)want : (int)f->n);
    int64_t *labels = malloc((size_t)nc * sizeof *labels), *idx = malloc((size_t)k * sizeof *idx);
    double *bad = malloc((size_t)k * sizeof *bad);
    int count = 0;
    am_status s = labels && idx && bad ? am_knn_index_search(ix, q, 1, nc, labels)
                                       : am_error(AM_ERR_NOMEM, "similarity: out of memory");
    if (s == AM_OK) s = am_similar_rescore(x, f->dim, q, f->metric, k, labels, nc, exclude, idx, bad, &count);
    if (s == AM_OK && count == k) {
        for (int j = 0; j < k; j++) out[j].index = idx[j], out[j].score = am_bad_to_score(bad[j], f->metric);
        *found = k;
    } else if (s == AM_OK) {
        /* too few outside the exclusions, or a tie past the candidates: the exact answer */
        s = am_similar(x, f->n, f->dim, NULL, q, f->metric, k, exclude, out, found);
    }
    free(labels), free(idx), free(bad);
    return s;
}

/* nq distinct rows of n drawn with seed (a partial Fisher–Yates shuffle), ascending. */
static int cmp_row(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static am_status draw_rows(int64_t n, int64_t nq, uint64_t seed, int64_t *rows)
{
    int64_t *all = malloc((size_t)n * sizeof *all);
    if (!all) return am_error(AM_ERR_NOMEM, "index check: out of memory for %lld rows", (long long)n);
    for (int64_t i = 0; i < n; i++) all[i] = i;
    am_rng r;
    am_rng_init(&r, seed, 0);
    for (int64_t i = 0; i < nq && nq < n; i++) {
        int64_t j = i + (int64_t)(am_rng_uniform(&r) * (double)(n - i));
        j = j < n ? j : n - 1;
        int64_t t = all[i];
        all[i] = all[j], all[j] = t;
    }
    memcpy(rows, all, (size_t)nq * sizeof *rows);
    qsort(rows, (size_t)nq, sizeof *rows, cmp_row);
    free(all);
    return AM_OK;
}

/* The recalls of one query: resb/rn the scores of the index's re-scored best (rn < k: the commands search
 * that row exactly), raw its first nc labels; ex/exb the exact best k + 1 of which `self`
 * is left out. */
static void score_query(const double *resb, int rn, const int64_t *raw, int nc, const int64_t *ex, const double *exb,
                        int k, int64_t self, int64_t *hits, int64_t *raw_hits)
{
    int64_t keep[k];
    double kth = 0;
    for (int j = 0, m = 0; j <= k && m < k; j++)
        if (ex[j] != self) keep[m] = ex[j], kth = exb[j], m++;
    if (rn < k) *hits += k;
    for (int j = 0; j < rn && rn == k; j++) *hits += resb[j] <= kth;
    for (int j = 0, m = 0; j < nc && m < k; j++) {
        if (raw[j] == self || raw[j] < 0) continue;
        m++;
        for (int a = 0; a < k; a++) *raw_hits += raw[j] == keep[a];
    }
}

am_status am_knn_index_check(const am_knn_index *ix, const float *x, int64_t queries, int k, uint64_t seed,
                             am_index_check *out)
{
    memset(out, 0, sizeof *out);
    const am_knn_index_info *f = am_knn_index_get_info(ix);
    const int64_t n = f->n, dim = f->dim, nq = queries < n ? queries : n;
    if (k < 1 || n <= k || queries < 1)
        return am_error(AM_ERR_VALUE, "index check: need n > k >= 1 and queries >= 1 (n = %lld, k = %d, %lld queries)",
                        (long long)n, k, (long long)queries);
    const int nc = am_knn_index_candidates(ix, k + 1);
    int64_t *rows = malloc((size_t)nq * sizeof *rows), *labels = malloc((size_t)nq * nc * sizeof *labels);
    int64_t *idx = malloc((size_t)nq * k * sizeof *idx), *ex = malloc((size_t)nq * (k + 1) * sizeof *ex);
    double *bad = malloc((size_t)nq * k * sizeof *bad), *exb = malloc((size_t)nq * (k + 1) * sizeof *exb);
    int *count = malloc((size_t)nq * sizeof *count), *excount = calloc((size_t)nq, sizeof *excount);
    float *q = am_malloc((size_t)nq * (size_t)dim * sizeof *q);
    am_status s = rows && labels && idx && ex && bad && exb && count && excount && q
                      ? draw_rows(n, nq, seed, rows)
                      : am_error(AM_ERR_NOMEM, "index check: out of memory for %lld queries", (long long)nq);
    for (int64_t i = 0; s == AM_OK && i < nq; i++) memcpy(q + i * dim, x + rows[i] * dim, (size_t)dim * sizeof *q);
    double t = am_monotonic_seconds();
    if (s == AM_OK) s = am_knn_index_search(ix, q, nq, nc, labels);
    if (s == AM_OK) s = am_knn_rescore(x, dim, 0, rows, nq, f->metric, k, labels, nc, idx, bad, count);
    out->index_seconds = am_monotonic_seconds() - t;
    /* the exact k + 1 with the query row among them: numbered from -nq, the queries are never
     * taken for rows of x and so keep their own zero distance */
    t = am_monotonic_seconds();
    if (s == AM_OK) s = am_knn_block(q, nq, -nq, x, n, 0, dim, f->metric, k + 1, ex, exb, excount);
    out->exact_seconds = am_monotonic_seconds() - t;
    int64_t hits = 0, raw_hits = 0;
    for (int64_t i = 0; s == AM_OK && i < nq; i++)
        score_query(bad + i * k, count[i], labels + i * nc, nc, ex + i * (k + 1), exb + i * (k + 1), k, rows[i], &hits,
                    &raw_hits);
    out->queries = nq, out->k = k;
    out->recall = (double)hits / ((double)nq * k);
    out->recall_raw = (double)raw_hits / ((double)nq * k);
    free(rows), free(labels), free(idx), free(ex), free(bad), free(exb), free(count), free(excount);
    am_free(q);
    return s;
}

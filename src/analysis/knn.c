/* One k-nearest-neighbour search for t-SNE and the outlier scores (knn.h): exact on BLAS, our
 * lists (knn_lists.c), or candidates from a FAISS index re-scored exactly. */
#include "knn.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "astromorph/tensor.h"
#include "dist/dist_internal.h"
#include "search_internal.h"

/* Queries go to the index in blocks so that the candidate lists stay small at any n. */
enum { KNN_BLOCK = 4096 };

void am_knn_options_default(am_knn_options *o)
{
    o->method = AM_KNN_AUTO;
    o->nlist = 0;
    o->nprobe = 0;
    o->index = NULL;
    o->centres = NULL;
    o->report = NULL;
}

int am_knn_have_faiss(void)
{
#ifdef AM_HAVE_FAISS
    return 1;
#else
    return 0;
#endif
}

static const char *const method_names[] = {"auto", "exact", "flat", "ivf", "lists"};

am_status am_knn_method_parse(const char *s, const char *what, am_knn_method *m)
{
    for (int i = 0; i < 5; i++)
        if (strcmp(s, method_names[i]) == 0) {
            *m = (am_knn_method)i;
            return AM_OK;
        }
    return am_error(AM_ERR_VALUE, "%s: unknown neighbour search '%s' (auto, exact, flat, ivf or lists)", what, s);
}

am_status am_knn_check_finite(const float *x, int64_t n, int64_t dim)
{
    for (int64_t i = 0; i < n * dim; i++)
        if (!isfinite(x[i]))
            return am_error(AM_ERR_NUMERIC, "k nearest neighbours: row %lld has %g in column %lld",
                            (long long)(i / dim), (double)x[i], (long long)(i % dim));
    return AM_OK;
}

static am_status resolve(const am_knn_options *o, int64_t n, am_knn_method *m)
{
    *m = o->method;
    const char *env = getenv("AM_KNN_METHOD");
    if (*m == AM_KNN_AUTO && env && env[0]) AM_TRY(am_knn_method_parse(env, "AM_KNN_METHOD", m));
    if (*m == AM_KNN_AUTO) *m = n >= AM_KNN_LISTS_MIN_ROWS ? AM_KNN_LISTS : AM_KNN_EXACT;
    return AM_OK;
}

/* Candidates from the index ix, re-scored exactly, a block of queries at a time. */
static am_status knn_indexed(const am_knn_index *ix, const float *x, int64_t n, int64_t dim, am_metric metric, int k,
                             int64_t *idx, float *score)
{
    /* the row itself comes back too, so one candidate more */
    const int nc = am_knn_index_candidates(ix, k + 1);
    const int64_t bmax = n < KNN_BLOCK ? n : KNN_BLOCK;
    int64_t *labels = malloc((size_t)bmax * (size_t)nc * sizeof *labels);
    double *bad = malloc((size_t)bmax * (size_t)k * sizeof *bad);
    int *count = malloc((size_t)bmax * sizeof *count);
    am_status s = !labels || !bad || !count
                      ? am_error(AM_ERR_NOMEM, "k nearest neighbours: out of memory for %lld rows", (long long)n)
                      : AM_OK;
    for (int64_t b0 = 0; s == AM_OK && b0 < n; b0 += bmax) {
        const int64_t nb = n - b0 < bmax ? n - b0 : bmax;
        s = am_knn_index_search(ix, x + b0 * dim, nb, nc, labels);
        if (s == AM_OK) s = am_knn_rescore(x, dim, b0, NULL, nb, metric, k, labels, nc, idx + b0 * k, bad, count);
        for (int64_t i = 0; s == AM_OK && i < nb; i++) {
            /* Too few found (IVF's probed lists held under k other rows) or a tie that may
             * go on past the candidates: this row searched exactly. Rare, so one row at a
             * time is cheap enough. */
            if (count[i] < k) {
                count[i] = 0;
                s = am_knn_block(x + (b0 + i) * dim, 1, b0 + i, x, n, 0, dim, metric, k, idx + (b0 + i) * k,
                                 bad + i * k, count + i);
            }
            for (int j = 0; s == AM_OK && j < k; j++) score[(b0 + i) * k + j] = am_bad_to_score(bad[i * k + j], metric);
        }
    }
    free(labels), free(bad), free(count);
    return s;
}

/* A whole graph through an IVF or IVF-PQ index: its centres split our lists, whose nprobe is tuned
 * to the recall as always. FAISS's own search scans a query's lists one query at a time; ours
 * scans each list once for all the queries that probe it, as one sgemm (docs/analysis.md). */
static am_status knn_index_lists(const am_knn_options *o, const float *x, int64_t n, int64_t dim, am_metric metric,
                                 int k, int64_t *idx, float *score)
{
    am_knn_options lo = *o;
    float *centres = NULL;
    AM_TRY(am_knn_index_centres(o->index, &centres, &lo.nlist));
    lo.method = AM_KNN_LISTS, lo.index = NULL, lo.centres = centres;
    am_status s = am_knn_lists(x, n, dim, metric, k, &lo, idx, score);
    free(centres);
    return s;
}

/* A flat or IVF index built for this one search. */
static am_status knn_faiss(const float *x, int64_t n, int64_t dim, am_metric metric, int k, am_knn_method method,
                           const am_knn_options *o, int64_t *idx, float *score)
{
    am_index_options io;
    am_index_options_default(&io);
    io.type = method == AM_KNN_IVF ? AM_INDEX_IVF : AM_INDEX_FLAT;
    io.metric = metric;
    io.nlist = o->nlist, io.nprobe = o->nprobe;
    am_knn_index *ix = NULL;
    am_status s = am_knn_index_build(x, n, dim, &io, &ix);
    if (s == AM_OK) s = knn_indexed(ix, x, n, dim, metric, k, idx, score);
    am_knn_index_free(ix);
    return s;
}

am_status am_knn_search(const float *x, int64_t n, int64_t dim, am_metric metric, int k, const am_knn_options *o,
                        int64_t *idx, float *score)
{
    if (k < 1 || n <= k)
        return am_error(AM_ERR_VALUE, "k nearest neighbours: need n > k >= 1 (n = %lld, k = %d)", (long long)n, k);
    if (dim < 1) return am_error(AM_ERR_VALUE, "k nearest neighbours: bad row size %lld", (long long)dim);
    am_knn_options def;
    am_knn_options_default(&def);
    if (!o) o = &def;
    if (o->nlist < 0 || o->nprobe < 0)
        return am_error(AM_ERR_VALUE, "k nearest neighbours: nlist %lld and nprobe %lld must not be negative",
                        (long long)o->nlist, (long long)o->nprobe);
    am_knn_method m;
    AM_TRY(resolve(o, n, &m));
    AM_TRY(am_knn_check_finite(x, n, dim));
    const am_knn_index_info *info = o->index ? am_knn_index_get_info(o->index) : NULL;
    if (info && (info->n != n || info->dim != dim))
        return am_error(AM_ERR_VALUE, "k nearest neighbours: the index holds %lld x %lld rows, the search %lld x %lld",
                        (long long)info->n, (long long)info->dim, (long long)n, (long long)dim);
    if (o->report) *o->report = (am_knn_report){.method = m, .recall = -1};
    if (info && info->metric == metric)
        return info->type == AM_INDEX_IVF || info->type == AM_INDEX_IVFPQ
                   ? knn_index_lists(o, x, n, dim, metric, k, idx, score)
                   : knn_indexed(o->index, x, n, dim, metric, k, idx, score);
    if (m == AM_KNN_EXACT) return am_knn_all(x, n, dim, metric, k, idx, score);
    if (m == AM_KNN_LISTS) return am_knn_lists(x, n, dim, metric, k, o, idx, score);
    if (!am_knn_have_faiss())
        return am_error(AM_ERR_VALUE,
                        "k nearest neighbours: the '%s' search needs FAISS, and this build has none (install "
                        "libfaiss-dev and reconfigure)",
                        method_names[m]);
    return knn_faiss(x, n, dim, metric, k, m, o, idx, score);
}

am_status am_knn_search_ranks(const float *x, int64_t n, int64_t row0, int64_t dim, am_metric metric, int k,
                              int64_t *idx, float *score)
{
    int64_t *count = NULL, *first = NULL, total = 0;
    AM_TRY(am_search_shares(n, row0, &count, &first));
    for (int r = 0; r < am_dist_size(); r++) total += count[r];
    free(count), free(first);
    am_knn_options o;
    am_knn_options_default(&o);
    am_knn_method m = AM_KNN_EXACT;
    am_status s = resolve(&o, total, &m);
    if (s == AM_OK && m != AM_KNN_EXACT && m != AM_KNN_LISTS)
        s = am_error(AM_ERR_VALUE, "k nearest neighbours: over MPI ranks the search is exact or lists, not '%s'",
                     method_names[m]);
    if (s == AM_OK) s = am_knn_check_finite(x, n, dim);
    AM_TRY(am_dist_agree(s));
    return m == AM_KNN_LISTS ? am_knn_lists_ranks(x, n, row0, dim, metric, k, &o, idx, score)
                             : am_knn_ranks(x, n, row0, dim, metric, k, idx, score);
}

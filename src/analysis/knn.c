/* One k-nearest-neighbour search for t-SNE and the outlier scores (knn.h): exact on BLAS, or
 * candidates from a FAISS index re-scored exactly. */
#include "knn.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "astromorph/tensor.h"
#include "search_internal.h"
#ifdef AM_HAVE_FAISS
#include "faiss_shim.h"
#endif

/* Candidates asked of FAISS beyond k and the row itself: its float scores can reorder rows
 * whose exact scores differ by ~1e-6 relative, as in similarity.c. Queries go in blocks so that
 * the candidate lists stay small at any n. */
enum { KNN_MARGIN = 16, KNN_BLOCK = 4096, KNN_NPROBE = 32 };

void am_knn_options_default(am_knn_options *o)
{
    o->method = AM_KNN_AUTO;
    o->nlist = 0;
    o->nprobe = 0;
}

int am_knn_have_faiss(void)
{
#ifdef AM_HAVE_FAISS
    return 1;
#else
    return 0;
#endif
}

static const char *const method_names[] = {"auto", "exact", "flat", "ivf"};

am_status am_knn_method_parse(const char *s, const char *what, am_knn_method *m)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(s, method_names[i]) == 0) {
            *m = (am_knn_method)i;
            return AM_OK;
        }
    return am_error(AM_ERR_VALUE, "%s: unknown neighbour search '%s' (auto, exact, flat or ivf)", what, s);
}

static am_status check_finite(const float *x, int64_t n, int64_t dim)
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
    if (*m == AM_KNN_AUTO) *m = n >= AM_KNN_FAISS_MIN_ROWS && am_knn_have_faiss() ? AM_KNN_IVF : AM_KNN_EXACT;
    return AM_OK;
}

#ifdef AM_HAVE_FAISS
/* Unit rows for cosine as an inner product; a zero row stays zero, cosine 0 to every row, as the
 * exact search scores it. */
static float *unit_rows(const float *x, int64_t n, int64_t dim)
{
    float *u = am_malloc((size_t)n * (size_t)dim * sizeof *u);
    if (!u) return NULL;
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) {
        double t = 0;
        for (int64_t d = 0; d < dim; d++) t += (double)x[i * dim + d] * x[i * dim + d];
        double s = t > 0 ? 1.0 / sqrt(t) : 0.0;
        for (int64_t d = 0; d < dim; d++) u[i * dim + d] = (float)(x[i * dim + d] * s);
    }
    return u;
}

static am_status knn_faiss(const float *x, int64_t n, int64_t dim, am_metric metric, int k, am_knn_method method,
                           const am_knn_options *o, int64_t *idx, float *score)
{
    const int cosine = metric == AM_METRIC_COSINE, nc = k + 1 + KNN_MARGIN;
    int64_t nlist = 0;
    if (method == AM_KNN_IVF) {
        int64_t most = n / 39 > 1 ? n / 39 : 1;
        nlist = o->nlist ? o->nlist : llround(4 * sqrt((double)n));
        if (!o->nlist) nlist = nlist < 1 ? 1 : nlist > most ? most : nlist;
    }
    float *unit = cosine ? unit_rows(x, n, dim) : NULL;
    const int64_t bmax = n < KNN_BLOCK ? n : KNN_BLOCK;
    int64_t *labels = malloc((size_t)bmax * (size_t)nc * sizeof *labels);
    double *bad = malloc((size_t)bmax * (size_t)k * sizeof *bad);
    int *count = malloc((size_t)bmax * sizeof *count);
    am_faiss_index *ix = NULL;
    am_status s = (cosine && !unit) || !labels || !bad || !count
                      ? am_error(AM_ERR_NOMEM, "k nearest neighbours: out of memory for %lld rows", (long long)n)
                      : AM_OK;
    const float *data = cosine ? unit : x;
    if (s == AM_OK) s = am_faiss_build(data, n, dim, cosine, nlist, o->nprobe ? o->nprobe : KNN_NPROBE, &ix);
    for (int64_t b0 = 0; s == AM_OK && b0 < n; b0 += bmax) {
        const int64_t nb = n - b0 < bmax ? n - b0 : bmax;
        s = am_faiss_search(ix, data + b0 * dim, nb, nc, labels);
        if (s == AM_OK) s = am_knn_rescore(x, dim, b0, nb, metric, k, labels, nc, idx + b0 * k, bad, count);
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
    am_faiss_free(ix);
    am_free(unit);
    free(labels), free(bad), free(count);
    return s;
}
#endif

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
    AM_TRY(check_finite(x, n, dim));
    if (m == AM_KNN_EXACT) return am_knn_all(x, n, dim, metric, k, idx, score);
#ifdef AM_HAVE_FAISS
    return knn_faiss(x, n, dim, metric, k, m, o, idx, score);
#else
    return am_error(AM_ERR_VALUE,
                    "k nearest neighbours: the '%s' search needs FAISS, and this build has none (install "
                    "libfaiss-dev and reconfigure)",
                    method_names[m]);
#endif
}

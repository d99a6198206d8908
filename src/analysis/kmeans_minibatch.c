/* Mini-batch k-means (Sculley 2010) over a streamed row view, and the choice between it and
 * Lloyd's algorithm (kmeans.h). */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "astromorph/kmeans.h"
#include "astromorph/rng.h"
#include "astromorph/tensor.h"
#include "distance.h"

enum { MB_BLOCK = 2048 }; /* rows per block of the final assignment pass */
enum { MB_SLICE = 64 }; /* features per thread task in the centre updates */

static const char *const algorithm_names[] = {"auto", "lloyd", "minibatch"};

am_status am_kmeans_algorithm_parse(const char *s, const char *what, am_kmeans_algorithm *a)
{
    for (int i = 0; i < 3; i++)
        if (strcmp(s, algorithm_names[i]) == 0) {
            *a = (am_kmeans_algorithm)i;
            return AM_OK;
        }
    return am_error(AM_ERR_VALUE, "%s: unknown k-means algorithm '%s' (auto, lloyd or minibatch)", what, s);
}

/* Row i of the view into dst (dim floats). */
static void row_into(const am_rows *x, int64_t i, float *dst)
{
    const float *r = am_rows_block(x, i, 1, dst);
    if (r != dst) memcpy(dst, r, (size_t)x->dim * sizeof *dst);
}

/* A seeded sample of m of the n rows without replacement, in row order (selection sampling,
 * Knuth's algorithm S: one pass, no index of n). */
static void sample_rows(const am_rows *x, int64_t m, am_rng *r, float *dst)
{
    int64_t got = 0;
    for (int64_t i = 0; i < x->n && got < m; i++)
        if (am_rng_uniform(r) * (double)(x->n - i) < (double)(m - got)) row_into(x, i, dst + got++ * x->dim);
}

/* Nearest of the k centres (c, squared norms cn) for each of nb rows, ties to the lower index. */
static void nearest(const float *rows, int64_t nb, const float *rn, const float *c, const float *cn, int k, int64_t dim,
                    float *scratch, int32_t *lab)
{
    am_sqdist_block(rows, nb, rn, c, k, cn, dim, scratch, k);
    for (int64_t i = 0; i < nb; i++) {
        const float *d = scratch + i * k;
        int best = 0;
        for (int j = 1; j < k; j++)
            if (d[j] < d[best]) best = j;
        lab[i] = best;
    }
}

/* Sculley's update for one batch: in row order, the row's centre takes a step of 1/count toward
 * it (eta: nb scratch). Threads split the features; each slice walks the rows in order, so the
 * result does not depend on the thread count. Returns the centres' squared shift. */
static double step(double *cd, int64_t *cnt, const float *rows, const int32_t *lab, int64_t nb, int k, int64_t dim,
                   double *before, double *eta)
{
    memcpy(before, cd, (size_t)k * (size_t)dim * sizeof *cd);
    for (int64_t i = 0; i < nb; i++) eta[i] = 1.0 / (double)++cnt[lab[i]];
    int64_t nslices = (dim + MB_SLICE - 1) / MB_SLICE;
#pragma omp parallel for schedule(static) if (nslices > 1)
    for (int64_t sl = 0; sl < nslices; sl++) {
        int64_t d0 = sl * MB_SLICE, d1 = d0 + MB_SLICE < dim ? d0 + MB_SLICE : dim;
        for (int64_t i = 0; i < nb; i++) {
            double *ctr = cd + (int64_t)lab[i] * dim;
            const float *r = rows + i * dim;
            for (int64_t d = d0; d < d1; d++) ctr[d] += eta[i] * (r[d] - ctr[d]);
        }
    }
    double shift = 0;
    for (int64_t i = 0; i < (int64_t)k * dim; i++) shift += (cd[i] - before[i]) * (cd[i] - before[i]);
    return shift;
}

/* The mean feature variance, from the seeding sample (m rows). */
static double sample_variance(const float *s, int64_t m, int64_t dim)
{
    double var = 0;
    for (int64_t d = 0; d < dim; d++) {
        double mu = 0, m2 = 0;
        for (int64_t i = 0; i < m; i++) mu += s[i * dim + d];
        mu /= (double)m;
        for (int64_t i = 0; i < m; i++) m2 += (s[i * dim + d] - mu) * (s[i * dim + d] - mu);
        var += m2 / (double)m;
    }
    return var / (double)dim;
}

/* Labels, sizes and the inertia (exact, in double, summed in row order) of every row. */
static am_status assign_all(const am_rows *x, const float *c, const float *cn, int k, am_kmeans_result *res)
{
    const int64_t dim = x->dim;
    float *buf = am_malloc((size_t)MB_BLOCK * (size_t)dim * sizeof *buf);
    float *bn = am_malloc((size_t)MB_BLOCK * sizeof *bn);
    float *scratch = am_malloc((size_t)MB_BLOCK * (size_t)k * sizeof *scratch);
    double *d2 = malloc((size_t)MB_BLOCK * sizeof *d2);
    am_status s = buf && bn && scratch && d2 ? AM_OK : am_error(AM_ERR_NOMEM, "k-means: out of memory");
    res->inertia = 0;
    memset(res->sizes, 0, (size_t)k * sizeof *res->sizes);
    for (int64_t b0 = 0; s == AM_OK && b0 < x->n; b0 += MB_BLOCK) {
        int64_t nb = x->n - b0 < MB_BLOCK ? x->n - b0 : MB_BLOCK;
        const float *rows = am_rows_block(x, b0, nb, buf);
        am_sqnorms(rows, nb, dim, bn);
        nearest(rows, nb, bn, c, cn, k, dim, scratch, res->labels + b0);
        /* threads only where the work outweighs waking them (a busy shared machine) */
#pragma omp parallel for schedule(static) if (dim >= 64)
        for (int64_t i = 0; i < nb; i++)
            d2[i] = am_sqdist_exact(rows + i * dim, c + (int64_t)res->labels[b0 + i] * dim, dim);
        for (int64_t i = 0; i < nb; i++) {
            if (!isfinite(d2[i])) {
                s = am_error(AM_ERR_NUMERIC, "k-means: row %lld has a non-finite value", (long long)(b0 + i));
                break;
            }
            res->inertia += d2[i];
            res->sizes[res->labels[b0 + i]]++;
        }
    }
    am_free(buf), am_free(bn), am_free(scratch), free(d2);
    return s;
}

am_status am_kmeans_minibatch(const am_rows *x, const am_kmeans_options *o, am_kmeans_result *res)
{
    memset(res, 0, sizeof *res);
    const int64_t n = x->n, dim = x->dim;
    const int k = o->k;
    if (k < 1 || n < k)
        return am_error(AM_ERR_VALUE, "k-means: %lld points cannot form k = %d clusters", (long long)n, k);
    if (n > UINT32_MAX) return am_error(AM_ERR_VALUE, "k-means: too many points (%lld)", (long long)n);
    if (o->batch < 1 || o->passes < 1 || !(o->tol >= 0))
        return am_error(AM_ERR_VALUE, "mini-batch k-means: batch and passes must be >= 1 and tol >= 0");
    const int64_t b = o->batch < n ? o->batch : n;
    int64_t m = 3 * b > 20 * (int64_t)k ? 3 * b : 20 * (int64_t)k;
    if (m > n) m = n;
    float *smp = am_malloc((size_t)m * (size_t)dim * sizeof *smp);
    float *rows = am_malloc((size_t)b * (size_t)dim * sizeof *rows), *rn = am_malloc((size_t)b * sizeof *rn);
    float *c = am_malloc((size_t)k * (size_t)dim * sizeof *c), *cn = am_malloc((size_t)k * sizeof *cn);
    float *scratch = am_malloc((size_t)b * (size_t)k * sizeof *scratch);
    double *cd = malloc((size_t)k * (size_t)dim * sizeof *cd),
           *before = malloc((size_t)k * (size_t)dim * sizeof *before);
    int64_t *cnt = calloc((size_t)k, sizeof *cnt), *pick = malloc((size_t)b * sizeof *pick);
    double *eta = malloc((size_t)b * sizeof *eta);
    int32_t *lab = malloc((size_t)b * sizeof *lab);
    res->labels = malloc((size_t)n * sizeof *res->labels);
    res->sizes = calloc((size_t)k, sizeof *res->sizes);
    am_kmeans_result init = {0};
    am_status s = AM_OK;
    if (!smp || !rows || !rn || !c || !cn || !scratch || !cd || !before || !cnt || !pick || !eta || !lab ||
        !res->labels || !res->sizes) {
        s = am_error(AM_ERR_NOMEM, "mini-batch k-means: out of memory for k = %d, batch %lld", k, (long long)b);
        goto done;
    }
    am_rng r;
    am_rng_init(&r, o->seed, am_rng_stream(0x6d696e69ULL, 0, 0));
    sample_rows(x, m, &r, smp);
    for (int64_t i = 0; i < m * dim; i++)
        if (!isfinite(smp[i])) {
            s = am_error(AM_ERR_NUMERIC, "k-means: a sampled row has a non-finite value");
            goto done;
        }
    am_kmeans_options io = *o;
    if ((s = am_kmeans(smp, m, dim, &io, &init)) != AM_OK) goto done;
    for (int64_t i = 0; i < (int64_t)k * dim; i++) cd[i] = init.centroids[i];
    const double tol = o->tol * sample_variance(smp, m, dim);
    const int64_t per_pass = (n + b - 1) / b;
    int batches = 0;
    for (int pass = 0; pass < o->passes; pass++) {
        double shift = 0;
        for (int64_t t = 0; t < per_pass; t++, batches++) {
            for (int64_t i = 0; i < k * dim; i++) c[i] = (float)cd[i];
            am_sqnorms(c, k, dim, cn);
            for (int64_t i = 0; i < b; i++) pick[i] = am_rng_below(&r, (uint32_t)n);
            for (int64_t i = 0; i < b; i++) row_into(x, pick[i], rows + i * dim);
            for (int64_t i = 0; i < b * dim; i++)
                if (!isfinite(rows[i])) {
                    s = am_error(AM_ERR_NUMERIC, "k-means: row %lld has a non-finite value", (long long)pick[i / dim]);
                    goto done;
                }
            am_sqnorms(rows, b, dim, rn);
            nearest(rows, b, rn, c, cn, k, dim, scratch, lab);
            shift += step(cd, cnt, rows, lab, b, k, dim, before, eta);
        }
        if (shift <= tol) break;
    }
    for (int64_t i = 0; i < k * dim; i++) c[i] = (float)cd[i];
    am_sqnorms(c, k, dim, cn);
    res->k = k, res->n = n, res->dim = dim, res->iterations = batches;
    res->centroids = c, c = NULL;
    s = assign_all(x, res->centroids, cn, k, res);
done:
    am_kmeans_result_free(&init);
    am_free(smp), am_free(rows), am_free(rn), am_free(c), am_free(cn), am_free(scratch);
    free(cd), free(before), free(cnt), free(pick), free(eta), free(lab);
    if (s != AM_OK) am_kmeans_result_free(res);
    return s;
}

am_status am_kmeans_rows(const am_rows *x, const am_kmeans_options *o, am_kmeans_result *res)
{
    int mini =
        o->algorithm == AM_KMEANS_MINIBATCH || (o->algorithm == AM_KMEANS_AUTO && x->n >= AM_KMEANS_MINIBATCH_FROM);
    if (mini) return am_kmeans_minibatch(x, o, res);
    if (x->f32) return am_kmeans(x->f32, x->n, x->dim, o, res);
    /* Lloyd reads every row every iteration: float16 rows are converted once */
    float *f = am_malloc((size_t)(x->n ? x->n * x->dim : 1) * sizeof *f);
    if (!f) return am_error(AM_ERR_NOMEM, "k-means: out of memory for %lld rows", (long long)x->n);
    am_rows_block(x, 0, x->n, f);
    am_status s = am_kmeans(f, x->n, x->dim, o, res);
    am_free(f);
    return s;
}

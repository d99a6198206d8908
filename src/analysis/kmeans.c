/* k-means: k-means++ seeding (greedy, 2 + ln k candidates per step), Lloyd iterations with
 * distances from BLAS, seeded restarts; and the silhouette score. */
#include "astromorph/kmeans.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "astromorph/rng.h"
#include "astromorph/tensor.h"
#include "distance.h"

enum { KM_BLOCK = 2048 }; /* rows per distance block: bounds the scratch to KM_BLOCK × k floats */
enum { KM_TRIALS = 8 }; /* most k-means++ candidates per step (2 + ln k, capped) */
enum { KM_CHUNK = 64 }; /* rows summed in float before joining a centroid's double sum */
enum { KM_SLICE = 128 }; /* features per thread task when summing */

void am_kmeans_options_default(am_kmeans_options *o)
{
    o->k = 10;
    o->restarts = 10;
    o->max_iter = 300;
    o->tol = 1e-4;
    o->seed = 0;
}

void am_kmeans_result_free(am_kmeans_result *r)
{
    if (!r) return;
    free(r->labels);
    am_free(r->centroids);
    free(r->sizes);
    memset(r, 0, sizeof *r);
}

typedef struct {
    const float *x, *xn;
    int64_t n, dim;
    int k;
    float *c, *cn; /* k × dim centroids and their squared norms */
    float *scratch; /* KM_BLOCK × k */
    double *mind; /* n: squared distance to the nearest chosen centre (seeding) */
    int32_t *lab;
    double *sum; /* k × dim */
    float *part; /* k × dim: float sums over a chunk of rows */
    int64_t *cnt;
    int64_t *stamp; /* feature slices × k: chunk in which a cluster's float sum was last reset */
    float *cand, *candn; /* seeding: trial centres (KM_TRIALS × dim) and their squared norms */
    float *cd; /* seeding: n × KM_TRIALS squared distances to the trial centres */
} km_work;

/* Adds the rows [b0, b0 + nb) into their clusters' sums. Threads split the features into
 * fixed slices and each slice goes through the rows in order, so the sums do not depend on the
 * thread count. Rows are summed in float over chunks of KM_CHUNK (4 lanes per SSE add, no
 * conversions) and each touched cluster's chunk sum then goes into its double total. */
static void accumulate(km_work *w, int64_t b0, int64_t nb)
{
    int64_t dim = w->dim, nslices = (dim + KM_SLICE - 1) / KM_SLICE;
#pragma omp parallel for schedule(static)
    for (int64_t sl = 0; sl < nslices; sl++) {
        int64_t d0 = sl * KM_SLICE, d1 = d0 + KM_SLICE < dim ? d0 + KM_SLICE : dim;
        int64_t *stamp = w->stamp + sl * w->k;
        int touched[KM_CHUNK];
        for (int64_t q0 = 0; q0 < nb; q0 += KM_CHUNK) {
            int64_t q1 = q0 + KM_CHUNK < nb ? q0 + KM_CHUNK : nb;
            int nt = 0;
            for (int64_t q = q0; q < q1; q++) {
                int c = w->lab[b0 + q];
                float *part = w->part + (int64_t)c * dim;
                if (stamp[c] != b0 + q0) { /* first row of cluster c in this chunk */
                    stamp[c] = b0 + q0;
                    touched[nt++] = c;
                    for (int64_t d = d0; d < d1; d++) part[d] = 0;
                }
                const float *r = w->x + (b0 + q) * dim;
                for (int64_t d = d0; d < d1; d++) part[d] += r[d];
            }
            for (int t = 0; t < nt; t++) {
                double *sum = w->sum + (int64_t)touched[t] * dim;
                const float *part = w->part + (int64_t)touched[t] * dim;
                for (int64_t d = d0; d < d1; d++) sum[d] += part[d];
            }
        }
    }
}

/* Nearest centroid of every row (ties keep the current cluster, so a relocated centre keeps
 * its point). With sums, also adds each row into its new cluster's sum and count, in the same
 * pass while the block is in cache: one Lloyd iteration reads the data once. */
static void assign(km_work *w, int64_t *changed, int sums)
{
    int64_t ch = 0;
    if (sums) {
        memset(w->sum, 0, (size_t)w->k * (size_t)w->dim * sizeof *w->sum);
        memset(w->cnt, 0, (size_t)w->k * sizeof *w->cnt);
        for (int64_t i = 0; i < ((w->dim + KM_SLICE - 1) / KM_SLICE) * w->k; i++) w->stamp[i] = -1;
    }
    for (int64_t b0 = 0; b0 < w->n; b0 += KM_BLOCK) {
        int64_t nb = w->n - b0 < KM_BLOCK ? w->n - b0 : KM_BLOCK;
        am_sqdist_block(w->x + b0 * w->dim, nb, w->xn + b0, w->c, w->k, w->cn, w->dim, w->scratch, w->k);
        for (int64_t i = 0; i < nb; i++) {
            const float *d = w->scratch + i * w->k;
            int cur = w->lab[b0 + i], best = cur >= 0 ? cur : 0;
            for (int j = 0; j < w->k; j++)
                if (d[j] < d[best]) best = j;
            if (cur != best) ch++;
            w->lab[b0 + i] = best;
            if (sums) w->cnt[best]++;
        }
        if (sums) accumulate(w, b0, nb);
    }
    if (changed) *changed = ch;
}

/* New centroids from the sums of the last assign(); an empty cluster first takes the row
 * farthest from its centroid. Returns the squared shift of the centroids. */
static double update(km_work *w)
{
    int64_t dim = w->dim;
    for (int j = 0; j < w->k; j++) {
        if (w->cnt[j] > 0) continue;
        int64_t far = 0;
        double fd = -1;
        for (int64_t i = 0; i < w->n; i++) {
            double dd = am_sqdist_exact(w->x + i * dim, w->c + (int64_t)w->lab[i] * dim, dim);
            if (dd > fd && w->cnt[w->lab[i]] > 1) {
                fd = dd;
                far = i;
            }
        }
        int old = w->lab[far];
        for (int64_t d = 0; d < dim; d++) {
            w->sum[(int64_t)old * dim + d] -= w->x[far * dim + d];
            w->sum[(int64_t)j * dim + d] = w->x[far * dim + d];
        }
        w->cnt[old]--;
        w->cnt[j] = 1;
        w->lab[far] = j;
    }
    double shift = 0;
    for (int j = 0; j < w->k; j++) {
        float *c = w->c + (int64_t)j * dim;
        for (int64_t d = 0; d < dim; d++) {
            float v = (float)(w->sum[(int64_t)j * dim + d] / (double)w->cnt[j]);
            double t = (double)v - c[d];
            shift += t * t;
            c[d] = v;
        }
    }
    am_sqnorms(w->c, w->k, dim, w->cn);
    return shift;
}

/* Samples a row with probability proportional to mind. */
static int64_t sample_d2(const km_work *w, double total, am_rng *r)
{
    double u = am_rng_uniform(r) * total, acc = 0;
    int64_t last = 0;
    for (int64_t i = 0; i < w->n; i++) {
        if (w->mind[i] <= 0) continue;
        acc += w->mind[i];
        last = i;
        if (acc > u) return i;
    }
    return last;
}

/* Squared distances (float, from BLAS) of every row to the m trial centres in w->cand. */
static void trial_distances(km_work *w, int m)
{
    am_sqnorms(w->cand, m, w->dim, w->candn);
    for (int64_t b0 = 0; b0 < w->n; b0 += KM_BLOCK) {
        int64_t nb = w->n - b0 < KM_BLOCK ? w->n - b0 : KM_BLOCK;
        am_sqdist_block(w->x + b0 * w->dim, nb, w->xn + b0, w->cand, m, w->candn, w->dim, w->cd + b0 * KM_TRIALS,
                        KM_TRIALS);
    }
}

/* Greedy k-means++: each new centre is the best (lowest potential) of a few rows sampled with
 * probability proportional to their squared distance to the nearest chosen centre. Sums run in
 * row order, so the choice does not depend on the thread count. */
static void seed_plusplus(km_work *w, am_rng *r)
{
    int64_t dim = w->dim, n = w->n;
    int64_t first = (int64_t)am_rng_below(r, (uint32_t)n);
    memcpy(w->c, w->x + first * dim, (size_t)dim * sizeof(float));
    memcpy(w->cand, w->c, (size_t)dim * sizeof(float));
    trial_distances(w, 1);
    double pot = 0;
    for (int64_t i = 0; i < n; i++) {
        w->mind[i] = w->cd[i * KM_TRIALS];
        pot += w->mind[i];
    }
    int trials = 2 + (int)log((double)w->k);
    if (trials > KM_TRIALS) trials = KM_TRIALS;
    for (int j = 1; j < w->k; j++) {
        int64_t pick[KM_TRIALS];
        for (int t = 0; t < trials; t++) {
            /* All rows coincide with chosen centres: any row will do. */
            pick[t] = pot > 0 ? sample_d2(w, pot, r) : (int64_t)am_rng_below(r, (uint32_t)n);
            memcpy(w->cand + t * dim, w->x + pick[t] * dim, (size_t)dim * sizeof(float));
        }
        trial_distances(w, trials);
        int best = 0;
        double best_pot = INFINITY;
        for (int t = 0; t < trials; t++) {
            double p = 0;
            for (int64_t i = 0; i < n; i++) {
                double d = w->cd[i * KM_TRIALS + t];
                p += d < w->mind[i] ? d : w->mind[i];
            }
            if (p < best_pot) {
                best_pot = p;
                best = t;
            }
        }
        for (int64_t i = 0; i < n; i++) {
            double d = w->cd[i * KM_TRIALS + best];
            if (d < w->mind[i]) w->mind[i] = d;
        }
        pot = best_pot;
        memcpy(w->c + (int64_t)j * dim, w->x + pick[best] * dim, (size_t)dim * sizeof(float));
    }
    am_sqnorms(w->c, w->k, dim, w->cn);
}

am_status am_kmeans(const float *x, int64_t n, int64_t dim, const am_kmeans_options *o, am_kmeans_result *res)
{
    memset(res, 0, sizeof *res);
    if (o->k < 1) return am_error(AM_ERR_VALUE, "k-means: k = %d, must be at least 1", o->k);
    if (n < o->k) return am_error(AM_ERR_VALUE, "k-means: %lld points cannot form k = %d clusters", (long long)n, o->k);
    if (n > UINT32_MAX) return am_error(AM_ERR_VALUE, "k-means: too many points (%lld)", (long long)n);
    if (o->restarts < 1 || o->max_iter < 1 || !(o->tol >= 0))
        return am_error(AM_ERR_VALUE, "k-means: restarts and max_iter must be >= 1 and tol >= 0");
    int k = o->k;
    km_work w = {.x = x, .n = n, .dim = dim, .k = k};
    float *xn = am_malloc((size_t)n * sizeof(float));
    w.c = am_malloc((size_t)k * (size_t)dim * sizeof(float));
    w.cn = am_malloc((size_t)k * sizeof(float));
    w.scratch = am_malloc((size_t)KM_BLOCK * (size_t)k * sizeof(float));
    w.mind = malloc((size_t)n * sizeof(double));
    w.stamp = malloc((size_t)((dim + KM_SLICE - 1) / KM_SLICE) * (size_t)k * sizeof(int64_t));
    w.cand = am_malloc((size_t)KM_TRIALS * (size_t)dim * sizeof(float));
    w.candn = am_malloc((size_t)KM_TRIALS * sizeof(float));
    w.cd = am_malloc((size_t)n * KM_TRIALS * sizeof(float));
    w.lab = malloc((size_t)n * sizeof(int32_t));
    w.sum = malloc((size_t)k * (size_t)dim * sizeof(double));
    w.part = am_malloc((size_t)k * (size_t)dim * sizeof(float));
    w.cnt = malloc((size_t)k * sizeof(int64_t));
    res->labels = malloc((size_t)n * sizeof(int32_t));
    res->centroids = am_malloc((size_t)k * (size_t)dim * sizeof(float));
    res->sizes = malloc((size_t)k * sizeof(int64_t));
    am_status s = AM_OK;
    if (!xn || !w.c || !w.cn || !w.scratch || !w.mind || !w.stamp || !w.cand || !w.candn || !w.cd || !w.lab || !w.sum ||
        !w.part || !w.cnt || !res->labels || !res->centroids || !res->sizes) {
        s = am_error(AM_ERR_NOMEM, "k-means: out of memory for %lld x %lld, k = %d", (long long)n, (long long)dim, k);
        goto done;
    }
    for (int64_t i = 0; i < n * dim; i++)
        if (!isfinite(x[i])) {
            s = am_error(AM_ERR_NUMERIC, "k-means: row %lld has a non-finite value", (long long)(i / dim));
            goto done;
        }
    w.xn = xn;
    am_sqnorms(x, n, dim, xn);
    /* Tolerance relative to the data's spread, as scikit-learn: tol × mean feature variance. */
    double var = 0;
    for (int64_t d = 0; d < dim; d++) {
        double m = 0, m2 = 0;
        for (int64_t i = 0; i < n; i++) m += x[i * dim + d];
        m /= (double)n;
        for (int64_t i = 0; i < n; i++) m2 += (x[i * dim + d] - m) * (x[i * dim + d] - m);
        var += m2 / (double)n;
    }
    double tol = o->tol * var / (double)dim;
    res->inertia = DBL_MAX;
    res->k = k;
    res->n = n;
    res->dim = dim;
    for (int rs = 0; rs < o->restarts; rs++) {
        am_rng r;
        am_rng_init(&r, o->seed, am_rng_stream(0x6b6d65616e73ULL, (uint64_t)rs, 0));
        seed_plusplus(&w, &r);
        for (int64_t i = 0; i < n; i++) w.lab[i] = -1;
        int it = 0;
        for (; it < o->max_iter; it++) {
            int64_t changed;
            assign(&w, &changed, 1);
            if (changed == 0 && it > 0) break;
            double shift = update(&w);
            if (shift <= tol) {
                assign(&w, NULL, 0);
                it++;
                break;
            }
        }
        /* Inertia exactly, in double, so that restarts compare fairly. */
        double inertia = 0;
        for (int64_t i = 0; i < n; i++) inertia += am_sqdist_exact(x + i * dim, w.c + (int64_t)w.lab[i] * dim, dim);
        if (inertia < res->inertia) {
            res->inertia = inertia;
            res->iterations = it;
            memcpy(res->labels, w.lab, (size_t)n * sizeof(int32_t));
            memcpy(res->centroids, w.c, (size_t)k * (size_t)dim * sizeof(float));
        }
    }
    memset(res->sizes, 0, (size_t)k * sizeof(int64_t));
    for (int64_t i = 0; i < n; i++) res->sizes[res->labels[i]]++;
done:
    am_free(xn);
    am_free(w.c);
    am_free(w.cn);
    am_free(w.scratch);
    free(w.mind);
    free(w.stamp);
    am_free(w.cand);
    am_free(w.candn);
    am_free(w.cd);
    free(w.lab);
    free(w.sum);
    am_free(w.part);
    free(w.cnt);
    if (s != AM_OK) am_kmeans_result_free(res);
    return s;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

am_status am_silhouette(const float *x, int64_t n, int64_t dim, const int32_t *labels, int k, int64_t sample,
                        uint64_t seed, double *mean, float *per_point)
{
    if (k < 1) return am_error(AM_ERR_VALUE, "silhouette: k = %d", k);
    for (int64_t i = 0; i < n; i++)
        if (labels[i] < 0 || labels[i] >= k)
            return am_error(AM_ERR_VALUE, "silhouette: label %d of row %lld is outside [0, %d)", labels[i],
                            (long long)i, k);
    int64_t m = (sample > 0 && sample < n) ? sample : n;
    int64_t *idx = malloc((size_t)(n ? n : 1) * sizeof *idx);
    float *sub = am_malloc((size_t)(m ? m : 1) * (size_t)dim * sizeof(float));
    float *sn = am_malloc((size_t)(m ? m : 1) * sizeof(float));
    int64_t *csize = calloc((size_t)k, sizeof *csize);
    double *coef = malloc((size_t)(m ? m : 1) * sizeof(double));
    int64_t blk = 256;
    float *d2 = am_malloc((size_t)blk * (size_t)(m ? m : 1) * sizeof(float));
    double *acc = malloc((size_t)blk * (size_t)k * sizeof(double));
    am_status s = AM_OK;
    if (!idx || !sub || !sn || !csize || !coef || !d2 || !acc) {
        s = am_error(AM_ERR_NOMEM, "silhouette: out of memory for %lld points", (long long)m);
        goto done;
    }
    for (int64_t i = 0; i < n; i++) idx[i] = i;
    if (m < n) {
        am_rng r;
        am_rng_init(&r, seed, am_rng_stream(0x73696c68ULL, 0, 0));
        am_rng_shuffle(&r, idx, n);
        /* Sorted, so the subset's order (and the sums below) follow the rows' order. */
        qsort(idx, (size_t)m, sizeof *idx, cmp_i64);
    }
    for (int64_t i = 0; i < m; i++) {
        memcpy(sub + i * dim, x + idx[i] * dim, (size_t)dim * sizeof(float));
        csize[labels[idx[i]]]++;
    }
    am_sqnorms(sub, m, dim, sn);
    for (int64_t b0 = 0; b0 < m; b0 += blk) {
        int64_t nb = m - b0 < blk ? m - b0 : blk;
        am_sqdist_block(sub + b0 * dim, nb, sn + b0, sub, m, sn, dim, d2, m);
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < nb; i++) {
            double *a = acc + i * k;
            memset(a, 0, (size_t)k * sizeof(double));
            for (int64_t j = 0; j < m; j++)
                if (j != b0 + i) a[labels[idx[j]]] += sqrt((double)d2[i * m + j]);
            int own = labels[idx[b0 + i]];
            if (csize[own] <= 1) {
                coef[b0 + i] = 0;
                continue;
            }
            double ai = a[own] / (double)(csize[own] - 1), bi = DBL_MAX;
            for (int c = 0; c < k; c++)
                if (c != own && csize[c] > 0 && a[c] / (double)csize[c] < bi) bi = a[c] / (double)csize[c];
            if (bi == DBL_MAX) coef[b0 + i] = 0; /* a single populated cluster */
            else coef[b0 + i] = (bi - ai) / (ai > bi ? ai : bi > 0 ? bi : 1);
        }
    }
    double tot = 0;
    for (int64_t i = 0; i < m; i++) tot += coef[i];
    *mean = m ? tot / (double)m : 0;
    if (per_point) {
        for (int64_t i = 0; i < n; i++) per_point[i] = NAN;
        for (int64_t i = 0; i < m; i++) per_point[idx[i]] = (float)coef[i];
    }
done:
    free(idx);
    am_free(sub);
    am_free(sn);
    free(csize);
    free(coef);
    am_free(d2);
    free(acc);
    return s;
}

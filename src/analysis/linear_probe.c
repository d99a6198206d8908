/* Cross-validated linear probe: multinomial logistic regression on z-scored features, L2-
 * regularised, fitted by Nesterov's accelerated gradient for strongly convex functions. The
 * objective is convex, so the answer depends on the data and the regularisation, not on a
 * solver's tuning; a fixed iteration count keeps it deterministic. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "astromorph/evaluate.h"
#include "astromorph/rng.h"

/* Stream tag of the fold assignment. */
#define FOLD_STREAM 0x70726f6265ULL /* "probe" */

void am_probe_options_default(am_probe_options *o)
{
    o->folds = 5;
    o->l2 = 1e-2;
    o->iterations = 500;
    o->seed = 42;
}

typedef struct fit {
    int64_t m, d; /* rows, features (the bias is column d) */
    int K;
    const double *x; /* m × (d+1), last column 1 */
    const int32_t *y;
    double l2;
} fit;

/* grad = ∇ of mean cross-entropy + ½·l2·‖W‖² (bias not penalised) at w ((d+1) × K); p: m × K. */
static void gradient(const fit *f, const double *w, double *p, double *grad)
{
    int64_t D = f->d + 1;
    int K = f->K;
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)f->m, K, (int)D, 1.0, f->x, (int)D, w, K, 0.0, p, K);
    for (int64_t i = 0; i < f->m; i++) {
        double *r = p + i * K, top = r[0], sum = 0;
        for (int c = 1; c < K; c++) top = r[c] > top ? r[c] : top;
        for (int c = 0; c < K; c++) sum += r[c] = exp(r[c] - top);
        for (int c = 0; c < K; c++) r[c] /= sum;
        r[f->y[i]] -= 1.0;
    }
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)D, K, (int)f->m, 1.0 / (double)f->m, f->x, (int)D, p, K,
                0.0, grad, K);
    for (int64_t j = 0; j < f->d; j++)
        for (int c = 0; c < K; c++) grad[j * K + c] += f->l2 * w[j * K + c];
}

/* Largest eigenvalue of xᵀx/m by power iteration from a fixed start (an upper estimate is
 * enough: the step 1/L only has to be small enough). */
static double top_eigenvalue(const fit *f, double *v, double *u)
{
    int64_t D = f->d + 1;
    for (int64_t j = 0; j < D; j++) v[j] = 1.0 / sqrt((double)D);
    double lam = 0;
    for (int it = 0; it < 60; it++) {
        cblas_dgemv(CblasRowMajor, CblasNoTrans, (int)f->m, (int)D, 1.0, f->x, (int)D, v, 1, 0.0, u, 1);
        cblas_dgemv(CblasRowMajor, CblasTrans, (int)f->m, (int)D, 1.0 / (double)f->m, f->x, (int)D, u, 1, 0.0, v, 1);
        double nrm = cblas_dnrm2((int)D, v, 1);
        if (!(nrm > 0)) return 1.0;
        lam = nrm;
        cblas_dscal((int)D, 1.0 / nrm, v, 1);
    }
    return lam * 1.05; /* power iteration approaches from below */
}

/* Fits w ((d+1) × K) to the rows of f. */
static am_status fit_probe(const fit *f, int iterations, double *w)
{
    int64_t D = f->d + 1, nw = D * f->K;
    double *prev = calloc((size_t)nw, sizeof *prev), *look = malloc((size_t)nw * sizeof *look);
    double *grad = malloc((size_t)nw * sizeof *grad), *p = malloc((size_t)(f->m * f->K) * sizeof *p);
    double *v = malloc((size_t)D * sizeof *v), *u = malloc((size_t)f->m * sizeof *u);
    if (!prev || !look || !grad || !p || !v || !u) {
        free(prev), free(look), free(grad), free(p), free(v), free(u);
        return am_error(AM_ERR_NOMEM, "evaluate: out of memory for the linear probe");
    }
    /* The cross-entropy's Hessian is at most ½·xᵀx/m per class block; the L2 term adds l2. */
    double L = 0.5 * top_eigenvalue(f, v, u) + f->l2, mu = f->l2;
    double q = sqrt(mu / L), beta = (1 - q) / (1 + q);
    memset(w, 0, (size_t)nw * sizeof *w);
    for (int it = 0; it < iterations; it++) {
        for (int64_t j = 0; j < nw; j++) look[j] = w[j] + beta * (w[j] - prev[j]);
        gradient(f, look, p, grad);
        memcpy(prev, w, (size_t)nw * sizeof *w);
        for (int64_t j = 0; j < nw; j++) w[j] = look[j] - grad[j] / L;
    }
    free(prev), free(look), free(grad), free(p), free(v), free(u);
    return AM_OK;
}

am_status am_eval_probe_fit(const float *x, int64_t n, int64_t d, const int32_t *label, int nclass, double l2,
                            int iterations, double *w)
{
    if (n < 1 || d < 1 || nclass < 1 || !(l2 > 0) || iterations < 1)
        return am_error(AM_ERR_VALUE, "evaluate: probe fit needs rows, features, classes, l2 > 0 and iterations >= 1");
    for (int64_t i = 0; i < n; i++)
        if (label[i] < 0 || label[i] >= nclass)
            return am_error(AM_ERR_VALUE, "evaluate: row %lld has label %d outside 0..%d", (long long)i, label[i],
                            nclass - 1);
    int64_t D = d + 1;
    double *xt = malloc((size_t)(n * D) * sizeof *xt);
    if (!xt) return am_error(AM_ERR_NOMEM, "evaluate: out of memory for the linear probe");
    for (int64_t i = 0; i < n; i++) {
        for (int64_t j = 0; j < d; j++) xt[i * D + j] = x[i * d + j];
        xt[i * D + d] = 1.0;
    }
    fit f = {.m = n, .d = d, .K = nclass, .x = xt, .y = label, .l2 = l2};
    am_status s = fit_probe(&f, iterations, w);
    free(xt);
    return s;
}

/* Stratified folds: each class's rows in a seeded random order, dealt out in turn. */
static void assign_folds(const int32_t *label, int64_t n, int nclass, int folds, uint64_t seed, int *fold)
{
    int64_t *idx = malloc((size_t)n * sizeof *idx);
    int next = 0;
    for (int c = 0; c < nclass && idx; c++) {
        int64_t m = 0;
        for (int64_t i = 0; i < n; i++)
            if (label[i] == c) idx[m++] = i;
        am_rng r;
        am_rng_init(&r, seed, am_rng_stream(FOLD_STREAM, (uint64_t)c, 0));
        am_rng_shuffle(&r, idx, m);
        /* continue the deal where the last class stopped, so small classes do not all land in fold 0 */
        for (int64_t t = 0; t < m; t++) fold[idx[t]] = next, next = (next + 1) % folds;
    }
    if (!idx)
        for (int64_t i = 0; i < n; i++) fold[i] = (int)(i % folds);
    free(idx);
}

am_status am_eval_linear_probe(const float *x, int64_t n, int64_t d, const int32_t *label, int nclass,
                               const am_probe_options *o, int32_t *pred)
{
    am_probe_options def;
    if (!o) am_probe_options_default(&def), o = &def;
    if (n < 2 || d < 1 || nclass < 1)
        return am_error(AM_ERR_VALUE, "evaluate: linear probe needs 2 or more labelled rows");
    if (o->folds < 2 || !(o->l2 > 0) || o->iterations < 1)
        return am_error(AM_ERR_VALUE, "evaluate: linear probe needs folds >= 2, l2 > 0 and iterations >= 1");
    for (int64_t i = 0; i < n; i++)
        if (label[i] < 0 || label[i] >= nclass)
            return am_error(AM_ERR_VALUE, "evaluate: row %lld has label %d outside 0..%d", (long long)i, label[i],
                            nclass - 1);
    int folds = o->folds < n ? o->folds : (int)n;
    int64_t D = d + 1;
    int *fold = malloc((size_t)n * sizeof *fold);
    double *xt = malloc((size_t)(n * D) * sizeof *xt), *w = malloc((size_t)(D * nclass) * sizeof *w);
    double *mean = malloc((size_t)d * sizeof *mean), *sd = malloc((size_t)d * sizeof *sd);
    int32_t *yt = malloc((size_t)n * sizeof *yt);
    am_status s = fold && xt && w && mean && sd && yt ? AM_OK : am_error(AM_ERR_NOMEM, "evaluate: out of memory");
    if (s == AM_OK) assign_folds(label, n, nclass, folds, o->seed, fold);
    for (int64_t i = 0; i < n; i++) pred[i] = 0;
    for (int f = 0; s == AM_OK && f < folds; f++) {
        int64_t m = 0;
        for (int64_t j = 0; j < d; j++) mean[j] = sd[j] = 0;
        for (int64_t i = 0; i < n; i++)
            if (fold[i] != f) {
                m++;
                for (int64_t j = 0; j < d; j++) mean[j] += x[i * d + j];
            }
        if (m == 0) continue;
        for (int64_t j = 0; j < d; j++) mean[j] /= (double)m;
        for (int64_t i = 0; i < n; i++)
            if (fold[i] != f)
                for (int64_t j = 0; j < d; j++) sd[j] += (x[i * d + j] - mean[j]) * (x[i * d + j] - mean[j]);
        for (int64_t j = 0; j < d; j++) sd[j] = sd[j] > 0 ? sqrt(sd[j] / (double)m) : 1.0;
        m = 0;
        for (int64_t i = 0; i < n; i++) {
            if (fold[i] == f) continue;
            for (int64_t j = 0; j < d; j++) xt[m * D + j] = (x[i * d + j] - mean[j]) / sd[j];
            xt[m * D + d] = 1.0;
            yt[m++] = label[i];
        }
        fit ft = {.m = m, .d = d, .K = nclass, .x = xt, .y = yt, .l2 = o->l2};
        if ((s = fit_probe(&ft, o->iterations, w)) != AM_OK) break;
        for (int64_t i = 0; i < n; i++) {
            if (fold[i] != f) continue;
            int best = 0;
            double top = -INFINITY;
            for (int c = 0; c < nclass; c++) {
                double z = w[d * nclass + c];
                for (int64_t j = 0; j < d; j++) z += (x[i * d + j] - mean[j]) / sd[j] * w[j * nclass + c];
                if (z > top) top = z, best = c;
            }
            pred[i] = best;
        }
    }
    free(fold), free(xt), free(w), free(mean), free(sd), free(yt);
    return s;
}

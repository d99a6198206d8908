/* Leave-one-out k-NN accuracy of labelled features, the feature variants it is measured on
 * (raw, centred, whitened) and the accuracy / confusion bookkeeping shared with the probe. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "astromorph/evaluate.h"
#include "astromorph/pca.h"

/* Shrinkage of the whitening: each axis is divided by sqrt(variance + WHITEN_SHRINK · mean
 * variance), so axes of negligible variance (noise, or none at all when n < d) are not blown up
 * to the same weight as the informative ones. */
#define WHITEN_SHRINK 0.1
/* Rows of similarities computed at a time: BLOCK × n doubles. */
enum { BLOCK = 256 };

const char *am_eval_distance_name(am_eval_distance d) { return d == AM_EVAL_EUCLIDEAN ? "euclidean" : "cosine"; }

const char *am_eval_variant_name(am_eval_variant v)
{
    return v == AM_EVAL_CENTRED ? "centred" : v == AM_EVAL_WHITENED ? "whitened" : "raw";
}

am_status am_eval_prepare(const float *x, int64_t n, int64_t d, am_eval_variant v, float **out, int64_t *dout)
{
    *out = NULL, *dout = 0;
    if (n < 1 || d < 1)
        return am_error(AM_ERR_VALUE, "evaluate: %lld rows of %lld features", (long long)n, (long long)d);
    if (v == AM_EVAL_WHITENED && n >= 2) {
        am_pca p;
        int ncomp = (int)(d < n - 1 ? d : n - 1);
        AM_TRY(am_pca_fit(x, n, d, ncomp, &p));
        float *y = malloc((size_t)(n * ncomp) * sizeof *y);
        am_status s = y ? am_pca_transform(&p, x, n, y) : am_error(AM_ERR_NOMEM, "evaluate: out of memory");
        if (s == AM_OK) {
            double mean_var = p.total_variance / (double)d;
            for (int c = 0; c < ncomp; c++) {
                double var = p.variance[c] > 0 ? p.variance[c] : 0;
                float scale = (float)(1.0 / sqrt(var + WHITEN_SHRINK * mean_var + 1e-300));
                for (int64_t i = 0; i < n; i++) y[i * ncomp + c] *= scale;
            }
        }
        am_pca_free(&p);
        if (s != AM_OK) {
            free(y);
            return s;
        }
        *out = y, *dout = ncomp;
        return AM_OK;
    }
    float *y = malloc((size_t)(n * d) * sizeof *y);
    if (!y)
        return am_error(AM_ERR_NOMEM, "evaluate: out of memory for %lld x %lld features", (long long)n, (long long)d);
    memcpy(y, x, (size_t)(n * d) * sizeof *y);
    if (v != AM_EVAL_RAW) { /* centred (and the whitening of a single row, which is only centring) */
        for (int64_t j = 0; j < d; j++) {
            double m = 0;
            for (int64_t i = 0; i < n; i++) m += y[i * d + j];
            m /= (double)n;
            for (int64_t i = 0; i < n; i++) y[i * d + j] = (float)(y[i * d + j] - m);
        }
    }
    *out = y, *dout = d;
    return AM_OK;
}

/* Inserts (score, j) into the k best so far, kept best first; equal scores keep the lower j
 * first because j only grows. */
static void keep_best(double *bs, int64_t *bj, int k, int *have, double score, int64_t j)
{
    if (*have == k && !(score > bs[k - 1])) return;
    int pos = *have < k ? (*have)++ : k - 1;
    while (pos > 0 && score > bs[pos - 1]) {
        bs[pos] = bs[pos - 1], bj[pos] = bj[pos - 1];
        pos--;
    }
    bs[pos] = score, bj[pos] = j;
}

static int32_t vote(const int64_t *bj, int k, const int32_t *label, int nclass, int *count)
{
    memset(count, 0, (size_t)nclass * sizeof *count);
    int top = 0;
    for (int t = 0; t < k; t++)
        if (++count[label[bj[t]]] > top) top = count[label[bj[t]]];
    for (int t = 0; t < k; t++) /* ties: the tied class with the nearest member */
        if (count[label[bj[t]]] == top) return label[bj[t]];
    return label[bj[0]];
}

am_status am_eval_knn(const float *x, int64_t n, int64_t d, const int32_t *label, int nclass, int k,
                      am_eval_distance dist, int32_t *pred)
{
    if (n < 2 || d < 1 || k < 1 || k >= n)
        return am_error(AM_ERR_VALUE, "evaluate: k = %d nearest neighbours need more than %d labelled rows (have %lld)",
                        k, k, (long long)n);
    if (nclass < 1) return am_error(AM_ERR_VALUE, "evaluate: no classes");
    for (int64_t i = 0; i < n; i++)
        if (label[i] < 0 || label[i] >= nclass)
            return am_error(AM_ERR_VALUE, "evaluate: row %lld has label %d outside 0..%d", (long long)i, label[i],
                            nclass - 1);
    double *xd = malloc((size_t)(n * d) * sizeof *xd), *sq = malloc((size_t)n * sizeof *sq);
    double *sim = malloc((size_t)(BLOCK * n) * sizeof *sim);
    if (!xd || !sq || !sim) {
        free(xd), free(sq), free(sim);
        return am_error(AM_ERR_NOMEM, "evaluate: out of memory for %lld rows", (long long)n);
    }
    for (int64_t i = 0; i < n; i++) {
        double s = 0;
        for (int64_t j = 0; j < d; j++) s += (double)x[i * d + j] * x[i * d + j];
        double scale = dist == AM_EVAL_COSINE && s > 0 ? 1.0 / sqrt(s) : 1.0;
        for (int64_t j = 0; j < d; j++) xd[i * d + j] = x[i * d + j] * scale;
        sq[i] = dist == AM_EVAL_COSINE ? (s > 0 ? 1.0 : 0.0) : s;
    }
    int bad = 0;
    for (int64_t b0 = 0; b0 < n; b0 += BLOCK) {
        int64_t nb = n - b0 < BLOCK ? n - b0 : BLOCK;
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nb, (int)n, (int)d, 1.0, xd + b0 * d, (int)d, xd,
                    (int)d, 0.0, sim, (int)n);
#pragma omp parallel for schedule(static) reduction(| : bad)
        for (int64_t r = 0; r < nb; r++) {
            int64_t i = b0 + r;
            double *bs = malloc((size_t)k * sizeof *bs);
            int64_t *bj = malloc((size_t)k * sizeof *bj);
            int *count = malloc((size_t)nclass * sizeof *count);
            if (!bs || !bj || !count) {
                bad = 1;
            } else {
                int have = 0;
                const double *row = sim + r * n;
                for (int64_t j = 0; j < n; j++) {
                    if (j == i) continue;
                    /* cosine: the similarity; Euclidean: minus the squared distance */
                    double score = dist == AM_EVAL_COSINE ? row[j] : 2.0 * row[j] - sq[i] - sq[j];
                    keep_best(bs, bj, k, &have, score, j);
                }
                pred[i] = vote(bj, k, label, nclass, count);
            }
            free(bs), free(bj), free(count);
        }
    }
    free(xd), free(sq), free(sim);
    return bad ? am_error(AM_ERR_NOMEM, "evaluate: out of memory") : AM_OK;
}

double am_eval_accuracy(const int32_t *label, const int32_t *pred, int64_t n, int nclass, double *per_class,
                        int64_t *confusion)
{
    int64_t right = 0;
    if (confusion) memset(confusion, 0, (size_t)nclass * (size_t)nclass * sizeof *confusion);
    for (int64_t i = 0; i < n; i++) {
        right += pred[i] == label[i];
        if (confusion && label[i] >= 0 && label[i] < nclass && pred[i] >= 0 && pred[i] < nclass)
            confusion[(int64_t)label[i] * nclass + pred[i]]++;
    }
    if (per_class) {
        for (int c = 0; c < nclass; c++) {
            int64_t in = 0, ok = 0;
            for (int64_t i = 0; i < n; i++)
                if (label[i] == c) in++, ok += pred[i] == c;
            per_class[c] = in ? (double)ok / (double)in : NAN;
        }
    }
    return n ? (double)right / (double)n : NAN;
}

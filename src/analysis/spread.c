/* Collapse monitors of embeddings (include/astromorph/evaluate.h): the spread of the normalised
 * rows and the effective rank of their covariance. */
#include <math.h>
#include <stdlib.h>

#include "astromorph/evaluate.h"
#include "astromorph/pca.h"

am_status am_embedding_spread(const float *x, int64_t n, int64_t d, double *spread, double *erank)
{
    *spread = NAN, *erank = NAN;
    if (n < 2 || d < 1)
        return am_error(AM_ERR_VALUE, "embedding spread: needs 2 or more rows (have %lld)", (long long)n);
    float *z = malloc((size_t)(n * d) * sizeof *z);
    double *mean = calloc((size_t)d, sizeof *mean), *var = calloc((size_t)d, sizeof *var);
    if (!z || !mean || !var) {
        free(z), free(mean), free(var);
        return am_error(AM_ERR_NOMEM, "embedding spread: out of memory");
    }
    for (int64_t i = 0; i < n; i++) {
        double s = 0;
        for (int64_t j = 0; j < d; j++) s += (double)x[i * d + j] * x[i * d + j];
        double inv = s > 0 ? 1.0 / sqrt(s) : 0.0;
        for (int64_t j = 0; j < d; j++) z[i * d + j] = (float)(x[i * d + j] * inv), mean[j] += z[i * d + j];
    }
    for (int64_t j = 0; j < d; j++) mean[j] /= (double)n;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < d; j++) var[j] += (z[i * d + j] - mean[j]) * (z[i * d + j] - mean[j]);
    double sd = 0;
    for (int64_t j = 0; j < d; j++) sd += sqrt(var[j] / (double)n);
    *spread = sd / (double)d * sqrt((double)d);
    am_pca p;
    int ncomp = (int)(d < n - 1 ? d : n - 1);
    am_status s = am_pca_fit(x, n, d, ncomp, &p);
    if (s == AM_OK) {
        double tot = 0, h = 0;
        for (int c = 0; c < ncomp; c++) tot += p.variance[c] > 0 ? p.variance[c] : 0;
        for (int c = 0; c < ncomp && tot > 0; c++) {
            double q = p.variance[c] > 0 ? p.variance[c] / tot : 0;
            if (q > 0) h -= q * log(q);
        }
        *erank = tot > 0 ? exp(h) : 1.0;
        am_pca_free(&p);
    }
    free(z), free(mean), free(var);
    return s;
}

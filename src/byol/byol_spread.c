/* A penalty on the spread of the embeddings in one forward (VICReg's variance and covariance
 * terms, Bardes, Ponce & LeCun 2022), added to BYOL's loss at the hidden layer: BYOL alone lets
 * the embedding fall onto a few directions (dimensional collapse), which the collapse monitors
 * show as an effective rank of 2-3 of 128. With Y the n x f embeddings centred per column,
 * s_j = sqrt(var_j + eps) (var with n - 1) and C = Y^T Y / (n - 1):
 *   V = (1/f) sum_j max(0, 1 - s_j)             dV/dY_ij = -(1/f) [s_j < 1] Y_ij / ((n - 1) s_j)
 *   K = (1/f) sum_{a != b} C_ab^2                dK/dY = (4 / (f (n - 1))) Y C_off
 * (the gradient through the column means vanishes: centred columns sum to zero). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "astromorph/byol.h"

#define SPREAD_EPS 1e-4 /* VICReg's */

am_status am_byol_spread_penalty(const float *y, int64_t n, int64_t f, double variance_weight, double covariance_weight,
                                 double *penalty, float *dy)
{
    *penalty = 0;
    if (n < 2 || f < 1 || (variance_weight == 0 && covariance_weight == 0)) {
        if (dy) memset(dy, 0, (size_t)(n * f) * sizeof *dy);
        return AM_OK;
    }
    double *yc = malloc((size_t)(n * f) * sizeof *yc), *sd = malloc((size_t)f * sizeof *sd);
    double *cov = covariance_weight != 0 ? calloc((size_t)(f * f), sizeof *cov) : NULL;
    if (!yc || !sd || (covariance_weight != 0 && !cov)) {
        free(yc), free(sd), free(cov);
        return am_error(AM_ERR_NOMEM, "byol: spread penalty: out of memory");
    }
    const double m1 = (double)(n - 1);
    for (int64_t j = 0; j < f; j++) {
        double mean = 0, var = 0;
        for (int64_t i = 0; i < n; i++) mean += y[i * f + j];
        mean /= (double)n;
        for (int64_t i = 0; i < n; i++) {
            double c = y[i * f + j] - mean;
            yc[i * f + j] = c, var += c * c;
        }
        sd[j] = sqrt(var / m1 + SPREAD_EPS);
        *penalty += variance_weight * fmax(0.0, 1.0 - sd[j]) / (double)f;
    }
    if (cov) {
        /* rows in order: the sums do not depend on any thread count */
        for (int64_t i = 0; i < n; i++)
            for (int64_t a = 0; a < f; a++) {
                const double ya = yc[i * f + a];
                for (int64_t b = 0; b < f; b++) cov[a * f + b] += ya * yc[i * f + b];
            }
        double off = 0;
        for (int64_t a = 0; a < f; a++)
            for (int64_t b = 0; b < f; b++) {
                cov[a * f + b] = a == b ? 0.0 : cov[a * f + b] / m1;
                off += cov[a * f + b] * cov[a * f + b];
            }
        *penalty += covariance_weight * off / (double)f;
    }
    for (int64_t i = 0; dy && i < n; i++)
        for (int64_t j = 0; j < f; j++) {
            double g = sd[j] < 1.0 ? -variance_weight / (double)f * yc[i * f + j] / (m1 * sd[j]) : 0.0;
            if (cov) {
                double acc = 0;
                for (int64_t b = 0; b < f; b++) acc += yc[i * f + b] * cov[b * f + j];
                g += covariance_weight * 4.0 / ((double)f * m1) * acc;
            }
            dy[i * f + j] = (float)g;
        }
    free(yc), free(sd), free(cov);
    return AM_OK;
}

/* The original's cosine_loss: 2 − 2·cos(x, y) per sample, with F.normalize's eps of 1e-12. */
#include <math.h>

#include "astromorph/byol.h"

am_status am_byol_cosine_loss(const float *pred, const float *target, int64_t n, int64_t d, float *loss, float *dpred,
                              void *user)
{
    (void)user;
    const double eps = 1e-12;
    for (int64_t i = 0; i < n; i++) {
        const float *x = pred + i * d, *y = target + i * d;
        double xx = 0, yy = 0, xy = 0;
        for (int64_t j = 0; j < d; j++) xx += (double)x[j] * x[j], yy += (double)y[j] * y[j], xy += (double)x[j] * y[j];
        double nx = fmax(sqrt(xx), eps), ny = fmax(sqrt(yy), eps);
        double c = xy / (nx * ny);
        loss[i] = (float)(2.0 - 2.0 * c);
        if (!dpred) continue;
        /* d/dx of −2·(x/|x|)·ŷ = −2/|x| · (ŷ − (x̂·ŷ) x̂); below eps the norm is a constant. */
        float *g = dpred + i * d;
        int clamped = sqrt(xx) < eps;
        for (int64_t j = 0; j < d; j++) {
            double yh = y[j] / ny, xh = x[j] / nx;
            g[j] = (float)(-2.0 / nx * (yh - (clamped ? 0.0 : c * xh)));
        }
    }
    return AM_OK;
}

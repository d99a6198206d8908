/* Pearson correlation of two strided columns, over the rows where both are finite. */
#include <math.h>

#include "astromorph/evaluate.h"

double am_pearson(const float *a, int64_t sa, const float *b, int64_t sb, int64_t n, int64_t *used)
{
    double ma = 0, mb = 0;
    int64_t k = 0;
    for (int64_t i = 0; i < n; i++)
        if (isfinite(a[i * sa]) && isfinite(b[i * sb])) ma += a[i * sa], mb += b[i * sb], k++;
    if (used) *used = k;
    if (k < 3) return NAN;
    ma /= (double)k, mb /= (double)k;
    double saa = 0, sbb = 0, sab = 0;
    for (int64_t i = 0; i < n; i++)
        if (isfinite(a[i * sa]) && isfinite(b[i * sb])) {
            double da = a[i * sa] - ma, db = b[i * sb] - mb;
            saa += da * da, sbb += db * db, sab += da * db;
        }
    return saa > 0 && sbb > 0 ? sab / sqrt(saa * sbb) : NAN;
}

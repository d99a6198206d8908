/* NaN/Inf replacement before normalisation, and the refusal of images that cannot be normalised. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "astromorph/fits.h"
#include "astromorph/tensor.h"

am_status am_nan_policy_parse(const char *s, am_nan_policy *out)
{
    if (!strcmp(s, "zero")) *out = AM_NAN_ZERO;
    else if (!strcmp(s, "min")) *out = AM_NAN_MIN;
    else if (!strcmp(s, "median")) *out = AM_NAN_MEDIAN;
    else return am_error(AM_ERR_VALUE, "nan_policy: \"%s\" is not one of \"zero\", \"min\", \"median\"", s);
    return AM_OK;
}

const char *am_nan_policy_name(am_nan_policy p)
{
    switch (p) {
    case AM_NAN_ZERO: return "zero";
    case AM_NAN_MIN: return "min";
    case AM_NAN_MEDIAN: return "median";
    }
    return "?";
}

/* Median of the finite values (upper median for an even count, as a fill value needs no mean). */
static am_status finite_median(const float *x, int64_t n, int64_t n_finite, const char *name, float *out)
{
    float *v = malloc((size_t)n_finite * sizeof *v);
    if (!v) return am_error(AM_ERR_NOMEM, "%s: out of memory for the median", name);
    int64_t m = 0;
    for (int64_t i = 0; i < n; i++)
        if (isfinite(x[i])) v[m++] = x[i];
    *out = am_select_kth(v, m, m / 2);
    free(v);
    return AM_OK;
}

am_status am_image_clean(am_tensor *image, am_nan_policy policy, const char *name, int64_t *n_replaced)
{
    int64_t n = am_tensor_numel(image), n_finite = 0;
    float lo = INFINITY, hi = -INFINITY;
    float *x = image->data;
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(x[i])) continue;
        n_finite++;
        if (x[i] < lo) lo = x[i];
        if (x[i] > hi) hi = x[i];
    }
    if (n_replaced) *n_replaced = n - n_finite;
    if (n_finite == 0) return am_error(AM_ERR_NUMERIC, "%s: all pixels are NaN or Inf", name);
    /* Judged on the finite pixels: NaN holes in a flat image carry no morphology either. */
    if (lo == hi) return am_error(AM_ERR_NUMERIC, "%s: constant image (every finite pixel is %g)", name, (double)lo);
    if (n_finite == n) return AM_OK;
    float fill = 0.0f;
    if (policy == AM_NAN_MIN) fill = lo;
    else if (policy == AM_NAN_MEDIAN) AM_TRY(finite_median(x, n, n_finite, name, &fill));
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(x[i])) x[i] = fill;
    return AM_OK;
}

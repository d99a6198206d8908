/* Resampling C×H×W planes to another size by exact area averaging (each output pixel the mean
 * of the input area it covers, partial pixels weighted by their overlap): the right filter for
 * shrinking, with no aliasing, and plain pixel replication when growing. */
#include <math.h>
#include <stdlib.h>

#include "astromorph/augment.h"

/* Weights of an n → m axis: output o takes inputs first[o] .. first[o]+len[o]-1 with weights
 * wt[o*span ...]; span is the most inputs one output can touch. */
typedef struct axis {
    int64_t *first, span;
    int *len;
    double *wt;
} axis;

static int axis_make(axis *a, int64_t n, int64_t m)
{
    double step = (double)n / (double)m;
    a->span = (int64_t)ceil(step) + 1;
    a->first = malloc((size_t)m * sizeof *a->first);
    a->len = malloc((size_t)m * sizeof *a->len);
    a->wt = malloc((size_t)(m * a->span) * sizeof *a->wt);
    if (!a->first || !a->len || !a->wt) return 0;
    for (int64_t o = 0; o < m; o++) {
        double lo = (double)o * step, hi = (double)(o + 1) * step;
        int64_t i0 = (int64_t)floor(lo), i1 = (int64_t)ceil(hi);
        if (i1 > n) i1 = n;
        if (i1 - i0 > a->span) i1 = i0 + a->span;
        a->first[o] = i0, a->len[o] = (int)(i1 - i0);
        for (int64_t i = i0; i < i1; i++) {
            double ov = fmin(hi, (double)(i + 1)) - fmax(lo, (double)i);
            a->wt[o * a->span + (i - i0)] = (ov > 0 ? ov : 0) / step;
        }
    }
    return 1;
}

static void axis_free(axis *a) { free(a->first), free(a->len), free(a->wt); }

am_status am_resample_area(const float *src, int64_t c, int64_t h, int64_t w, float *dst, int64_t oh, int64_t ow)
{
    if (c < 1 || h < 1 || w < 1 || oh < 1 || ow < 1)
        return am_error(AM_ERR_SHAPE, "resample: %lldx%lldx%lld to %lldx%lld", (long long)c, (long long)h, (long long)w,
                        (long long)oh, (long long)ow);
    axis ax = {0}, ay = {0};
    float *tmp = malloc((size_t)(c * h * ow) * sizeof *tmp);
    int ok = tmp && axis_make(&ax, w, ow) && axis_make(&ay, h, oh);
    if (ok) {
        for (int64_t r = 0; r < c * h; r++) /* rows: w → ow */
            for (int64_t o = 0; o < ow; o++) {
                double acc = 0;
                const float *in = src + r * w + ax.first[o];
                for (int t = 0; t < ax.len[o]; t++) acc += ax.wt[o * ax.span + t] * in[t];
                tmp[r * ow + o] = (float)acc;
            }
        for (int64_t k = 0; k < c; k++) /* columns: h → oh */
            for (int64_t o = 0; o < oh; o++) {
                float *out = dst + (k * oh + o) * ow;
                for (int64_t x = 0; x < ow; x++) out[x] = 0;
                for (int t = 0; t < ay.len[o]; t++) {
                    float wt = (float)ay.wt[o * ay.span + t];
                    const float *in = tmp + (k * h + ay.first[o] + t) * ow;
                    for (int64_t x = 0; x < ow; x++) out[x] += wt * in[x];
                }
            }
    }
    free(tmp);
    axis_free(&ax), axis_free(&ay);
    return ok ? AM_OK : am_error(AM_ERR_NOMEM, "resample: out of memory");
}

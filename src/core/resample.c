/* Plane helpers shared by the data, io and analysis modules: resampling C×H×W planes to another
 * size (box average of the covered area when shrinking, so nothing aliases; bilinear when
 * growing), a bilinear sample with zeros outside, selection of the k-th smallest value, and the sum of planes. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "astromorph/tensor.h"

typedef struct {
    int64_t *first, *count;
    float *w; /* count[o] weights of output o start at w[o * stride] */
    int64_t stride;
} axis_weights;

static void axis_free(axis_weights *a)
{
    free(a->first);
    free(a->count);
    free(a->w);
}

static int axis_build(axis_weights *a, int64_t in, int64_t out)
{
    double scale = (double)in / (double)out;
    a->stride = scale > 1 ? (int64_t)ceil(scale) + 2 : 2;
    a->first = malloc((size_t)out * sizeof *a->first);
    a->count = malloc((size_t)out * sizeof *a->count);
    a->w = calloc((size_t)out * (size_t)a->stride, sizeof *a->w);
    if (!a->first || !a->count || !a->w) return 0;
    for (int64_t o = 0; o < out; o++) {
        float *w = a->w + o * a->stride;
        if (scale > 1) {
            /* Output o covers input [o·scale, (o+1)·scale): weight each pixel by its overlap. */
            double x0 = (double)o * scale, x1 = (double)(o + 1) * scale;
            int64_t i0 = (int64_t)floor(x0), i1 = (int64_t)ceil(x1);
            if (i1 > in) i1 = in;
            a->first[o] = i0;
            a->count[o] = i1 - i0;
            for (int64_t i = i0; i < i1; i++) {
                double ov = fmin(x1, (double)i + 1.0) - fmax(x0, (double)i);
                w[i - i0] = (float)(ov > 0 ? ov / scale : 0);
            }
        } else {
            double x = ((double)o + 0.5) * scale - 0.5;
            if (x < 0) x = 0;
            if (x > (double)(in - 1)) x = (double)(in - 1);
            int64_t i0 = (int64_t)floor(x);
            if (i0 > in - 2) i0 = in > 1 ? in - 2 : 0;
            double f = x - (double)i0;
            a->first[o] = i0;
            a->count[o] = in > 1 ? 2 : 1;
            w[0] = (float)(in > 1 ? 1 - f : 1);
            if (in > 1) w[1] = (float)f;
        }
    }
    return 1;
}

am_status am_resample(const float *src, int64_t c, int64_t h, int64_t w, float *dst, int64_t oh, int64_t ow)
{
    if (c < 1 || h < 1 || w < 1 || oh < 1 || ow < 1)
        return am_error(AM_ERR_SHAPE, "resample: %lldx%lldx%lld to %lldx%lld", (long long)c, (long long)h, (long long)w,
                        (long long)oh, (long long)ow);
    axis_weights ax = {0}, ay = {0};
    float *tmp = malloc((size_t)(h * ow) * sizeof *tmp);
    am_status s = AM_OK;
    if (!tmp || !axis_build(&ax, w, ow) || !axis_build(&ay, h, oh)) {
        s = am_error(AM_ERR_NOMEM, "resample: out of memory for %lldx%lld", (long long)w, (long long)h);
        goto done;
    }
    for (int64_t k = 0; k < c; k++) {
        const float *plane = src + k * h * w;
        for (int64_t y = 0; y < h; y++) /* rows: w → ow */
            for (int64_t o = 0; o < ow; o++) {
                const float *wt = ax.w + o * ax.stride, *row = plane + y * w + ax.first[o];
                double acc = 0;
                for (int64_t t = 0; t < ax.count[o]; t++) acc += wt[t] * row[t];
                tmp[y * ow + o] = (float)acc;
            }
        for (int64_t o = 0; o < oh; o++) { /* columns: h → oh */
            const float *wt = ay.w + o * ay.stride;
            float *out = dst + (k * oh + o) * ow;
            for (int64_t x = 0; x < ow; x++) {
                double acc = 0;
                for (int64_t t = 0; t < ay.count[o]; t++) acc += wt[t] * tmp[(ay.first[o] + t) * ow + x];
                out[x] = (float)acc;
            }
        }
    }
done:
    axis_free(&ax);
    axis_free(&ay);
    free(tmp);
    return s;
}

float am_bilinear_at(const float *p, int64_t h, int64_t w, double x, double y)
{
    if (!(x > -1.0 && y > -1.0 && x < (double)w && y < (double)h)) return 0.0f;
    int64_t x0 = (int64_t)floor(x), y0 = (int64_t)floor(y);
    double ax = x - (double)x0, ay = y - (double)y0, v = 0;
    for (int dy = 0; dy < 2; dy++)
        for (int dx = 0; dx < 2; dx++) {
            int64_t yy = y0 + dy, xx = x0 + dx;
            if (yy < 0 || yy >= h || xx < 0 || xx >= w) continue;
            v += (dx ? ax : 1 - ax) * (dy ? ay : 1 - ay) * p[yy * w + xx];
        }
    return (float)v;
}

float am_select_kth(float *v, int64_t n, int64_t k)
{
    int64_t lo = 0, hi = n - 1;
    while (lo < hi) {
        /* the median of three as pivot keeps sorted input fast */
        float a = v[lo], b = v[lo + (hi - lo) / 2], c = v[hi];
        float pivot = a < b ? (b < c ? b : (a < c ? c : a)) : (a < c ? a : (b < c ? c : b));
        int64_t i = lo, j = hi;
        while (i <= j) {
            while (v[i] < pivot) i++;
            while (v[j] > pivot) j--;
            if (i <= j) {
                float t = v[i];
                v[i] = v[j], v[j] = t;
                i++, j--;
            }
        }
        if (k <= j) hi = j;
        else if (k >= i) lo = i;
        else break;
    }
    return v[k];
}

void am_sum_planes(const float *src, int64_t c, int64_t hw, float *dst)
{
    if (dst != src) memcpy(dst, src, (size_t)hw * sizeof *dst);
    for (int64_t k = 1; k < c; k++)
        for (int64_t j = 0; j < hw; j++) dst[j] += src[k * hw + j];
}

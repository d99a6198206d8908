/* Helpers for the models tests: the hash values of tools/am_networks.py (ResNet fixture weights
 * and gradient projections), and D2 batches. */
#ifndef AM_TEST_MODEL_FIXTURE_H
#define AM_TEST_MODEL_FIXTURE_H

#include <math.h>
#include <string.h>

#include "astromorph/nn.h"
#include "astromorph/tensor.h"

#define AM_FIX_PROJECTIONS 8

static inline uint32_t fix_lowbias32(uint32_t x)
{
    x ^= x >> 16;
    x *= 0x7feb352dU;
    x ^= x >> 15;
    x *= 0x846ca68bU;
    x ^= x >> 16;
    return x;
}

static inline uint32_t fix_fnv1a32(const char *a, const char *b)
{
    uint32_t h = 2166136261U;
    for (const char *s = a; *s; s++) h = (h ^ (uint8_t)*s) * 16777619U;
    for (const char *s = b; *s; s++) h = (h ^ (uint8_t)*s) * 16777619U;
    return h;
}

/* Element i of the hash sequence `key`, uniform in [-1, 1). */
static inline double fix_uniform(uint32_t key, uint32_t i)
{
    uint32_t h = fix_lowbias32(i ^ fix_lowbias32(key));
    return (double)(h >> 8) * (1.0 / 8388608.0) - 1.0;
}

/* am_networks.hash_value: the value of a ResNet parameter or buffer, hash key salt + name. */
static inline void fix_hash_param(am_param *p, const char *salt)
{
    const char *dot = strrchr(p->name, '.');
    const char *leaf = dot ? dot + 1 : p->name;
    const am_tensor *t = &p->value;
    int64_t n = am_tensor_numel(t);
    uint32_t key = fix_fnv1a32(salt, p->name);
    double scale = 1.0, offset = 0.0;
    if (strcmp(leaf, "num_batches_tracked") == 0) {
        scale = 0.0;
    } else if (strncmp(p->name, "fc.", 3) == 0) {
        scale = 1.0 / sqrt(strcmp(leaf, "bias") == 0 ? 512.0 : (double)t->shape[1]);
    } else if (t->ndim == 4) {
        scale = sqrt(6.0 / (double)(t->shape[1] * t->shape[2] * t->shape[3]));
    } else if (strcmp(leaf, "weight") == 0) {
        offset = 1.0, scale = 0.25;
    } else if (strcmp(leaf, "running_var") == 0) {
        offset = 1.0, scale = 0.5;
    } else {
        scale = 0.1; /* bias, running_mean */
    }
    for (int64_t i = 0; i < n; i++) {
        /* float32(offset + scale*u), as numpy computes it in float64 then casts */
        double u = fix_uniform(key, (uint32_t)i);
        t->data[i] = (float)(offset != 0.0 ? offset + scale * u : u * scale);
    }
}

/* am_networks.projections: dot products with hash vectors fnv1a32("proj") + j. */
static inline void fix_projections(const float *x, int64_t n, float out[AM_FIX_PROJECTIONS])
{
    uint32_t base = fix_fnv1a32("proj", "");
    for (int j = 0; j < AM_FIX_PROJECTIONS; j++) {
        double s = 0;
        for (int64_t i = 0; i < n; i++) s += (double)x[i] * fix_uniform(base + (uint32_t)j, (uint32_t)i);
        out[j] = (float)s;
    }
}

/* The four D2 copies of one CxHxW image (identity, rot180, flip left-right, flip up-down) as a
 * 4xCxHxW batch, the same as am_networks.d2_batch. */
static inline am_status fix_d2_batch(const am_tensor *img, am_tensor *batch)
{
    int64_t c = img->shape[0], h = img->shape[1], w = img->shape[2];
    AM_TRY(am_tensor_alloc4(batch, 4, c, h, w));
    for (int64_t k = 0; k < c; k++)
        for (int64_t y = 0; y < h; y++)
            for (int64_t x = 0; x < w; x++) {
                float v = img->data[(k * h + y) * w + x];
                int64_t ys[4] = {y, h - 1 - y, y, h - 1 - y}, xs[4] = {x, w - 1 - x, w - 1 - x, x};
                for (int n = 0; n < 4; n++) batch->data[((n * c + k) * h + ys[n]) * w + xs[n]] = v;
            }
    return AM_OK;
}

#endif

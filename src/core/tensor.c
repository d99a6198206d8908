/* Tensor storage. */
#include "astromorph/tensor.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void *am_malloc(size_t bytes)
{
    void *p = NULL;
    size_t rounded = (bytes + 63) & ~(size_t)63;
    if (rounded == 0) rounded = 64;
    if (posix_memalign(&p, 64, rounded) != 0) return NULL;
    return p;
}

void *am_calloc(size_t count, size_t size)
{
    if (size && count > SIZE_MAX / size) return NULL;
    void *p = am_malloc(count * size);
    if (p) memset(p, 0, count * size);
    return p;
}

void am_free(void *p) { free(p); }

am_status am_tensor_alloc(am_tensor *t, int ndim, const int64_t *shape)
{
    memset(t, 0, sizeof *t);
    if (ndim < 0 || ndim > AM_MAX_DIMS) return am_error(AM_ERR_SHAPE, "tensor rank %d out of range", ndim);
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) return am_error(AM_ERR_SHAPE, "negative tensor dimension %lld", (long long)shape[i]);
        if (shape[i] && n > INT64_MAX / 4 / shape[i]) return am_error(AM_ERR_SHAPE, "tensor too large");
        n *= shape[i];
        t->shape[i] = shape[i];
    }
    t->ndim = ndim;
    t->data = am_calloc((size_t)n, sizeof(float));
    if (!t->data) return am_error(AM_ERR_NOMEM, "cannot allocate tensor of %lld floats", (long long)n);
    t->owns = 1;
    return AM_OK;
}

am_status am_tensor_alloc4(am_tensor *t, int64_t n, int64_t c, int64_t h, int64_t w)
{
    int64_t s[4] = {n, c, h, w};
    return am_tensor_alloc(t, 4, s);
}

am_status am_tensor_alloc2(am_tensor *t, int64_t rows, int64_t cols)
{
    int64_t s[2] = {rows, cols};
    return am_tensor_alloc(t, 2, s);
}

am_tensor am_tensor_view(float *data, int ndim, const int64_t *shape)
{
    am_tensor t;
    memset(&t, 0, sizeof t);
    t.ndim = ndim;
    for (int i = 0; i < ndim && i < AM_MAX_DIMS; i++) t.shape[i] = shape[i];
    t.data = data;
    return t;
}

am_status am_tensor_clone(am_tensor *dst, const am_tensor *src)
{
    AM_TRY(am_tensor_alloc(dst, src->ndim, src->shape));
    memcpy(dst->data, src->data, (size_t)am_tensor_numel(src) * sizeof(float));
    return AM_OK;
}

void am_tensor_free(am_tensor *t)
{
    if (!t) return;
    if (t->owns) am_free(t->data);
    memset(t, 0, sizeof *t);
}

int64_t am_tensor_numel(const am_tensor *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
    return n;
}

int am_tensor_same_shape(const am_tensor *a, const am_tensor *b)
{
    if (a->ndim != b->ndim) return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return 0;
    return 1;
}

const char *am_tensor_shape_str(const am_tensor *t, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < t->ndim && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, i ? "x%lld" : "%lld", (long long)t->shape[i]);
    return buf;
}

int am_tensor_all_finite(const am_tensor *t)
{
    int64_t n = am_tensor_numel(t);
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(t->data[i])) return 0;
    return 1;
}

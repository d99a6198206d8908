/* A parameter <-> one safetensors tensor, with PyTorch's state-dict conventions. */
#include <stdio.h>
#include <stdlib.h>

#include "astromorph/nn.h"

am_status am_param_write(am_st_writer *w, const char *name, const am_param *p)
{
    /* the values as they are, not copied: every writer writes before its network changes */
    if (!p->is_integer) return am_st_writer_add_ref(w, name, AM_DT_F32, p->value.ndim, p->value.shape, p->value.data);
    /* num_batches_tracked: an int64 0-d tensor in PyTorch, a float in the engine. */
    int64_t count = am_tensor_numel(&p->value);
    int64_t *v = malloc((size_t)(count ? count : 1) * sizeof *v);
    if (!v) return am_error(AM_ERR_NOMEM, "tensor '%s': out of memory", name);
    for (int64_t k = 0; k < count; k++) v[k] = (int64_t)p->value.data[k];
    int ndim = count == 1 && p->value.ndim <= 1 ? 0 : p->value.ndim;
    am_status s = am_st_writer_add(w, name, AM_DT_I64, ndim, p->value.shape, v);
    free(v);
    return s;
}

static int entry_fits(const am_st_entry *e, const am_param *p)
{
    int64_t n = 1;
    for (int i = 0; i < e->ndim; i++) n *= e->shape[i];
    if (n == 1 && am_tensor_numel(&p->value) == 1 && e->ndim <= 1 && p->value.ndim <= 1) return 1;
    if (e->ndim != p->value.ndim) return 0;
    for (int i = 0; i < e->ndim; i++)
        if (e->shape[i] != p->value.shape[i]) return 0;
    return 1;
}

static const char *shape_str(int ndim, const int64_t *shape, char *buf, size_t len)
{
    if (ndim == 0) {
        snprintf(buf, len, "scalar");
        return buf;
    }
    am_tensor t = am_tensor_view(NULL, ndim, shape);
    return am_tensor_shape_str(&t, buf, len);
}

am_status am_param_check(const am_param *p, const am_safetensors *st, const char *name)
{
    char a[128], b[128];
    const am_st_entry *e = am_st_find(st, name);
    if (!e)
        return am_error(AM_ERR_NOTFOUND, "tensor '%s' missing (network expects shape %s)", name,
                        shape_str(p->value.ndim, p->value.shape, a, sizeof a));
    if (!entry_fits(e, p))
        return am_error(AM_ERR_SHAPE, "tensor '%s': file has shape %s, network expects %s", name,
                        shape_str(e->ndim, e->shape, a, sizeof a),
                        shape_str(p->value.ndim, p->value.shape, b, sizeof b));
    return AM_OK;
}

am_status am_param_read(am_param *p, const am_safetensors *st, const char *name)
{
    AM_TRY(am_param_check(p, st, name));
    return am_st_copy_f32(st, name, p->value.data, am_tensor_numel(&p->value));
}

/* A network's state dict <-> safetensors tensors named prefix + PyTorch state-dict key. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "astromorph/models.h"
#include "models/internal.h"

#define NAME_MAX_LEN 512

const char *am__shape_str(int ndim, const int64_t *shape, char *buf, size_t len)
{
    if (ndim == 0) {
        snprintf(buf, len, "scalar");
        return buf;
    }
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < ndim && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, i ? "x%lld" : "%lld", (long long)shape[i]);
    return buf;
}

int am__entry_fits(const am_st_entry *e, const am_param *p)
{
    int64_t n = 1;
    for (int i = 0; i < e->ndim; i++) n *= e->shape[i];
    if (n == 1 && am_tensor_numel(&p->value) == 1 && e->ndim <= 1 && p->value.ndim <= 1) return 1;
    if (e->ndim != p->value.ndim) return 0;
    for (int i = 0; i < e->ndim; i++)
        if (e->shape[i] != p->value.shape[i]) return 0;
    return 1;
}

am_status am__load_entry(am_param *p, const am_safetensors *st, const char *full_name)
{
    return am_st_copy_f32(st, full_name, p->value.data, am_tensor_numel(&p->value));
}

static am_status full_name(char *buf, const char *prefix, const char *name)
{
    if (snprintf(buf, NAME_MAX_LEN, "%s%s", prefix ? prefix : "", name) >= NAME_MAX_LEN)
        return am_error(AM_ERR_VALUE, "tensor name '%s%s' too long", prefix ? prefix : "", name);
    return AM_OK;
}

am_status am_net_save_state(am_net *net, am_st_writer *w, const char *prefix)
{
    char name[NAME_MAX_LEN];
    size_t n = am_net_param_count(net);
    for (size_t i = 0; i < n; i++) {
        am_param *p = am_net_param(net, i);
        AM_TRY(full_name(name, prefix, p->name));
        if (!p->is_integer) {
            AM_TRY(am_st_writer_add_f32(w, name, &p->value));
            continue;
        }
        /* num_batches_tracked: an int64 0-d tensor in PyTorch, a float in the engine. */
        int64_t count = am_tensor_numel(&p->value);
        int64_t *v = malloc((size_t)(count ? count : 1) * sizeof *v);
        if (!v) return am_error(AM_ERR_NOMEM, "tensor '%s': out of memory", name);
        for (int64_t k = 0; k < count; k++) v[k] = (int64_t)p->value.data[k];
        int ndim = count == 1 && p->value.ndim <= 1 ? 0 : p->value.ndim;
        am_status s = am_st_writer_add(w, name, AM_DT_I64, ndim, p->value.shape, v);
        free(v);
        AM_TRY(s);
    }
    return AM_OK;
}

static am_status check_all(am_net *net, const am_safetensors *st, const char *prefix, int flags)
{
    char name[NAME_MAX_LEN], a[128], b[128];
    size_t n = am_net_param_count(net);
    for (size_t i = 0; i < n; i++) {
        am_param *p = am_net_param(net, i);
        AM_TRY(full_name(name, prefix, p->name));
        const am_st_entry *e = am_st_find(st, name);
        if (!e) {
            if (flags & AM_STATE_ALLOW_MISSING) continue;
            return am_error(AM_ERR_NOTFOUND, "tensor '%s' missing (network expects shape %s)", name,
                            am__shape_str(p->value.ndim, p->value.shape, a, sizeof a));
        }
        if (!am__entry_fits(e, p))
            return am_error(AM_ERR_SHAPE, "tensor '%s': file has shape %s, network expects %s", name,
                            am__shape_str(e->ndim, e->shape, a, sizeof a),
                            am__shape_str(p->value.ndim, p->value.shape, b, sizeof b));
    }
    if (flags & AM_STATE_ALLOW_UNEXPECTED) return AM_OK;
    size_t plen = prefix ? strlen(prefix) : 0;
    for (size_t i = 0; i < st->count; i++) {
        const char *fname = st->entries[i].name;
        if (plen && strncmp(fname, prefix, plen) != 0) continue;
        if (!am_net_find_param(net, fname + plen))
            return am_error(AM_ERR_FORMAT, "unexpected tensor '%s': the network has no parameter '%s'", fname,
                            fname + plen);
    }
    return AM_OK;
}

am_status am_net_load_state(am_net *net, const am_safetensors *st, const char *prefix, int flags)
{
    /* Check everything first, so a file that does not fit leaves the network untouched. */
    AM_TRY(check_all(net, st, prefix, flags));
    char name[NAME_MAX_LEN];
    size_t n = am_net_param_count(net);
    for (size_t i = 0; i < n; i++) {
        am_param *p = am_net_param(net, i);
        AM_TRY(full_name(name, prefix, p->name));
        if (!am_st_find(st, name)) continue;
        AM_TRY(am__load_entry(p, st, name));
    }
    am_net_params_changed(net);
    return AM_OK;
}

am_status am_net_load_state_file(am_net *net, const char *path, const char *prefix, int flags)
{
    am_safetensors st;
    AM_TRY(am_st_read(&st, path));
    am_status s = am_net_load_state(net, &st, prefix, flags);
    am_st_free(&st);
    if (s != AM_OK) return am_error_prefix(s, "%s", path);
    return AM_OK;
}

am_status am_net_save_state_file(am_net *net, const char *path, const char *const *keys,
                                 const char *const *values, int n)
{
    am_st_writer *w = am_st_writer_new();
    if (!w) return am_error(AM_ERR_NOMEM, "%s: out of memory", path);
    am_status s = am_net_save_state(net, w, "");
    for (int i = 0; i < n && s == AM_OK; i++) s = am_st_writer_meta(w, keys[i], values[i]);
    if (s != AM_OK) {
        am_st_writer_free(w);
        return am_error_prefix(s, "%s", path);
    }
    s = am_st_writer_write(w, path); /* its errors name the path already */
    am_st_writer_free(w);
    return s;
}

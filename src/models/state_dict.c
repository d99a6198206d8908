/* A network's state dict <-> safetensors tensors named prefix + PyTorch state-dict key. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "astromorph/models.h"
#include "models/internal.h"

#define NAME_MAX_LEN 512

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
        AM_TRY(am_param_write(w, name, p));
    }
    return AM_OK;
}

static am_status check_all(am_net *net, const am_safetensors *st, const char *prefix, int flags)
{
    char name[NAME_MAX_LEN];
    size_t n = am_net_param_count(net);
    for (size_t i = 0; i < n; i++) {
        am_param *p = am_net_param(net, i);
        AM_TRY(full_name(name, prefix, p->name));
        if (!am_st_find(st, name) && (flags & AM_STATE_ALLOW_MISSING)) continue;
        AM_TRY(am_param_check(p, st, name));
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
        AM_TRY(am_param_read(p, st, name));
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

am_status am_net_save_state_file(am_net *net, const char *path, const char *const *keys, const char *const *values,
                                 int n)
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

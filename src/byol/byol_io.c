/* BYOL model files: every state tensor under the original's names, options in __metadata__. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "byol/byol_internal.h"

am_status am_byol_write_state(am_byol *b, am_st_writer *w)
{
    for (size_t i = 0; i < b->nstate; i++) AM_TRY(am_param_write(w, b->state_name[i], b->state[i]));
    char buf[64];
    AM_TRY(am_st_writer_meta(w, "format", AM_BYOL_FORMAT));
    AM_TRY(am_st_writer_meta(w, "format_version", AM_BYOL_FORMAT_VERSION));
    AM_TRY(am_st_writer_meta(w, "hidden_layer", b->hidden_layer));
    snprintf(buf, sizeof buf, "%d", b->o.representation_size);
    AM_TRY(am_st_writer_meta(w, "representation_size", buf));
    snprintf(buf, sizeof buf, "%d", b->o.projection_size);
    AM_TRY(am_st_writer_meta(w, "projection_size", buf));
    snprintf(buf, sizeof buf, "%d", b->o.projection_hidden_size);
    AM_TRY(am_st_writer_meta(w, "projection_hidden_size", buf));
    AM_TRY(am_st_writer_meta(w, "use_momentum", b->o.use_momentum ? "true" : "false"));
    snprintf(buf, sizeof buf, "%.17g", b->o.moving_average_decay);
    AM_TRY(am_st_writer_meta(w, "moving_average_decay", buf));
    AM_TRY(am_st_writer_meta(w, "loss", b->o.loss == AM_BYOL_LOSS_SYMMETRIC ? "symmetric" : "one_way"));
    return AM_OK;
}

am_status am_byol_save(am_byol *b, const char *path, const char *const *keys, const char *const *values,
                       size_t extra_count)
{
    am_st_writer *w = am_st_writer_new();
    if (!w) return am_error(AM_ERR_NOMEM, "%s: out of memory", path);
    am_status s = am_byol_write_state(b, w);
    for (size_t i = 0; s == AM_OK && i < extra_count; i++) s = am_st_writer_meta(w, keys[i], values[i]);
    if (s == AM_OK) s = am_st_writer_write(w, path);
    am_st_writer_free(w);
    return s == AM_OK ? s : am_error_prefix(s, "%s", path);
}

static am_status meta_int(const am_safetensors *st, const char *key, int *out)
{
    const char *v = am_st_meta(st, key);
    if (!v) return AM_OK;
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || *end || end == v || x < 0 || x > 1 << 30)
        return am_error(AM_ERR_FORMAT, "model metadata %s = '%s' is not a size", key, v);
    *out = (int)x;
    return AM_OK;
}

am_status am_byol_options_from_file(am_byol_options *o, const am_safetensors *st)
{
    const char *fmt = am_st_meta(st, "format");
    if (!fmt || strcmp(fmt, AM_BYOL_FORMAT) != 0)
        return am_error(AM_ERR_FORMAT, "not an astromorph BYOL model (metadata format = '%s')", fmt ? fmt : "");
    const char *ver = am_st_meta(st, "format_version");
    if (!ver || strcmp(ver, AM_BYOL_FORMAT_VERSION) != 0)
        return am_error(AM_ERR_FORMAT, "BYOL model format version '%s' is not supported (this build reads %s)",
                        ver ? ver : "", AM_BYOL_FORMAT_VERSION);
    const char *v = am_st_meta(st, "hidden_layer");
    if (v) o->hidden_layer = v; /* points into st: keep st alive until am_byol_create */
    AM_TRY(meta_int(st, "representation_size", &o->representation_size));
    AM_TRY(meta_int(st, "projection_size", &o->projection_size));
    AM_TRY(meta_int(st, "projection_hidden_size", &o->projection_hidden_size));
    if ((v = am_st_meta(st, "use_momentum"))) o->use_momentum = strcmp(v, "true") == 0;
    if ((v = am_st_meta(st, "moving_average_decay"))) {
        char *end;
        double d = strtod(v, &end);
        if (*end || end == v || !(d >= 0 && d <= 1))
            return am_error(AM_ERR_FORMAT, "model metadata moving_average_decay = '%s' is not in [0, 1]", v);
        o->moving_average_decay = d;
    }
    if ((v = am_st_meta(st, "loss")))
        o->loss = strcmp(v, "symmetric") == 0 ? AM_BYOL_LOSS_SYMMETRIC : AM_BYOL_LOSS_ONE_WAY;
    return AM_OK;
}

am_status am_byol_load_state(am_byol *b, const am_safetensors *st)
{
    /* Check every tensor first, so a file that does not fit leaves the model untouched. */
    for (size_t i = 0; i < b->nstate; i++) AM_TRY(am_param_check(b->state[i], st, b->state_name[i]));
    for (size_t i = 0; i < b->nstate; i++) AM_TRY(am_param_read(b->state[i], st, b->state_name[i]));
    am_byol_params_changed(b);
    return AM_OK;
}

am_status am_byol_load(am_byol *b, const char *path)
{
    am_safetensors st;
    AM_TRY(am_st_read(&st, path));
    am_status s = am_byol_load_state(b, &st);
    am_st_free(&st);
    return s == AM_OK ? s : am_error_prefix(s, "%s", path);
}

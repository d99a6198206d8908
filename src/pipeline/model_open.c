/* A model file of astromorph training rebuilt for inference: the network its metadata names,
 * the whole BYOL state, how training fed it images, and the hybrid fit. */
#include <stdlib.h>
#include <string.h>

#include "astromorph/models.h"
#include "astromorph/pipeline.h"
#include "astromorph/safetensors.h"

static am_status meta_int(const am_safetensors *st, const char *path, const char *key, int *out)
{
    const char *v = am_st_meta(st, key);
    char *end;
    long x = v ? strtol(v, &end, 10) : 0;
    if (!v || *end || x < 1 || x > 1 << 20)
        return am_error(AM_ERR_FORMAT, "%s: metadata '%s' missing or invalid (not a model from astromorph training?)",
                        path, key);
    *out = (int)x;
    return AM_OK;
}

/* How the model was fed: channels, stacking, view size, normalisation, pooling, width, hybrid fit. */
static am_status read_meta(am_model *m, const am_safetensors *st, const char *path)
{
    const char *net = am_st_meta(st, AM_META_NETWORK), *layer = am_st_meta(st, AM_META_LAST_LAYER);
    if (!net)
        return am_error(AM_ERR_FORMAT, "%s: metadata '%s' missing (not a model from astromorph training?)", path,
                        AM_META_NETWORK);
    snprintf(m->network, sizeof m->network, "%s", net);
    snprintf(m->last_layer, sizeof m->last_layer, "%s", layer ? layer : "layer4");
    AM_TRY(meta_int(st, path, AM_META_CHANNELS, &m->in_channels));
    AM_TRY(meta_int(st, path, AM_META_STACKSIZE, &m->stacksize));
    const char *view = am_st_meta(st, AM_META_VIEW_SIZE), *norm = am_st_meta(st, AM_META_NORMALIZATION);
    m->view_size = 0, m->normalization = AM_NORMALIZE_MINMAX;
    if (view && strcmp(view, "0") != 0) AM_TRY(meta_int(st, path, AM_META_VIEW_SIZE, &m->view_size));
    if (norm && am_normalization_parse(norm, &m->normalization) != AM_OK)
        return am_error(AM_ERR_FORMAT, "%s: metadata '%s' = \"%s\" is not minmax or asinh", path, AM_META_NORMALIZATION,
                        norm);
    const char *pool = am_st_meta(st, AM_META_POOLING);
    m->pooling = AM_POOLING_AVERAGE;
    if (pool && am_pooling_parse(pool, &m->pooling) != AM_OK)
        return am_error(AM_ERR_FORMAT, "%s: metadata '%s' = \"%s\" is not average, intensity or gem", path,
                        AM_META_POOLING, pool);
    /* older files, and every ResNet, have the original's width */
    m->amm_width = 1;
    if (am_st_meta(st, AM_META_AMM_WIDTH)) AM_TRY(meta_int(st, path, AM_META_AMM_WIDTH, &m->amm_width));
    if (m->amm_width > AM_AMM_WIDTH_MAX)
        return am_error(AM_ERR_FORMAT, "%s: metadata '%s' = %d is beyond the widest amm (%d)", path, AM_META_AMM_WIDTH,
                        m->amm_width, AM_AMM_WIDTH_MAX);
    if (m->amm_width != 1 && strcmp(m->network, "amm") != 0)
        return am_error(AM_ERR_FORMAT, "%s: metadata '%s' = %d, but only amm has a width (the network is %s)", path,
                        AM_META_AMM_WIDTH, m->amm_width, m->network);
    const char *sum = am_st_meta(st, AM_META_CHANNEL_SUM);
    m->channel_sum = sum && strcmp(sum, "1") == 0;
    if (sum && !m->channel_sum && strcmp(sum, "0") != 0)
        return am_error(AM_ERR_FORMAT, "%s: metadata '%s' = \"%s\" is not 0 or 1", path, AM_META_CHANNEL_SUM, sum);
    const char *hy = am_st_meta(st, AM_META_HYBRID);
    return hy ? am_hybrid_from_json(&m->hybrid, hy, path) : AM_OK;
}

am_status am_model_open(am_model *m, const char *path)
{
    memset(m, 0, sizeof *m);
    am_safetensors st;
    AM_TRY(am_st_read(&st, path));
    am_status s = read_meta(m, &st, path);
    am_byol_options bo;
    am_byol_options_default(&bo);
    if (s == AM_OK) s = am_byol_options_from_file(&bo, &st);
    am_model_spec spec = {.network_name = m->network,
                          .last_layer = m->last_layer,
                          .in_channels = m->in_channels,
                          .pooling = m->pooling,
                          .amm_width = m->amm_width};
    am_net *n = NULL;
    if (s == AM_OK) s = am_model_create(&n, &spec, 0);
    bo.probe_channels = m->in_channels;
    if (s == AM_OK) s = am_byol_create(&m->byol, n, &bo);
    if (s == AM_OK) s = am_byol_load_state(m->byol, &st);
    /* a model whose training diverged would fail much later, in k-means: name it here */
    for (size_t i = 0; s == AM_OK && i < am_byol_state_count(m->byol); i++) {
        const char *pname = NULL;
        am_param *prm = am_byol_state(m->byol, i, &pname);
        if (!am_tensor_all_finite(&prm->value))
            s = am_error(AM_ERR_NUMERIC, "%s: weight %s holds NaN or Inf (did its training diverge?)", path, pname);
    }
    am_st_free(&st);
    m->owns = 1;
    if (s != AM_OK) {
        am_model_close(m);
        return am_error_prefix(s, "%s", path);
    }
    am_byol_set_mode(m->byol, AM_MODE_EVAL);
    am_byol_freeze(m->byol); /* embedding only: no gradients */
    return AM_OK;
}

void am_model_wrap(am_model *m, am_byol *b, int in_channels, int stacksize, int view_size, am_normalization how)
{
    memset(m, 0, sizeof *m);
    m->byol = b;
    m->in_channels = in_channels, m->stacksize = stacksize, m->view_size = view_size, m->normalization = how;
}

void am_model_close(am_model *m)
{
    if (m->owns) am_byol_free(m->byol);
    am_hybrid_free(&m->hybrid);
    memset(m, 0, sizeof *m);
}

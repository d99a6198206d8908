/* Network choice by name: checks a spec, builds the tree, creates and initialises the net. */
#include <string.h>

#include "astromorph/models.h"
#include "models/internal.h"

static const char *const resnet_layers[] = {"layer1", "layer2", "layer3", "layer4"};
static const char *const pooling_names[] = {"average", "intensity", "gem"};

const char *am_pooling_name(am_pooling p)
{
    return (unsigned)p < sizeof pooling_names / sizeof *pooling_names ? pooling_names[p] : NULL;
}

am_status am_pooling_parse(const char *name, am_pooling *p)
{
    for (int i = 0; name && i < (int)(sizeof pooling_names / sizeof *pooling_names); i++)
        if (strcmp(name, pooling_names[i]) == 0) {
            *p = (am_pooling)i;
            return AM_OK;
        }
    return am_error(AM_ERR_VALUE, "pooling: '%s' (expected average, intensity or gem)", name ? name : "");
}

am_module *am__pooling_module(am_pooling pooling)
{
    switch (pooling) {
    case AM_POOLING_AVERAGE: return am_adaptive_avgpool2d(AM_MODEL_HIDDEN_LAYER);
    case AM_POOLING_INTENSITY: return am_intensity_pool2d(AM_MODEL_HIDDEN_LAYER);
    case AM_POOLING_GEM: return am_gem_pool2d(AM_MODEL_HIDDEN_LAYER);
    }
    return NULL;
}

/* 0, as a spec written before amm_width existed leaves it, is the original's width */
static int amm_width(const am_model_spec *spec) { return spec->amm_width ? spec->amm_width : 1; }

static int resnet_depth(const char *last_layer)
{
    if (!last_layer) return 4;
    for (int i = 0; i < 4; i++)
        if (strcmp(last_layer, resnet_layers[i]) == 0) return i + 1;
    return 0;
}

am_status am_model_check(const am_model_spec *spec)
{
    if (!spec || !spec->network_name) return am_error(AM_ERR_VALUE, "network_name: not set");
    if (!am_pooling_name(spec->pooling))
        return am_error(AM_ERR_VALUE, "network_settings.pooling: %d (expected average, intensity or gem)",
                        (int)spec->pooling);
    if (spec->in_channels < 1)
        return am_error(AM_ERR_VALUE, "network input channels: %d (need channels x stacksize >= 1)", spec->in_channels);
    if (amm_width(spec) < 1 || amm_width(spec) > AM_AMM_WIDTH_MAX)
        return am_error(AM_ERR_VALUE, "network_settings.amm_width: %d (expected 1 to %d)", spec->amm_width,
                        AM_AMM_WIDTH_MAX);
    if (strcmp(spec->network_name, "amm") == 0) return AM_OK;
    if (strcmp(spec->network_name, "n_layer_resnet") == 0) {
        if (amm_width(spec) != 1)
            return am_error(AM_ERR_VALUE, "network_settings.amm_width: %d widens amm only, not n_layer_resnet",
                            spec->amm_width);
        if (!resnet_depth(spec->last_layer))
            return am_error(AM_ERR_VALUE,
                            "network_settings.last_layer: '%s' (expected layer1, layer2, layer3 or layer4)",
                            spec->last_layer);
        return AM_OK;
    }
    return am_error(AM_ERR_VALUE, "network_name: '%s' (expected n_layer_resnet or amm)", spec->network_name);
}

am_status am_model_embedding_dim(const am_model_spec *spec, int *dim)
{
    AM_TRY(am_model_check(spec));
    if (strcmp(spec->network_name, "amm") == 0) *dim = 128 * amm_width(spec);
    else *dim = 64 << (resnet_depth(spec->last_layer) - 1);
    return AM_OK;
}

am_status am_model_build(am_module **root, const am_model_spec *spec)
{
    *root = NULL;
    AM_TRY(am_model_check(spec));
    am_module *r = am_sequential("");
    if (!r) return am_error(AM_ERR_NOMEM, "out of memory building %s", spec->network_name);
    am_status s = strcmp(spec->network_name, "amm") == 0
                      ? am__build_amm(r, spec->in_channels, amm_width(spec), spec->pooling)
                      : am__build_resnet(r, spec->in_channels, resnet_depth(spec->last_layer), spec->pooling);
    if (s != AM_OK) {
        am_module_free(r);
        return s;
    }
    *root = r;
    return AM_OK;
}

am_status am_model_create(am_net **net, const am_model_spec *spec, uint64_t seed)
{
    *net = NULL;
    am_module *root;
    AM_TRY(am_model_build(&root, spec));
    /* am_net_create owns root from here on, also when it fails. */
    AM_TRY(am_net_create(net, root, seed));
    if (strcmp(spec->network_name, "n_layer_resnet") == 0) am__init_resnet(*net, seed);
    return AM_OK;
}

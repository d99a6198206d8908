/* ImageNet-pretrained start for n_layer_resnet from a torchvision ResNet18 state dict. */
#include <string.h>

#include "astromorph/models.h"
#include "models/internal.h"

#define HINT "not a torchvision ResNet18 state dict (convert one with tools/convert_torchvision.py)"

/* RGB filters -> C input channels: W'[o][c] = (3/C) * mean_rgb W[o][rgb] for every c (timm's rule
 * for C = 1; for any C an image repeated on all channels meets the grey version's response). */
static void adapt_conv1(float *dst, const am_tensor *rgb, int channels)
{
    int64_t out = rgb->shape[0], k = rgb->shape[2] * rgb->shape[3];
    float scale = 3.0f / (float)channels;
    for (int64_t o = 0; o < out; o++)
        for (int64_t j = 0; j < k; j++) {
            const float *w = rgb->data + o * 3 * k + j;
            float v = (w[0] + w[k] + w[2 * k]) / 3.0f * scale;
            for (int c = 0; c < channels; c++) dst[(o * channels + c) * k + j] = v;
        }
}

static am_status check(am_net *net, const am_safetensors *st)
{
    char a[128];
    const am_st_entry *e = am_st_find(st, "conv1.weight");
    if (!e) return am_error(AM_ERR_NOTFOUND, "no tensor 'conv1.weight': " HINT);
    if (e->ndim != 4 || e->shape[0] != 64 || e->shape[1] != 3 || e->shape[2] != 7 || e->shape[3] != 7) {
        am_tensor file = am_tensor_view(NULL, e->ndim, e->shape);
        return am_error(AM_ERR_SHAPE, "tensor 'conv1.weight': file has shape %s, ResNet18 has 64x3x7x7: " HINT,
                        am_tensor_shape_str(&file, a, sizeof a));
    }
    size_t n = am_net_param_count(net);
    for (size_t i = 0; i < n; i++) {
        am_param *p = am_net_param(net, i);
        /* conv1 is adapted below; fc is ImageNet's 1000-class head, never ours. */
        if (strcmp(p->name, "conv1.weight") == 0 || strncmp(p->name, "fc.", 3) == 0) continue;
        if (!am_st_find(st, p->name)) return am_error(AM_ERR_NOTFOUND, "no tensor '%s': " HINT, p->name);
        AM_TRY(am_param_check(p, st, p->name));
    }
    return AM_OK;
}

static am_status load(am_net *net, const am_safetensors *st, int channels)
{
    AM_TRY(check(net, st));
    size_t n = am_net_param_count(net);
    for (size_t i = 0; i < n; i++) {
        am_param *p = am_net_param(net, i);
        if (strncmp(p->name, "fc.", 3) == 0) continue;
        if (strcmp(p->name, "conv1.weight") != 0) {
            AM_TRY(am_param_read(p, st, p->name));
            continue;
        }
        if (channels == 3) {
            AM_TRY(am_param_read(p, st, p->name));
            continue;
        }
        am_tensor rgb;
        AM_TRY(am_st_get_f32(st, "conv1.weight", &rgb));
        adapt_conv1(p->value.data, &rgb, channels);
        am_tensor_free(&rgb);
    }
    am_net_params_changed(net);
    return AM_OK;
}

am_status am_model_load_pretrained(am_net *net, const am_model_spec *spec, const char *path)
{
    AM_TRY(am_model_check(spec));
    if (strcmp(spec->network_name, "n_layer_resnet") != 0)
        return am_error(AM_ERR_VALUE, "%s: pretrained weights exist only for n_layer_resnet, not '%s'", path,
                        spec->network_name);
    am_param *c1 = am_net_find_param(net, "conv1.weight");
    if (!c1 || c1->value.ndim != 4 || c1->value.shape[1] != spec->in_channels)
        return am_error(AM_ERR_VALUE, "%s: the network was not built from this spec (%d input channels)", path,
                        spec->in_channels);
    am_safetensors st;
    AM_TRY(am_st_read(&st, path));
    am_status s = load(net, &st, spec->in_channels);
    am_st_free(&st);
    if (s != AM_OK) return am_error_prefix(s, "%s", path);
    return AM_OK;
}

/* n_layer_resnet: torchvision's ResNet18 (BasicBlock, [2, 2, 2, 2]) cut after layer1..layer4,
 * then avgpool and fc = Linear(embedding_dim, 64), as NLayerResnet builds it from resnet18(). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "astromorph/rng.h"
#include "models/internal.h"

/* torchvision BasicBlock: conv1 bn1 relu conv2 bn2 (+ downsample = 1x1 conv + bn when the
 * shape changes); the engine's residual module adds the shortcut and applies the final relu. */
static am_status basic_block(am_module *layer, int index, int in, int out, int stride)
{
    char name[16];
    snprintf(name, sizeof name, "%d", index);
    am_module *b = am_residual(name);
    AM_TRY(am_module_add(layer, b));
    AM_TRY(am_module_add(b, am_conv2d("conv1", in, out, 3, stride, 1, 0)));
    AM_TRY(am_module_add(b, am_batchnorm2d("bn1", out)));
    AM_TRY(am_module_add(b, am_relu("relu")));
    AM_TRY(am_module_add(b, am_conv2d("conv2", out, out, 3, 1, 1, 0)));
    AM_TRY(am_module_add(b, am_batchnorm2d("bn2", out)));
    if (stride != 1 || in != out) {
        am_module *ds = am_shortcut("downsample");
        AM_TRY(am_module_add(b, ds));
        AM_TRY(am_module_add(ds, am_conv2d("0", in, out, 1, stride, 0, 0)));
        AM_TRY(am_module_add(ds, am_batchnorm2d("1", out)));
    }
    return AM_OK;
}

am_status am__build_resnet(am_module *r, int in_channels, int depth, am_pooling pooling)
{
    AM_TRY(am_module_add(r, am_conv2d("conv1", in_channels, 64, 7, 2, 3, 0)));
    AM_TRY(am_module_add(r, am_batchnorm2d("bn1", 64)));
    AM_TRY(am_module_add(r, am_relu("relu")));
    AM_TRY(am_module_add(r, am_maxpool2d("maxpool", 3, 2, 1)));
    int in = 64;
    for (int l = 0; l < depth; l++) {
        char name[16];
        snprintf(name, sizeof name, "layer%d", l + 1);
        int out = 64 << l;
        am_module *layer = am_sequential(name);
        AM_TRY(am_module_add(r, layer));
        AM_TRY(basic_block(layer, 0, in, out, l == 0 ? 1 : 2));
        AM_TRY(basic_block(layer, 1, out, out, 1));
        in = out;
    }
    AM_TRY(am_module_add(r, am__pooling_module(pooling)));
    AM_TRY(am_module_add(r, am_flatten("flatten")));
    return am_module_add(r, am_linear("fc", in, 64, 1));
}

void am__init_resnet(am_net *net, uint64_t seed)
{
    /* A stream of its own, so these draws never overlap the engine's default init. */
    am_rng rng;
    am_rng_init(&rng, seed, am_rng_stream(0x7265736e6574ULL /* "resnet" */, 18, 0));
    size_t n = am_net_param_count(net);
    uint64_t drawn = 0; /* normal draws so far, one block of the stream each */
    for (size_t i = 0; i < n; i++) {
        am_param *p = am_net_param(net, i);
        if (p->is_buffer || p->value.ndim != 4) continue;
        /* std = gain / sqrt(fan_out), gain = sqrt(2) for relu; fan_out = out x kh x kw */
        double fan_out = (double)(p->value.shape[0] * p->value.shape[2] * p->value.shape[3]);
        double std = sqrt(2.0 / fan_out);
        int64_t count = am_tensor_numel(&p->value);
        /* 11 M draws for ResNet18 were half of a short run's set-up: on the threads */
        am_rng_fill_normal(&rng, drawn, p->value.data, count, std);
        drawn += (uint64_t)count;
    }
    am_net_params_changed(net);
}

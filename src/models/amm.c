/* amm: the original package's AstroMorphologyModel, a small plain CNN (no residuals). */
#include "models/internal.h"

/* Sequential(conv3x3(in->mid, stride), bn, relu, conv3x3(mid->out), bn), children named 0..4. */
static am_status conv_stack(am_module *r, const char *name, int in, int mid, int out, int stride)
{
    am_module *s = am_sequential(name);
    AM_TRY(am_module_add(r, s));
    AM_TRY(am_module_add(s, am_conv2d("0", in, mid, 3, stride, 1, 1)));
    AM_TRY(am_module_add(s, am_batchnorm2d("1", mid)));
    AM_TRY(am_module_add(s, am_relu("2")));
    AM_TRY(am_module_add(s, am_conv2d("3", mid, out, 3, 1, 1, 1)));
    return am_module_add(s, am_batchnorm2d("4", out));
}

am_status am__build_amm(am_module *r, int in_channels, int width, am_pooling pooling)
{
    const int c = 32 * width; /* the original's 32 / 64 / 128 channels, each times width */
    AM_TRY(am_module_add(r, am_conv2d("conv1", in_channels, c, 7, 2, 3, 1)));
    AM_TRY(am_module_add(r, am_batchnorm2d("bn1", c)));
    AM_TRY(am_module_add(r, am_relu("relu")));
    AM_TRY(am_module_add(r, am_maxpool2d("maxpool", 3, 2, 1)));
    AM_TRY(conv_stack(r, "layer1", c, c, c, 1));
    AM_TRY(conv_stack(r, "layer2", c, 2 * c, 4 * c, 2));
    AM_TRY(am_module_add(r, am__pooling_module(pooling)));
    AM_TRY(am_module_add(r, am_flatten("flatten")));
    return am_module_add(r, am_linear("fc", 4 * c, AM_MODEL_OUTPUT_DIM, 1));
}

/* The two networks of the original package, built from the engine (nn.h) with PyTorch's exact
 * module and parameter names, and their weights in safetensors files.
 *
 *   n_layer_resnet  torchvision ResNet18 cut after `last_layer` (layer1..layer4), then avgpool and
 *                   fc = Linear(embedding_dim, 64). Names: conv1, bn1, layer2.0.downsample.1.weight...
 *   amm             AstroMorphologyModel: conv1 7x7/2 (bias) bn1 relu maxpool, layer1 =
 *                   Sequential(conv,bn,relu,conv,bn) 32->32, layer2 = Sequential(conv/2,bn,relu,conv,bn)
 *                   32->64->128, avgpool, fc = Linear(128, 64). Names: layer2.3.weight, layer2.4.running_var...
 *                   With amm_width w (am_model_spec) every channel count above is w times as many
 *                   (conv1 1->32w, ..., fc = Linear(128w, 64)); w = 1 is the original's network.
 *
 * Input channels follow the data (FITS channels x stacksize); the original hard-codes 3 (ResNet)
 * and 1 (amm). The embedding is the output of the module AM_MODEL_HIDDEN_LAYER ("avgpool"), the
 * average of the last feature map as in the original, or with `pooling` (am_model_spec) an
 * average weighted by the input's intensity or a generalized mean (nn.h).
 *
 * State dicts move through safetensors under an optional name prefix. A BYOL model file stores
 * the online network under "online_encoder.network." (the original's BYOL module names, without
 * the ByolTrainer's "byol."), the projector under "online_encoder.projector.model.", the predictor
 * under "online_predictor.model." and the target under "target_encoder.network." and
 * "target_encoder.projector.model." (see tools/convert_original_model.py). */
#ifndef ASTROMORPH_MODELS_H
#define ASTROMORPH_MODELS_H

#include <stdint.h>

#include "astromorph/nn.h"
#include "astromorph/safetensors.h"
#include "astromorph/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define AM_MODEL_HIDDEN_LAYER "avgpool"
#define AM_MODEL_OUTPUT_DIM 64 /* fc output of both networks */
#define AM_AMM_WIDTH_MAX 4 /* the widest amm: 4 x the original's channels, about 16 x its convolution weights */

/* How the last feature map becomes the embedding at "avgpool" (a module of that name either way;
 * it has no parameters, so state dicts do not depend on it). */
typedef enum {
    AM_POOLING_AVERAGE, /* AdaptiveAvgPool2d(1), the original's */
    AM_POOLING_INTENSITY, /* weighted by the input's intensity (am_intensity_pool2d, nn.h) */
    AM_POOLING_GEM /* generalized mean, p = 3 (am_gem_pool2d, nn.h) */
} am_pooling;
/* "average", "intensity", "gem" (the settings' and the model files' names); NULL for others. */
const char *am_pooling_name(am_pooling p);
/* The pooling of a name; AM_ERR_VALUE naming the choices when there is none. */
am_status am_pooling_parse(const char *name, am_pooling *p);

typedef struct am_model_spec {
    const char *network_name; /* "n_layer_resnet" or "amm" */
    const char *last_layer; /* n_layer_resnet: "layer1".."layer4"; NULL means "layer4"; amm: ignored */
    int in_channels; /* channels of the image x stacksize, >= 1 */
    am_pooling pooling; /* 0: the average */
    int amm_width; /* amm: its channel counts times this, 1..AM_AMM_WIDTH_MAX; 0 means 1; must be 1 for ResNet */
} am_model_spec;

/* Checks names and channel count; the error names the bad setting. */
am_status am_model_check(const am_model_spec *spec);
/* Width of the embedding at "avgpool": 64/128/256/512 for the ResNet (by last_layer), 128 x amm_width
 * for amm. */
am_status am_model_embedding_dim(const am_model_spec *spec, int *dim);
/* The module tree alone (caller owns it, e.g. to hand to am_net_create). */
am_status am_model_build(am_module **root, const am_model_spec *spec);
/* Builds the network and initialises it as PyTorch does, drawn from seed: ResNet convs Kaiming
 * normal (fan_out, relu), other Conv2d/Linear Kaiming uniform a=sqrt(5) with the matching bias
 * bound, norms weight 1 bias 0, running stats 0/1. */
am_status am_model_create(am_net **net, const am_model_spec *spec, uint64_t seed);

/* --- State dicts ------------------------------------------------------------------------- */

/* Missing / unexpected tensors are errors unless allowed. A shape mismatch is always an error. */
enum {
    AM_STATE_STRICT = 0,
    AM_STATE_ALLOW_MISSING = 1, /* network tensors absent from the file keep their values */
    AM_STATE_ALLOW_UNEXPECTED = 2 /* file tensors under the prefix that the network lacks are skipped */
};

/* Adds every parameter and buffer as prefix + PyTorch name (F32, not copied: write before the
 * network changes; num_batches_tracked as I64). */
am_status am_net_save_state(am_net *net, am_st_writer *w, const char *prefix);
/* Loads prefix + name for every parameter and buffer (any numeric dtype converts to float).
 * Errors name the tensor, and for shapes both shapes. */
am_status am_net_load_state(am_net *net, const am_safetensors *st, const char *prefix, int flags);
/* The same from a file; errors start with the path. */
am_status am_net_load_state_file(am_net *net, const char *path, const char *prefix, int flags);
/* Writes a file holding only this network's state (prefix "") and the given metadata pairs
 * (keys[i] -> values[i], n pairs). */
am_status am_net_save_state_file(am_net *net, const char *path, const char *const *keys, const char *const *values,
                                 int n);

/* --- Pretrained start ---------------------------------------------------------------------- */

/* Loads torchvision ImageNet ResNet18 weights (a safetensors file, see tools/convert_torchvision.py)
 * into an n_layer_resnet built from spec. Layers after last_layer and the ImageNet fc (1000
 * classes) are skipped: fc keeps its initialisation. When in_channels != 3, conv1 is adapted as
 * timm does: the mean over the RGB input channels is replicated to every channel and scaled by
 * 3/C, so an image repeated on all C channels gives the same response as its grey RGB version.
 * A file that does not fit (wrong network, missing tensor, wrong shape) is a clear error. */
am_status am_model_load_pretrained(am_net *net, const am_model_spec *spec, const char *path);

#ifdef __cplusplus
}
#endif
#endif

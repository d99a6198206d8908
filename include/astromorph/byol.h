/* BYOL core (Bootstrap Your Own Latent), the method of the original package's astromorph.byol:
 *
 *   online:  network ──[hidden layer, flattened]──► projector ──► predictor ──┐
 *   target:  EMA copy of network + projector (no gradient) ─────────────────┴─► loss 2 − 2·cos
 *
 * Projector and predictor are MLPs Linear → BatchNorm1d → ReLU → Linear with sizes
 * representation → projection_hidden → projection. After each optimizer step the caller calls
 * am_byol_update_target: ξ ← λξ + (1−λ)θ over parameters (not buffers), as the original does.
 *
 * Tensors are named as in the original's BYOL state dict, so a model file loads into PyTorch:
 *   online_encoder.network.<network names>     online_encoder.projector.model.{0,1,3}.*
 *   online_predictor.model.{0,1,3}.*           target_encoder.network.*, target_encoder.projector.*
 *
 * Expert use (see examples/custom_cnn.c): build any network with nn.h, wrap it, then per batch
 *   am_byol_zero_grad; am_byol_step(b, view1, view2, 1.0f, &loss) ...; your optimizer over
 *   am_byol_param(); am_byol_params_changed; am_byol_update_target. */
#ifndef ASTROMORPH_BYOL_H
#define ASTROMORPH_BYOL_H

#include <stddef.h>
#include <stdint.h>

#include "astromorph/nn.h"
#include "astromorph/safetensors.h"
#include "astromorph/status.h"
#include "astromorph/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

#define AM_BYOL_FORMAT "astromorph.byol"
#define AM_BYOL_FORMAT_VERSION "1"

typedef enum {
    AM_BYOL_LOSS_ONE_WAY, /* the original: predict view 2's target projection from view 1 */
    AM_BYOL_LOSS_SYMMETRIC /* the BYOL paper: both directions, summed */
} am_byol_loss_kind;

/* A replaceable per-sample loss between n predictions and n target projections of size d
 * (row-major). Writes loss[i] and, when dpred is not NULL, d loss[i] / d pred[i, :]. */
typedef am_status (*am_byol_loss_fn)(const float *pred, const float *target, int64_t n, int64_t d, float *loss,
                                     float *dpred, void *user);
/* The default: 2 − 2·cos(pred, target) (the original's cosine_loss). */
am_status am_byol_cosine_loss(const float *pred, const float *target, int64_t n, int64_t d, float *loss, float *dpred,
                              void *user);

/* VICReg's variance and covariance terms on n embeddings of f values (row-major), weighted:
 * penalty = variance_weight * V + covariance_weight * K (src/byol/byol_spread.c); dy (may be
 * NULL) receives d penalty / d y. Fewer than 2 rows, or both weights 0: 0 and a zero gradient. */
am_status am_byol_spread_penalty(const float *y, int64_t n, int64_t f, double variance_weight, double covariance_weight,
                                 double *penalty, float *dy);

typedef struct am_byol_options {
    const char *hidden_layer; /* module whose output is the embedding ("avgpool") */
    int representation_size; /* features of that output; 0: found by a probe forward */
    int probe_channels; /* input channels for the probe (1) */
    int projection_size; /* 256 */
    int projection_hidden_size; /* 1024 */
    int use_momentum; /* 1: target is an EMA copy; 0: the online encoder, no gradient */
    double moving_average_decay; /* 0.99 */
    am_byol_loss_kind loss; /* AM_BYOL_LOSS_ONE_WAY */
    am_byol_loss_fn loss_fn; /* NULL: am_byol_cosine_loss */
    /* weights of am_byol_spread_penalty on the online embeddings of each forward (0: BYOL's loss
     * alone, the original's) */
    double variance_weight, covariance_weight;
    void *loss_user;
    uint64_t seed; /* initialisation of projector and predictor */
} am_byol_options;

void am_byol_options_default(am_byol_options *o);

typedef struct am_byol am_byol;

/* Wraps network (ownership passes to the BYOL, also on failure); the target starts as a copy
 * (forward only: it has no gradient buffers). */
am_status am_byol_create(am_byol **b, am_net *network, const am_byol_options *o);
void am_byol_free(am_byol *b);
/* Deep copy with its own values, gradients and activations. */
am_status am_byol_clone(am_byol **dst, const am_byol *src);
/* A replica for running steps side by side (what the trainer does): it reads src's parameter
 * values and reordered weights instead of copying them (am_net_share), and has its own
 * BatchNorm statistics and activations, and its own gradients, or with share_grads src's (its
 * steps then add into src's gradients). src must outlive it and change its values only while
 * no replica runs (then am_byol_params_changed(src)). */
am_status am_byol_replica(am_byol **dst, am_byol *src, int share_grads);
/* For inference only: frees every part's gradients and backward buffers (am_net_freeze); steps
 * then only evaluate losses (grad_scale 0). Replicas made afterwards are forward-only too. */
void am_byol_freeze(am_byol *b);
/* Copies every parameter and buffer value of src into dst (same structure); values dst shares
 * with src are left as they are. */
am_status am_byol_copy_state(am_byol *dst, const am_byol *src);

const am_byol_options *am_byol_get_options(const am_byol *b);
am_net *am_byol_network(am_byol *b); /* the online network */

/* TRAIN or EVAL for every part (online, projector, predictor, target). */
void am_byol_set_mode(am_byol *b, am_mode mode);
am_mode am_byol_mode(const am_byol *b);

/* One BYOL evaluation of two views (N×C×H×W each, same shape; N ≥ 2 in TRAIN mode because of
 * BatchNorm1d): *loss = mean over the N samples. With grad_scale ≠ 0 the gradient of
 * grad_scale·loss is accumulated into the online parameters; with 0 nothing is back-propagated. */
am_status am_byol_step(am_byol *b, const am_tensor *view1, const am_tensor *view2, float grad_scale, double *loss);
/* The same with local views (multi-crop): local is an (L·N)×C×h×w batch, row l·N + i a small crop
 * of image i (any h×w the network pools), run through the online branch alone; each predicts the
 * target projections of its image's global views (both with the symmetric loss, the mean of its
 * two losses) and adds that as one more per-image term to *loss and its gradient. NULL: am_byol_step. */
am_status am_byol_step_multi(am_byol *b, const am_tensor *view1, const am_tensor *view2, const am_tensor *local,
                             float grad_scale, double *loss);
/* Embedding: online network up to the hidden layer, flattened to N×representation_size (allocated
 * into emb). Uses the current mode; inference wants EVAL. */
am_status am_byol_embed(am_byol *b, const am_tensor *x, am_tensor *emb);

void am_byol_zero_grad(am_byol *b);
/* EMA of the target; does nothing when use_momentum is 0. Call after every optimizer step. */
void am_byol_update_target(am_byol *b);
/* The same with another decay than the options' (the trainer's EMA schedule). */
void am_byol_update_target_with(am_byol *b, double decay);
/* Tell the engine that parameter values changed outside it (optimizer step, load, copy). */
void am_byol_params_changed(am_byol *b);

/* Trainable parameters (online network, projector, predictor), in the original's
 * byol.parameters() order. */
size_t am_byol_param_count(const am_byol *b);
am_param *am_byol_param(am_byol *b, size_t i);

/* Every tensor of the state (parameters and buffers of online, predictor and target) with its
 * full name ("online_encoder.network.conv1.weight"). The name stays valid while b lives. */
size_t am_byol_state_count(const am_byol *b);
am_param *am_byol_state(am_byol *b, size_t i, const char **full_name);

/* Model files: every state tensor under its full name plus __metadata__ with "format",
 * "format_version", the options (hidden_layer, representation_size, projection_size,
 * projection_hidden_size, use_momentum, moving_average_decay, loss) and the caller's extra
 * key/value pairs (network name and settings, channels, stacksize, normalisation, ...). */
am_status am_byol_save(am_byol *b, const char *path, const char *const *keys, const char *const *values,
                       size_t extra_count);
/* Adds the state tensors (not copied: write before b changes) and option metadata to an open
 * writer (checkpoints add more). */
am_status am_byol_write_state(am_byol *b, am_st_writer *w);
/* Options stored in a model file's metadata (other fields keep their defaults). */
am_status am_byol_options_from_file(am_byol_options *o, const am_safetensors *st);
/* Loads every state tensor from a model file into b (built with matching structure). */
am_status am_byol_load_state(am_byol *b, const am_safetensors *st);
am_status am_byol_load(am_byol *b, const char *path);

#ifdef __cplusplus
}
#endif
#endif

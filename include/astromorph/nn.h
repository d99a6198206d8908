/* The neural-network engine: a tree of named modules with PyTorch's state-dict names
 * (`layer2.0.downsample.1.running_var`), run forward and backward on oneDNN (convolutions,
 * pooling, linear layers, layout changes) and on small OpenMP loops (BatchNorm, GroupNorm, ReLU,
 * residual adds; a BatchNorm followed by a ReLU applies it in the same pass).
 *
 * Build a tree with the constructors, hand its root to am_net_create, then
 *   am_net_forward(net, x, "avgpool", &y)   x: NCHW batch (all images one size), y: output of
 *                                           the named module (NULL: the whole network)
 *   am_net_backward(net, &dy)               dy: gradient of the loss w.r.t. y; parameter
 *                                           gradients are *accumulated* (call am_net_zero_grad)
 * Inside a network, activations may live in oneDNN's blocked layouts; only x, y and dy are NCHW
 * (or N×C for 2-D outputs). Primitives are cached per input shape, so images of many sizes mix
 * freely. Backward goes through the activations of the *last* forward of this network; to run
 * several images at once, give each thread its own copy: am_net_clone (its own values, nothing
 * mutable shared) or am_net_share (reads another network's values and weight copies, which change
 * only through am_net_params_changed while none of the networks runs; guarded by a lock). Copies
 * run side by side through am_replicas_run (runtime.h), each with a team of its own. Tested against PyTorch 1.13 in tests/nn (fixtures from
 * tools/fixtures/layers.py). */
#ifndef ASTROMORPH_NN_H
#define ASTROMORPH_NN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "astromorph/safetensors.h"
#include "astromorph/status.h"
#include "astromorph/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    AM_MOD_SEQUENTIAL, /* children run in order */
    AM_MOD_RESIDUAL, /* BasicBlock: body children in order, the am_shortcut child (if any) is the
                            shortcut; out = relu(body(x) + shortcut(x)) */
    AM_MOD_CONV2D,
    AM_MOD_BATCHNORM2D,
    AM_MOD_BATCHNORM1D,
    AM_MOD_GROUPNORM,
    AM_MOD_RELU,
    AM_MOD_MAXPOOL2D,
    AM_MOD_ADAPTIVE_AVGPOOL2D, /* to 1×1 */
    AM_MOD_LINEAR,
    AM_MOD_FLATTEN,
    AM_MOD_INTENSITY_POOL2D, /* to 1×1, each pixel weighted by the network input's intensity there */
    AM_MOD_GEM_POOL2D, /* to 1×1, generalized mean (p = 3) */
    AM_MOD_KINDS /* how many kinds there are */
} am_module_kind;

typedef struct am_module am_module;

/* Constructors. `name` is the module's own name in its parent ("conv1", "0", "downsample"). */
am_module *am_sequential(const char *name);
am_module *am_residual(const char *name);
/* A sequential container that is a residual block's shortcut (torchvision's "downsample"): added
 * to an am_residual, it runs on the block's input and is left out of the body; one per block. */
am_module *am_shortcut(const char *name);
am_module *am_conv2d(const char *name, int in_ch, int out_ch, int kernel, int stride, int padding, int bias);
am_module *am_batchnorm2d(const char *name, int features);
am_module *am_batchnorm1d(const char *name, int features);
am_module *am_groupnorm(const char *name, int groups, int channels);
am_module *am_relu(const char *name);
am_module *am_maxpool2d(const char *name, int kernel, int stride, int padding);
am_module *am_adaptive_avgpool2d(const char *name);
/* Pooling to 1×1 by an average over the pixels weighted by the intensity of the network's own
 * input (x of am_net_forward) under each: the input's channel mean, area-averaged to the pooled
 * map's size, clipped at 0 and normalised to sum 1 per image (uniform, i.e. the plain average,
 * for an image with nothing above 0). The source counts more than the empty sky around it. The
 * weights are a function of x, so dL/dx (am_net_input_grad) includes the path through them. */
am_module *am_intensity_pool2d(const char *name);
/* Generalized-mean pooling to 1×1 (Radenović, Tolias & Chum 2018): y = (mean max(x, eps)^p)^(1/p)
 * per channel, p = AM_GEM_P, eps = AM_GEM_EPS; p = 1 would be the average, p → ∞ the maximum.
 * Values below eps count as eps (≈ 0) and pass no gradient: after a layer without a ReLU (amm
 * ends with a BatchNorm) the negative responses are left out, as a ReLU before the pooling would. */
#define AM_GEM_P 3.0
#define AM_GEM_EPS 1e-6
am_module *am_gem_pool2d(const char *name);
am_module *am_linear(const char *name, int in_features, int out_features, int bias);
am_module *am_flatten(const char *name);
/* Appends child to a sequential or residual parent, which takes ownership (on failure the child
 * is freed, unless it already had a parent). Constructors return NULL on bad arguments, which
 * am_module_add then reports. */
am_status am_module_add(am_module *parent, am_module *child);
void am_module_free(am_module *m);
am_module_kind am_module_kind_of(const am_module *m);

/* A parameter or buffer, with its full PyTorch name. */
typedef struct am_param {
    const char *name; /* "layer1.0.bn1.weight" */
    am_tensor value; /* PyTorch shape (conv weight OIHW, linear weight out×in) */
    am_tensor grad; /* same shape; empty for buffers */
    int is_buffer; /* running_mean / running_var / num_batches_tracked */
    int is_integer; /* num_batches_tracked: int64 in PyTorch's state dict */
} am_param;

typedef struct am_net am_net;

/* Takes ownership of root; names every parameter. Parameters start as PyTorch's defaults for
 * each layer type drawn from seed (Conv2d/Linear: Kaiming uniform a=sqrt(5) and the matching
 * bias bound; norms: weight 1, bias 0; running stats 0/1). */
am_status am_net_create(am_net **net, am_module *root, uint64_t seed);
void am_net_free(am_net *net);
/* Deep copy: same tree and values, separate gradients (none when src is frozen) and activations. */
am_status am_net_clone(am_net **dst, const am_net *src);

/* A copy for running one model on several threads at once without copying its weights: it reads
 * src's parameter values (its buffers, e.g. BatchNorm statistics, are its own, copied now) and
 * shares the reordered weight copies made from them; activations are its own. Gradients:
 * AM_GRADS_OWN its own buffers, AM_GRADS_SHARED src's (its backward adds into src's gradients),
 * AM_GRADS_NONE none (forward only). src must outlive the copy. Values change only through src
 * (or a copy) while none of them runs, followed by am_net_params_changed on any one of them. */
typedef enum { AM_GRADS_OWN, AM_GRADS_SHARED, AM_GRADS_NONE } am_grads;
am_status am_net_share(am_net **dst, am_net *src, am_grads grads);
/* Frees the gradient buffers and what only backward passes use: the network then runs forward
 * only (a BYOL target network, an embedding model), and am_net_backward refuses. Copies made
 * from it are frozen too. */
void am_net_freeze(am_net *net);
int am_net_is_frozen(const am_net *net);
/* Lets a frozen network write its activations into host's buffers (another network of the same
 * architecture; NULL: its own again). For a network whose forward never falls between host's
 * forward and backward, as the BYOL target's runs before the online network's: its activations
 * then cost no memory. host must outlive the borrowing. */
am_status am_net_borrow_activations(am_net *net, am_net *host);

/* Parameters and buffers, in PyTorch's state_dict order. */
size_t am_net_param_count(const am_net *net);
am_param *am_net_param(am_net *net, size_t i);
am_param *am_net_find_param(am_net *net, const char *full_name);
/* The module with this full name ("layer4", "avgpool", "layer1.0.conv1"), or NULL. */
am_module *am_net_find_module(am_net *net, const char *full_name);
/* Marks a parameter set's values changed outside the engine (load, optimizer step, EMA), so
 * cached backend copies (e.g. reordered weights) are refreshed. */
void am_net_params_changed(am_net *net);

/* Normalisation behaviour. TRAIN: batch statistics, running stats updated (PyTorch train()).
 * EVAL: running statistics (PyTorch eval()). Backward works in both. */
typedef enum { AM_MODE_TRAIN, AM_MODE_EVAL } am_mode;
void am_net_set_mode(am_net *net, am_mode mode);
am_mode am_net_mode(const am_net *net);

/* Arithmetic. FP32 everywhere, or BF16 convolutions with FP32 master weights and accumulation
 * (inputs, output gradients and weights rounded to BF16 for the convolutions only; everything
 * else, and every gradient the API shows, stays FP32). A convolution for which oneDNN has no fast
 * BF16 kernel on this CPU stays FP32. Expect ~1 % relative differences from FP32. The layout of
 * the network's activations follows the precision (channels-last for BF16 on AMX), so a change
 * between a forward and its backward leaves no forward to go back through. */
typedef enum { AM_PRECISION_FP32, AM_PRECISION_BF16 } am_precision;
am_status am_net_set_precision(am_net *net, am_precision p);
/* The instruction set oneDNN dispatches to on this CPU ("avx512_core_amx", "avx512_core_bf16",
 * "avx512_core", "avx2", ...), as benchmarks report it. */
const char *am_cpu_isa_name(void);
/* oneDNN primitives made by this process so far (descriptors, JIT code, or hits in oneDNN's
 * cache) and the thread time spent making them: what a run pays for every new shape. */
void am_dnn_creation(double *seconds, int64_t *count);
/* One line per layer and operation made so far, after prefix: "layer1.0.conv1: convolution
 * forward jit:avx512_core" (oneDNN's implementation name), as benchmarks report it. */
void am_dnn_print_impls(FILE *fp, const char *prefix);
/* What precision = "auto" runs on this CPU: BF16 only where oneDNN has AMX tiles; on CPUs with
 * AVX512-BF16 alone (and older ones) BF16 training was measured slower than FP32 (issue 15: 12.0
 * against 16.5 ResNet18 images/s), so FP32. */
am_precision am_precision_auto(void);

/* y: a zeroed am_tensor the first time (allocated here, am_tensor_free it), reused while its size
 * fits; a view (owns = 0) must already have the right size; NULL: output not wanted. stop_at may
 * name any module whose ancestors are all sequential (not one inside a residual block). */
am_status am_net_forward(am_net *net, const am_tensor *x, const char *stop_at, am_tensor *y);
am_status am_net_backward(am_net *net, const am_tensor *dy);
/* Zeroes every gradient. Gradients belong to the engine between am_net_zero_grad and the end of
 * the next backward (that backward may write rather than add where it knows they are zero). */
void am_net_zero_grad(am_net *net);
/* Gradient with respect to the input x of the last forward (NCHW), valid after backward until the
 * next forward. Computed on the first call (training never needs it); NULL with am_errmsg() set
 * on failure. */
const am_tensor *am_net_input_grad(am_net *net);

/* Wall time spent in each kind of leaf layer (indexed by am_module_kind), summed over calls since
 * profiling was switched on; for benchmarks. Off by default (costs two clock reads per layer). */
typedef struct am_net_profile {
    double forward_s[AM_MOD_KINDS], backward_s[AM_MOD_KINDS];
    long forward_calls[AM_MOD_KINDS], backward_calls[AM_MOD_KINDS];
} am_net_profile;
/* on = 1 starts (and zeroes) the profile, 0 stops it. */
void am_net_set_profiling(am_net *net, int on);
const am_net_profile *am_net_get_profile(const am_net *net);
const char *am_module_kind_name(am_module_kind kind);

/* Floating-point operations of one forward pass at this input shape (for benchmarks): 2 × the
 * multiply-adds of convolutions and linear layers (a backward costs twice that); 0 when the shape
 * does not fit the network. */
double am_net_forward_flops(am_net *net, const int64_t nchw[4], const char *stop_at);

/* One parameter or buffer as a safetensors tensor `name`, as PyTorch's state dict holds it
 * (num_batches_tracked: a 0-d int64). Used by every state-dict writer and reader (networks, BYOL
 * models, checkpoints). Float values are not copied (am_st_writer_add_ref): write the file before
 * the network changes or is freed. */
am_status am_param_write(am_st_writer *w, const char *name, const am_param *p);
/* AM_OK when st's tensor `name` fits p: the same shape, or one element of rank <= 1 on both
 * sides; else AM_ERR_NOTFOUND / AM_ERR_SHAPE naming the tensor and both shapes. */
am_status am_param_check(const am_param *p, const am_safetensors *st, const char *name);
/* am_param_check, then copies the values into p (converted to float32). */
am_status am_param_read(am_param *p, const am_safetensors *st, const char *name);

#ifdef __cplusplus
}
#endif
#endif

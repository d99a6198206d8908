/* Internals of the engine shared by the files of src/nn: the module struct, activations in the
 * network's own layout, and the per-network run state. Not part of the public API. */
#ifndef AM_NN_INTERNAL_H
#define AM_NN_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "astromorph/nn.h"

/* Logical shape of an activation: 4-D N×C×H×W, or 2-D N×C (h = w = 1). */
typedef struct am_shape {
    int ndim;
    int64_t n, c, h, w;
} am_shape;

/* How a network lays out its 4-D activations' channels, each an nChw{B}c: plain NCHW (B = 1),
 * oneDNN's blocked layout (B = L, am_act_lanes) or channels-last NHWC (B = C). */
typedef enum am_layout { AM_LAYOUT_PLAIN, AM_LAYOUT_BLOCKED, AM_LAYOUT_NHWC } am_layout;

/* An activation inside a network. 4-D activations live in the network's layout: NHWC for any
 * channel count, blocked when the channel count is a multiple of the lane count L (am_act_lanes);
 * everything else (and 1×1 images, where all layouts are the same bytes) in plain NCHW/NC. The
 * rule depends only on the shape and the network's layout, so producer and consumer always agree
 * without asking. */
typedef struct am_act {
    am_shape s;
    am_layout layout;
    float *data;
} am_act;

/* A buffer that grows to the largest size asked for and is then reused. */
typedef struct am_buf {
    float *data;
    size_t cap; /* floats */
} am_buf;

am_status am_buf_reserve(am_buf *b, size_t floats, const char *who);
void am_buf_free(am_buf *b);

enum { AM_POOL = 8 };

/* A few activation buffers handed out and back (actpool.c). */
typedef struct am_pool {
    am_buf buf[AM_POOL];
    char busy[AM_POOL];
} am_pool;

int am_shape_equal(const am_shape *a, const am_shape *b);
int64_t am_shape_numel(const am_shape *s);
const char *am_shape_str(const am_shape *s, char *buf, size_t len);
/* Sets a's shape and layout (the network's layout where the shape allows it, else plain) and
 * points it at b, grown to fit. */
am_status am_act_alloc(am_act *a, am_buf *b, const am_shape *s, am_layout layout, const char *who);
/* Channels per block: 1 plain, L blocked, C channels-last. */
int64_t am_act_block(const am_act *a);
/* Pointer to channel c of image n, and the distance between consecutive pixels of it. */
float *am_act_chan(const am_act *a, int64_t n, int64_t c, int64_t *pixel_stride);
/* Channels per block of the blocked layout: 16 where oneDNN dispatches AVX-512 (its kernels
 * there want nChw16c), else 8 (its AVX2 kernels want nChw8c; with 16 every convolution falls to
 * the reference kernel, 100x slower). AM_ACT_LANES=8|16 overrides it, so the tests exercise
 * both layouts on any CPU. Fixed for the process at its first call. */
int am_act_lanes(void);
/* The layout of the activations of a network in precision p, the same for every network of the
 * process in that precision: NHWC in BF16 where oneDNN dispatches AMX (oneDNN 2.6 runs its AMX
 * convolutions only on channels-last activations; on nChw16c it takes a BF16 kernel slower than
 * FP32), else blocked. AM_ACT_LAYOUT=nhwc|blocked forces one, so that the tests run the NHWC
 * path on any CPU. The environment is read once. */
am_layout am_act_layout(am_precision p);

/* What a layer's cached primitives were made for. oneDNN sizes its kernels for the thread count
 * at creation, and a kernel made for 2 threads deadlocks when run by 1 inside a parallel region,
 * so the thread count is part of the key, as is the network's layout of activations. */
/* Layouts of a layer's weights made for its primitives (wcopies.c), shared by networks that
 * share the layer's parameter values. */
typedef struct am_wcopies am_wcopies;
am_wcopies *am_wcopies_new(void);
am_wcopies *am_wcopies_ref(am_wcopies *w);
void am_wcopies_unref(am_wcopies *w);
int am_wcopies_shared(const am_wcopies *w); /* 1 when more than one module holds it */

/* The parameter values a network reads, possibly shared with other networks (am_net_share):
 * their version is bumped by am_net_params_changed on any of them. */
typedef struct am_values {
    int refs;
    uint64_t version;
} am_values;

typedef struct am_plan_key {
    am_shape s;
    am_layout layout; /* the network's */
    int nthr; /* 0: nothing made yet */
} am_plan_key;

int am_plan_key_match(const am_plan_key *k, const am_shape *s, const am_net *net);
void am_plan_key_set(am_plan_key *k, const am_shape *s, const am_net *net);
/* Called on entry to forward/backward: inside an OpenMP parallel region (replicas running side
 * by side) oneDNN runs single-threaded, so its primitives must be made for 1 thread. */
void am_net_enter(am_net *net);
uint64_t am_net_values_version(const am_net *net);

/* Where a layer's parameters sit in am_module.p: PyTorch's registration order (weight, bias,
 * then BatchNorm's buffers), as module.c declares them. */
enum { AM_P_WEIGHT = 0, AM_P_BIAS = 1, AM_P_RUNNING_MEAN = 2, AM_P_RUNNING_VAR = 3, AM_P_BATCHES_TRACKED = 4 };

struct am_module {
    am_module_kind kind;
    char *name; /* own name in the parent */
    char *full; /* dotted full name, set by am_net_create ("" for the root) */
    am_module *parent;
    am_module **child;
    int nchild, cap;

    int in_ch, out_ch, kernel, stride, padding, bias, groups;
    int shortcut; /* a residual block's shortcut (am_shortcut), not part of its body */

    am_param p[5]; /* own parameters, then buffers, in state-dict order */
    const char *pname[5];
    int np;

    /* run state */
    const am_act *in; /* input of the last forward */
    am_act y, dx; /* output, gradient w.r.t. the input */
    am_buf ybuf, dxbuf;
    am_buf *yhost; /* where the output lives when borrowed (am_net_borrow_activations) */
    const am_act *yp, *dxp; /* containers: where the output / input gradient are */
    int ran; /* sequential: children run by the last forward */
    int fuse_relu; /* BatchNorm: applies the following ReLU; ReLU: passes through */
    const am_act *pending_dy; /* conv/linear whose input gradient is deferred */
    am_wcopies *wc; /* conv: reordered weights, shared with am_net_share copies */
    void *impl; /* backend state of the layer kind */
    void (*impl_free)(void *impl);
};

struct am_net {
    am_module *root;
    am_param **params;
    size_t nparams;
    am_values *vals; /* version of the parameter values, shared with am_net_share copies */
    int frozen; /* no gradient buffers: forward only */
    am_mode mode;
    am_precision precision;
    am_layout layout; /* of its activations: am_act_layout(precision) */
    int nthr; /* threads oneDNN uses in the current call */
    int profiling;
    int grads_zero; /* set by am_net_zero_grad, cleared by the backward that follows */
    am_net_profile profile;
    void *stream; /* dnnl_stream_t, one per network so replicas can run in parallel */

    am_act x, dy;
    am_buf xbuf, dybuf;
    /* Scratch used by one layer at a time, so one per network: oneDNN's scratchpads, a layer's
     * weight gradient before it is added into PyTorch's layout, a forward-only network's BF16
     * copy of a layer's input. */
    am_buf scratch, wgrad, lowp_src;
    am_pool gpool; /* input gradients during backward (actpool.c) */
    am_pool ypool; /* outputs during a forward-only network's forward */
    int in_backward;
    am_net *host; /* forward-only network: the network whose input and scratch buffers it borrows */
    am_tensor dx_nchw;
    const am_act *top; /* output of the last forward */
    const am_act *dxp; /* gradient w.r.t. the network input after backward */
    am_module *stop; /* module the forward stops after (NULL: whole net) */
    am_module *pending; /* first layer whose input gradient is computed on demand */
    am_module *input_reader; /* the layer of the last forward that read the network's input, or NULL */
    int stopped, have_fwd, have_bwd, have_dx;
};

/* The input of the network's current forward (x of am_net_forward in the network's layout), for
 * a layer that reads it besides its own input (intensity pooling). It stays valid until the next
 * forward; a layer that reads it sets net->input_reader (one per network), so that
 * am_net_input_grad adds the gradient through it (am_layer_ops.input_grad). */
static inline const am_act *am_net_input(const am_net *net) { return &net->x; }
am_status am_net_reads_input(am_net *net, am_module *m);

/* Where a module's output and a network's forward buffers live (own, or borrowed from a host). */
static inline am_buf *am_mod_ybuf(am_module *m) { return m->yhost ? m->yhost : &m->ybuf; }
static inline am_net *am_net_bufs(am_net *net) { return net->host ? net->host : net; }
/* A forward-only network keeps no outputs for a backward: its forward takes them from its pool. */
static inline int am_net_pools_outputs(const am_net *net) { return net->frozen && !net->host; }

/* Activation pools (actpool.c). During am_net_backward, m->dx comes from the network's gradient
 * pool and is handed back (by its data pointer) by whoever consumed it; else from m->dxbuf. In a
 * forward-only network's forward (frozen, borrowing nothing), m->y comes from its output pool and
 * is handed back once the next layer has used it; else from the module's own buffer. */
am_status am_pool_take(am_pool *p, am_act *a, am_buf *own, const am_shape *s, am_layout layout, const char *who);
void am_pool_give(am_pool *p, const float *data);
void am_pool_reset(am_pool *p);
void am_pool_free(am_pool *p);
am_status am_grad_alloc(am_module *m, am_net *net, const am_shape *s);
/* The same into a, falling back on own. */
am_status am_grad_alloc_in(am_net *net, am_act *a, am_buf *own, const am_shape *s, const char *who);
void am_grad_release(am_net *net, const float *data);
am_status am_out_alloc(am_module *m, am_net *net, const am_shape *s);
void am_out_release(am_net *net, const float *data);

/* The layer's backend state, allocated zeroed on first use; NULL (error set) when out of memory. */
void *am_mod_state(am_module *m, size_t size, void (*free_fn)(void *));
/* The module's name for messages: its full name, or "network root". */
const char *am_mod_who(const am_module *m);
/* Output shape of a leaf module for an input shape; validates the input. */
/* What a leaf layer kind does, one table per kind in the kind's own file (am_conv_ops in conv.c,
 * ...), found by am_layer_ops_of: a new kind is a file with its table and a row in shape.c. */
typedef struct am_layer_ops {
    /* the output shape for an input shape, or a shape error naming the layer */
    am_status (*out_shape)(const am_module *m, const am_shape *in, am_shape *out);
    /* multiply-adds × 2 of one forward, for the benchmarks' GFLOP/s (0 for cheap layers) */
    double (*flops)(const am_module *m, const am_shape *in, const am_shape *out);
    am_status (*forward)(am_module *m, am_net *net, const am_act *x);
    /* need_dx 0: the input's gradient is not wanted (the first layer) */
    am_status (*backward)(am_module *m, am_net *net, const am_act *dy, int need_dx);
    /* A layer that also reads the network's input (am_net_input; intensity pooling's weights):
     * adds its share of dL/d(network input) into dx (NCHW, the input's shape), after its
     * backward; am_net_input_grad calls it. NULL for the layers that read only their own input. */
    am_status (*input_grad)(am_module *m, am_net *net, float *dx);
} am_layer_ops;
extern const am_layer_ops am_conv_ops, am_batchnorm_ops, am_groupnorm_ops, am_relu_ops, am_maxpool_ops, am_avgpool_ops,
    am_linear_ops, am_flatten_ops, am_intensity_pool_ops, am_gem_pool_ops;
/* NULL for containers (sequential, residual) */
const am_layer_ops *am_layer_ops_of(am_module_kind kind);
/* A window op's output shape (convolution, max-pooling), PyTorch's floor mode. */
am_status am_window_out_shape(const am_module *m, const am_shape *in, am_shape *out);
/* A pooling to 1×1's (average, intensity-weighted, generalized mean): N×C×1×1 from N×C×H×W. */
am_status am_global_pool_out_shape(const am_module *m, const am_shape *in, am_shape *out);
/* A normalisation's (BatchNorm, GroupNorm): the input's, N×C×H×W (N×C for BatchNorm1d). */
am_status am_norm_out_shape(const am_module *m, const am_shape *in, am_shape *out);

am_status am_leaf_out_shape(const am_module *m, const am_shape *in, am_shape *out);
/* Multiply-adds ×2 of a leaf for an input shape (convolutions and linear layers only). */
double am_leaf_flops(const am_module *m, const am_shape *in);

/* Module dispatch: forward sets *y to the module's output; backward sets *dx to the gradient
 * w.r.t. its input. need_dx = 0 lets the first layer defer its input gradient. */
am_status am_mod_forward(am_module *m, am_net *net, const am_act *x, const am_act **y);
am_status am_mod_backward(am_module *m, am_net *net, const am_act *dy, int need_dx, const am_act **dx);
/* Backward through child[last], ..., child[first] from dy, handing back the gradients made in
 * between (graph.c); *dx is child[first]'s input gradient. */
am_status am_chain_backward(am_module **child, int first, int last, am_net *net, const am_act *dy, int need_dx,
                            const am_act **dx);

/* Layers (one file each). */
am_status am_conv_forward(am_module *m, am_net *net, const am_act *x);
am_status am_conv_backward(am_module *m, am_net *net, const am_act *dy, int need_dx);
am_status am_conv_backward_data(am_module *m, am_net *net, const am_act *dy);
am_status am_bn_forward(am_module *m, am_net *net, const am_act *x);
am_status am_bn_backward(am_module *m, am_net *net, const am_act *dy, int need_dx);
am_status am_gn_forward(am_module *m, am_net *net, const am_act *x);
am_status am_gn_backward(am_module *m, am_net *net, const am_act *dy, int need_dx);
am_status am_maxpool_forward(am_module *m, am_net *net, const am_act *x);
am_status am_maxpool_backward(am_module *m, am_net *net, const am_act *dy, int need_dx);
am_status am_avgpool_forward(am_module *m, am_net *net, const am_act *x);
am_status am_avgpool_backward(am_module *m, am_net *net, const am_act *dy, int need_dx);
am_status am_linear_forward(am_module *m, am_net *net, const am_act *x);
am_status am_linear_backward(am_module *m, am_net *net, const am_act *dy, int need_dx);
am_status am_linear_backward_data(am_module *m, am_net *net, const am_act *dy);
am_status am_relu_forward(am_module *m, am_net *net, const am_act *x);
am_status am_relu_backward(am_module *m, am_net *net, const am_act *dy, int need_dx);
am_status am_flatten_forward(am_module *m, am_net *net, const am_act *x);
am_status am_flatten_backward(am_module *m, am_net *net, const am_act *dy, int need_dx);
am_status am_residual_forward(am_module *m, am_net *net, const am_act *x);
am_status am_residual_backward(am_module *m, am_net *net, const am_act *dy);

/* Before child i of a sequential or residual body runs: a BatchNorm directly followed by a ReLU
 * does the ReLU itself (one pass over memory instead of two each way), unless the forward stops
 * at the BatchNorm and must return its own output. */
void am_fuse_mark(am_module **children, int n, int i, const am_net *net);
/* g = dy where y > 0, else 0 (ReLU backward from the output). */
void am_relu_mask(float *g, const float *y, const float *dy, int64_t n);
/* Adds src into dst, n floats. */
void am_accumulate(float *dst, const float *src, int64_t n);

#endif

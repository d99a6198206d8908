/* The thin wrapper around oneDNN 2.6's C API (the 2.x descriptor API; 3.x changed it). Every
 * oneDNN call of the engine goes through here or through a layer file that includes this. */
#ifndef AM_NN_DNN_H
#define AM_NN_DNN_H

#include <dnnl.h>

#include "nn/nn_internal.h"

/* The process-wide CPU engine (thread-safe, created once, primitive cache enlarged). */
dnnl_engine_t am_dnn_engine(void);
am_status am_dnn_ok(dnnl_status_t s, const char *what);

/* Descriptors: of an activation in its layout, or of plain dims with a format tag
 * (dnnl_format_tag_any lets a primitive choose). */
void am_dnn_md_act(dnnl_memory_desc_t *md, const am_act *a);
void am_dnn_md(dnnl_memory_desc_t *md, int ndim, const int64_t *dims, dnnl_format_tag_t tag);
/* The same with another data type (dnnl_bf16 for the low-precision convolutions). */
void am_dnn_md_act_dt(dnnl_memory_desc_t *md, const am_act *a, dnnl_data_type_t dt);
void am_dnn_md_dt(dnnl_memory_desc_t *md, int ndim, const int64_t *dims, dnnl_format_tag_t tag, dnnl_data_type_t dt);

/* A primitive with its descriptor. Its scratchpad is user-managed and comes from the network
 * that runs it (so replicas sharing cached primitives can execute them concurrently, and a
 * primitive never run, such as a forward-only network's backward, costs no memory). */
typedef struct am_prim {
    dnnl_primitive_desc_t pd;
    dnnl_primitive_t p;
    size_t scratch_bytes;
    int single; /* made for, and run on, one thread (am_prim_make_deterministic) */
} am_prim;

am_status am_prim_make(am_prim *p, const void *op_desc, const_dnnl_primitive_desc_t hint, const char *what);
/* A primitive made for, and run on, one thread: for those whose result would depend on the
 * thread count. */
am_status am_prim_make_single(am_prim *p, const void *op_desc, const_dnnl_primitive_desc_t hint, const char *what);
/* A weight-gradient primitive whose result does not depend on the thread count: when oneDNN
 * splits its sum over the batch between threads (seen as a scratchpad that grows by at least a
 * weight gradient over the one-thread plan: the partial sums, added in an order that depends on
 * the thread count), it is made and run on one thread instead. Only layers with few channel
 * blocks (first layers) are split so. */
am_status am_prim_make_deterministic(am_prim *p, const void *op_desc, const_dnnl_primitive_desc_t hint,
                                     const char *what);
/* A layout change; with accumulate it adds into the destination (dst += reorder(src)). */
am_status am_prim_reorder(am_prim *p, const dnnl_memory_desc_t *src, const dnnl_memory_desc_t *dst, int accumulate,
                          const char *what);
const dnnl_memory_desc_t *am_prim_md(const am_prim *p, dnnl_query_t what, int index);
void am_prim_free(am_prim *p);
/* 1 when oneDNN chose its reference (slow, untuned) implementation. */
int am_prim_is_reference(const am_prim *p);

typedef struct am_dnn_arg {
    int arg;
    const dnnl_memory_desc_t *md;
    const void *ptr;
} am_dnn_arg;

/* Executes on the network's stream and waits. */
am_status am_prim_run(am_prim *p, am_net *net, int nargs, const am_dnn_arg *args, const char *what);

/* One-off layout change of n floats, e.g. NCHW <-> nChw16c at the network's edges. */
am_status am_dnn_reorder(am_net *net, const dnnl_memory_desc_t *src_md, const void *src,
                         const dnnl_memory_desc_t *dst_md, void *dst, const char *what);
/* Copies between an activation and plain NCHW/NC memory. */
am_status am_act_to_plain(am_net *net, const am_act *a, float *plain, const char *what);
am_status am_act_from_plain(am_net *net, am_act *a, const float *plain, const char *what);

/* *out: the weights `plain` (described by plain_md) in layout md, reordered by `reorder` when the
 * copy is older than the network's values. Values must not change while a network sharing them
 * runs (replicas: only between parallel steps). */
am_status am_wcopies_get(am_wcopies *w, const dnnl_memory_desc_t *md, am_prim *reorder, am_net *net,
                         const dnnl_memory_desc_t *plain_md, const float *plain, const char *who, const float **out);

am_status am_dnn_stream_create(am_net *net);
void am_dnn_stream_free(am_net *net);

#endif

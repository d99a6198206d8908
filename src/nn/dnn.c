/* oneDNN glue: engine, descriptors, primitives with their scratchpads, execution, reorders. */
#include "nn/dnn.h"

#include <dnnl_debug.h>

#include <omp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "astromorph/runtime.h"

static dnnl_engine_t engine;
/* thread time in primitive creation, ns: what the first epoch pays for every new shape */
static _Atomic uint64_t create_ns;
static _Atomic uint64_t create_count;

/* Which implementation oneDNN chose, per layer and operation (reorders left out), for the
 * benchmarks to print: a layer that fell to a reference or GEMM kernel shows here. */
enum { IMPL_MAX = 512, IMPL_TEXT = 48 };
typedef struct {
    char layer[64], op[IMPL_TEXT], impl[IMPL_TEXT];
} impl_entry;
static impl_entry impls[IMPL_MAX];
static int nimpls;
static pthread_mutex_t impl_lock = PTHREAD_MUTEX_INITIALIZER;

static void note_impl(const am_prim *p, const char *layer)
{
    dnnl_primitive_kind_t kind = dnnl_undefined_primitive;
    dnnl_prop_kind_t prop = dnnl_prop_kind_undef;
    const char *impl = NULL;
    if (dnnl_primitive_desc_query(p->pd, dnnl_query_primitive_kind, 0, &kind) != dnnl_success || kind == dnnl_reorder ||
        dnnl_primitive_desc_query(p->pd, dnnl_query_impl_info_str, 0, &impl) != dnnl_success)
        return;
    if (dnnl_primitive_desc_query(p->pd, dnnl_query_prop_kind, 0, &prop) != dnnl_success) prop = dnnl_prop_kind_undef;
    impl_entry e;
    memset(&e, 0, sizeof e);
    snprintf(e.layer, sizeof e.layer, "%s", layer);
    snprintf(e.op, sizeof e.op, "%s %s", dnnl_prim_kind2str(kind),
             prop == dnnl_backward_data      ? "backward data"
             : prop == dnnl_backward_weights ? "backward weights"
             : prop == dnnl_backward         ? "backward"
                                             : "forward");
    snprintf(e.impl, sizeof e.impl, "%s", impl ? impl : "?");
    pthread_mutex_lock(&impl_lock);
    int known = 0;
    for (int i = 0; i < nimpls && !known; i++)
        known = !strcmp(impls[i].layer, e.layer) && !strcmp(impls[i].op, e.op) && !strcmp(impls[i].impl, e.impl);
    if (!known && nimpls < IMPL_MAX) impls[nimpls++] = e;
    pthread_mutex_unlock(&impl_lock);
}

void am_dnn_print_impls(FILE *fp, const char *prefix)
{
    pthread_mutex_lock(&impl_lock);
    for (int i = 0; i < nimpls; i++) fprintf(fp, "%s%s: %s %s\n", prefix, impls[i].layer, impls[i].op, impls[i].impl);
    pthread_mutex_unlock(&impl_lock);
}
static dnnl_status_t engine_status;
static pthread_once_t engine_once = PTHREAD_ONCE_INIT;

static void engine_init(void)
{
    engine_status = dnnl_engine_create(&engine, dnnl_cpu, 0);
    /* Every image size needs its own primitives; the default cache (1024 entries) holds only
     * about 33 sizes of a ResNet's forward and backward. */
    if (engine_status == dnnl_success) dnnl_set_primitive_cache_capacity(8192);
}

dnnl_engine_t am_dnn_engine(void)
{
    pthread_once(&engine_once, engine_init);
    return engine_status == dnnl_success ? engine : NULL;
}

am_status am_dnn_ok(dnnl_status_t s, const char *what)
{
    if (s == dnnl_success) return AM_OK;
    const char *why = s == dnnl_out_of_memory       ? "out of memory"
                      : s == dnnl_invalid_arguments ? "invalid arguments"
                      : s == dnnl_unimplemented     ? "no implementation for this shape"
                                                    : "failure";
    return am_error(s == dnnl_out_of_memory ? AM_ERR_NOMEM : AM_ERR_BACKEND, "%s: oneDNN %s (status %d)", what, why,
                    (int)s);
}

void am_dnn_md_dt(dnnl_memory_desc_t *md, int ndim, const int64_t *dims, dnnl_format_tag_t tag, dnnl_data_type_t dt)
{
    dnnl_dims_t d;
    for (int i = 0; i < ndim; i++) d[i] = dims[i];
    dnnl_memory_desc_init_by_tag(md, ndim, d, dt, tag);
}

void am_dnn_md(dnnl_memory_desc_t *md, int ndim, const int64_t *dims, dnnl_format_tag_t tag)
{
    am_dnn_md_dt(md, ndim, dims, tag, dnnl_f32);
}

void am_dnn_md_act_dt(dnnl_memory_desc_t *md, const am_act *a, dnnl_data_type_t dt)
{
    if (a->s.ndim == 2) {
        int64_t d[2] = {a->s.n, a->s.c};
        am_dnn_md_dt(md, 2, d, dnnl_nc, dt);
    } else {
        int64_t d[4] = {a->s.n, a->s.c, a->s.h, a->s.w};
        dnnl_format_tag_t tag = a->layout == AM_LAYOUT_PLAIN  ? dnnl_nchw
                                : a->layout == AM_LAYOUT_NHWC ? dnnl_nhwc
                                : am_act_lanes() == 16        ? dnnl_nChw16c
                                                              : dnnl_nChw8c;
        am_dnn_md_dt(md, 4, d, tag, dt);
    }
}

void am_dnn_md_act(dnnl_memory_desc_t *md, const am_act *a) { am_dnn_md_act_dt(md, a, dnnl_f32); }

int am_prim_is_reference(const am_prim *p)
{
    const char *impl = NULL;
    if (dnnl_primitive_desc_query(p->pd, dnnl_query_impl_info_str, 0, &impl) != dnnl_success || !impl) return 1;
    return strncmp(impl, "ref", 3) == 0;
}

static am_status finish_prim(am_prim *p, const char *what)
{
    AM_TRY(am_dnn_ok(dnnl_primitive_create(&p->p, p->pd), what));
    const dnnl_memory_desc_t *smd = dnnl_primitive_desc_query_md(p->pd, dnnl_query_scratchpad_md, 0);
    p->scratch_bytes = smd ? dnnl_memory_desc_get_size(smd) : 0;
    return AM_OK;
}

static am_status user_scratchpad(dnnl_primitive_attr_t *attr, const char *what)
{
    AM_TRY(am_dnn_ok(dnnl_primitive_attr_create(attr), what));
    dnnl_status_t s = dnnl_primitive_attr_set_scratchpad_mode(*attr, dnnl_scratchpad_mode_user);
    if (s != dnnl_success) dnnl_primitive_attr_destroy(*attr);
    return am_dnn_ok(s, what);
}

void am_prim_free(am_prim *p)
{
    if (p->p) dnnl_primitive_destroy(p->p);
    if (p->pd) dnnl_primitive_desc_destroy(p->pd);
    p->p = NULL;
    p->pd = NULL;
    p->scratch_bytes = 0;
    p->single = 0;
}

/* Creates a primitive descriptor with user scratchpad (a reorder when op_desc is NULL; one that
 * adds into its destination when accumulate is set). */
static am_status make(am_prim *p, const void *op_desc, const_dnnl_primitive_desc_t hint, const dnnl_memory_desc_t *src,
                      const dnnl_memory_desc_t *dst, int accumulate, const char *what)
{
    dnnl_engine_t e = am_dnn_engine();
    if (!e) return am_error(AM_ERR_BACKEND, "%s: cannot create the oneDNN CPU engine", what);
    am_prim_free(p);
    const double t0 = am_monotonic_seconds();
    dnnl_primitive_attr_t attr;
    AM_TRY(user_scratchpad(&attr, what));
    dnnl_status_t s = dnnl_success;
    if (accumulate) {
        dnnl_post_ops_t po;
        s = dnnl_post_ops_create(&po);
        if (s == dnnl_success) {
            s = dnnl_post_ops_append_sum(po, 1.0f);
            if (s == dnnl_success) s = dnnl_primitive_attr_set_post_ops(attr, po);
            dnnl_post_ops_destroy(po);
        }
    }
    if (s == dnnl_success)
        s = op_desc ? dnnl_primitive_desc_create(&p->pd, op_desc, attr, e, hint)
                    : dnnl_reorder_primitive_desc_create(&p->pd, src, e, dst, e, attr);
    dnnl_primitive_attr_destroy(attr);
    if (s != dnnl_success) {
        p->pd = NULL;
        return am_dnn_ok(s, what);
    }
    am_status st = finish_prim(p, what);
    if (st == AM_OK) note_impl(p, what);
    atomic_fetch_add(&create_ns, (uint64_t)(1e9 * (am_monotonic_seconds() - t0)));
    atomic_fetch_add(&create_count, 1);
    return st;
}

void am_dnn_creation(double *seconds, int64_t *count)
{
    *seconds = 1e-9 * (double)atomic_load(&create_ns);
    *count = (int64_t)atomic_load(&create_count);
}

am_status am_prim_make(am_prim *p, const void *op_desc, const_dnnl_primitive_desc_t hint, const char *what)
{
    return make(p, op_desc, hint, NULL, NULL, 0, what);
}

am_status am_prim_make_single(am_prim *p, const void *op_desc, const_dnnl_primitive_desc_t hint, const char *what)
{
    const int nthr = omp_get_max_threads();
    omp_set_num_threads(1); /* oneDNN plans for the threads it sees now */
    am_status st = make(p, op_desc, hint, NULL, NULL, 0, what);
    omp_set_num_threads(nthr);
    p->single = st == AM_OK && nthr > 1;
    return st;
}

am_status am_prim_make_deterministic(am_prim *p, const void *op_desc, const_dnnl_primitive_desc_t hint,
                                     const char *what)
{
    const int nthr = omp_get_max_threads();
    AM_TRY(make(p, op_desc, hint, NULL, NULL, 0, what));
    /* oneDNN's GEMM-based weight gradient (plain layouts, and its AVX2 kernels' fallback) splits
     * the batch between the threads it runs on, whatever scratch it asks for: one thread only. */
    const char *impl = NULL;
    int gemm = dnnl_primitive_desc_query(p->pd, dnnl_query_impl_info_str, 0, &impl) == dnnl_success && impl &&
               strstr(impl, "gemm");
    if (nthr == 1 || (p->scratch_bytes == 0 && !gemm)) return AM_OK;
    /* Partial sums over the batch need a weight-gradient-sized buffer per extra thread; other
     * per-thread scratch (transposed inputs, bias sums) is smaller than that. */
    const size_t split = p->scratch_bytes,
                 wbytes = dnnl_memory_desc_get_size(am_prim_md(p, dnnl_query_diff_weights_md, 0));
    AM_TRY(am_prim_make_single(p, op_desc, hint, what));
    if (split >= p->scratch_bytes + wbytes || gemm) return AM_OK;
    return make(p, op_desc, hint, NULL, NULL, 0, what); /* from oneDNN's primitive cache */
}

am_status am_prim_reorder(am_prim *p, const dnnl_memory_desc_t *src, const dnnl_memory_desc_t *dst, int accumulate,
                          const char *what)
{
    return make(p, NULL, NULL, src, dst, accumulate, what);
}

const dnnl_memory_desc_t *am_prim_md(const am_prim *p, dnnl_query_t what, int index)
{
    return dnnl_primitive_desc_query_md(p->pd, what, index);
}

am_status am_prim_run(am_prim *p, am_net *net, int nargs, const am_dnn_arg *args, const char *what)
{
    enum { MAX_ARGS = 12 };
    dnnl_exec_arg_t ex[MAX_ARGS + 1];
    dnnl_engine_t e = am_dnn_engine();
    am_status st = AM_OK;
    int made = 0;
    if (nargs > MAX_ARGS) return am_error(AM_ERR_VALUE, "%s: too many primitive arguments", what);
    for (; made < nargs; made++) {
        ex[made].arg = args[made].arg;
        st = am_dnn_ok(dnnl_memory_create(&ex[made].memory, args[made].md, e, (void *)args[made].ptr), what);
        if (st != AM_OK) break;
    }
    if (st == AM_OK && p->scratch_bytes) {
        /* The primitives of one network run one at a time: they share its scratchpad. */
        const dnnl_memory_desc_t *smd = am_prim_md(p, dnnl_query_scratchpad_md, 0);
        st = am_buf_reserve(&am_net_bufs(net)->scratch, (p->scratch_bytes + 3) / 4, what);
        if (st == AM_OK) {
            ex[made].arg = DNNL_ARG_SCRATCHPAD;
            st = am_dnn_ok(dnnl_memory_create(&ex[made].memory, smd, e, am_net_bufs(net)->scratch.data), what);
        }
        if (st == AM_OK) made++;
    }
    const int nthr = p->single ? omp_get_max_threads() : 1;
    if (nthr > 1) omp_set_num_threads(1);
    if (st == AM_OK) st = am_dnn_ok(dnnl_primitive_execute(p->p, (dnnl_stream_t)net->stream, made, ex), what);
    if (st == AM_OK) st = am_dnn_ok(dnnl_stream_wait((dnnl_stream_t)net->stream), what);
    if (nthr > 1) omp_set_num_threads(nthr);
    for (int i = 0; i < made; i++) dnnl_memory_destroy(ex[i].memory);
    return st;
}

am_status am_dnn_reorder(am_net *net, const dnnl_memory_desc_t *src_md, const void *src,
                         const dnnl_memory_desc_t *dst_md, void *dst, const char *what)
{
    am_prim r;
    memset(&r, 0, sizeof r);
    am_status st = am_prim_reorder(&r, src_md, dst_md, 0, what);
    if (st == AM_OK) {
        am_dnn_arg a[2] = {{DNNL_ARG_FROM, src_md, src}, {DNNL_ARG_TO, dst_md, dst}};
        st = am_prim_run(&r, net, 2, a, what);
    }
    am_prim_free(&r);
    return st;
}

static void plain_md(dnnl_memory_desc_t *md, const am_act *a)
{
    am_act plain = *a;
    plain.layout = AM_LAYOUT_PLAIN;
    am_dnn_md_act(md, &plain);
}

am_status am_act_to_plain(am_net *net, const am_act *a, float *plain, const char *what)
{
    if (a->layout == AM_LAYOUT_PLAIN) {
        memcpy(plain, a->data, (size_t)am_shape_numel(&a->s) * sizeof(float));
        return AM_OK;
    }
    dnnl_memory_desc_t src, dst;
    am_dnn_md_act(&src, a);
    plain_md(&dst, a);
    return am_dnn_reorder(net, &src, a->data, &dst, plain, what);
}

am_status am_act_from_plain(am_net *net, am_act *a, const float *plain, const char *what)
{
    if (a->layout == AM_LAYOUT_PLAIN) {
        memcpy(a->data, plain, (size_t)am_shape_numel(&a->s) * sizeof(float));
        return AM_OK;
    }
    dnnl_memory_desc_t src, dst;
    plain_md(&src, a);
    am_dnn_md_act(&dst, a);
    return am_dnn_reorder(net, &src, plain, &dst, a->data, what);
}

am_status am_dnn_stream_create(am_net *net)
{
    dnnl_engine_t e = am_dnn_engine();
    if (!e) return am_error(AM_ERR_BACKEND, "network: cannot create the oneDNN CPU engine");
    dnnl_stream_t s;
    AM_TRY(am_dnn_ok(dnnl_stream_create(&s, e, dnnl_stream_default_flags), "network stream"));
    net->stream = s;
    return AM_OK;
}

void am_dnn_stream_free(am_net *net)
{
    if (net->stream) dnnl_stream_destroy((dnnl_stream_t)net->stream);
    net->stream = NULL;
}

const char *am_cpu_isa_name(void)
{
    switch (dnnl_get_effective_cpu_isa()) {
    case dnnl_cpu_isa_sse41: return "sse41";
    case dnnl_cpu_isa_avx: return "avx";
    case dnnl_cpu_isa_avx2: return "avx2";
    case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni";
    case dnnl_cpu_isa_avx512_mic: return "avx512_mic";
    case dnnl_cpu_isa_avx512_mic_4ops: return "avx512_mic_4ops";
    case dnnl_cpu_isa_avx512_core: return "avx512_core";
    case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx";
    default: return "other";
    }
}

am_precision am_precision_auto(void)
{
    return dnnl_get_effective_cpu_isa() == dnnl_cpu_isa_avx512_core_amx ? AM_PRECISION_BF16 : AM_PRECISION_FP32;
}

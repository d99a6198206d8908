/* Activations in the network's layout, and the growing buffers that hold them. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dnnl.h>
#include <omp.h>

#include "nn/nn_internal.h"

am_status am_buf_reserve(am_buf *b, size_t floats, const char *who)
{
    if (floats <= b->cap && b->data) return AM_OK;
    float *p = am_calloc(floats ? floats : 1, sizeof(float));
    if (!p) return am_error(AM_ERR_NOMEM, "%s: cannot allocate %zu floats", who, floats);
    am_free(b->data);
    b->data = p;
    b->cap = floats;
    return AM_OK;
}

void am_buf_free(am_buf *b)
{
    am_free(b->data);
    b->data = NULL;
    b->cap = 0;
}

int am_shape_equal(const am_shape *a, const am_shape *b)
{
    return a->ndim == b->ndim && a->n == b->n && a->c == b->c && a->h == b->h && a->w == b->w;
}

int64_t am_shape_numel(const am_shape *s) { return s->n * s->c * s->h * s->w; }

const char *am_shape_str(const am_shape *s, char *buf, size_t len)
{
    if (s->ndim == 2) snprintf(buf, len, "%lldx%lld", (long long)s->n, (long long)s->c);
    else snprintf(buf, len, "%lldx%lldx%lldx%lld", (long long)s->n, (long long)s->c, (long long)s->h, (long long)s->w);
    return buf;
}

int am_act_lanes(void)
{
    static atomic_int lanes;
    int l = atomic_load_explicit(&lanes, memory_order_relaxed);
    if (l) return l;
    const char *env = getenv("AM_ACT_LANES");
    if (env && (!strcmp(env, "8") || !strcmp(env, "16"))) l = atoi(env);
    else {
        /* the ISA values are nested bit sets: every AVX-512 core level contains avx512_core's bits */
        unsigned isa = (unsigned)dnnl_get_effective_cpu_isa(), core = (unsigned)dnnl_cpu_isa_avx512_core;
        l = (isa & core) == core ? 16 : 8;
    }
    atomic_store_explicit(&lanes, l, memory_order_relaxed);
    return l;
}

am_layout am_act_layout(am_precision p)
{
    static atomic_int forced; /* 0: not read yet, 1: no, 2: blocked, 3: NHWC */
    int f = atomic_load_explicit(&forced, memory_order_relaxed);
    if (!f) {
        const char *env = getenv("AM_ACT_LAYOUT");
        f = env && !strcmp(env, "nhwc") ? 3 : env && !strcmp(env, "blocked") ? 2 : 1;
        atomic_store_explicit(&forced, f, memory_order_relaxed);
    }
    if (f > 1) return f == 3 ? AM_LAYOUT_NHWC : AM_LAYOUT_BLOCKED;
    unsigned isa = (unsigned)dnnl_get_effective_cpu_isa(), amx = (unsigned)dnnl_cpu_isa_avx512_core_amx;
    return p == AM_PRECISION_BF16 && (isa & amx) == amx ? AM_LAYOUT_NHWC : AM_LAYOUT_BLOCKED;
}

am_status am_act_alloc(am_act *a, am_buf *b, const am_shape *s, am_layout layout, const char *who)
{
    a->s = *s;
    /* channels-last takes any channel count (oneDNN's NHWC kernels do, the 3-channel input too) */
    const int fits = layout == AM_LAYOUT_NHWC || s->c % am_act_lanes() == 0;
    a->layout = s->ndim == 4 && fits ? layout : AM_LAYOUT_PLAIN;
    /* At 1×1 pixels every layout is the same bytes; plain lets them pass as views. */
    if (s->h * s->w == 1) a->layout = AM_LAYOUT_PLAIN;
    AM_TRY(am_buf_reserve(b, (size_t)am_shape_numel(s), who));
    a->data = b->data;
    return AM_OK;
}

int64_t am_act_block(const am_act *a)
{
    return a->layout == AM_LAYOUT_BLOCKED ? am_act_lanes() : a->layout == AM_LAYOUT_NHWC ? a->s.c : 1;
}

float *am_act_chan(const am_act *a, int64_t n, int64_t c, int64_t *pixel_stride)
{
    /* nChw{B}c: image n, block c / B, pixel 0, lane c % B */
    const int64_t hw = a->s.h * a->s.w, B = am_act_block(a);
    *pixel_stride = B;
    return a->data + (n * (a->s.c / B) + c / B) * hw * B + c % B;
}

void am_accumulate(float *dst, const float *src, int64_t n)
{
#pragma omp parallel for if (n > 65536) schedule(static)
    for (int64_t i = 0; i < n; i++) dst[i] += src[i];
}

void *am_mod_state(am_module *m, size_t size, void (*free_fn)(void *))
{
    if (!m->impl) {
        m->impl = am_calloc(1, size);
        if (!m->impl) {
            am_error(AM_ERR_NOMEM, "%s: out of memory", am_mod_who(m));
            return NULL;
        }
        m->impl_free = free_fn;
    }
    return m->impl;
}

int am_plan_key_match(const am_plan_key *k, const am_shape *s, const am_net *net)
{
    return k->nthr == net->nthr && k->layout == net->layout && am_shape_equal(&k->s, s);
}

void am_plan_key_set(am_plan_key *k, const am_shape *s, const am_net *net)
{
    k->s = *s;
    k->layout = net->layout;
    k->nthr = net->nthr;
}

void am_net_enter(am_net *net)
{
    /* Sets the calling task's thread count only; the parallel region's end restores it. */
    if (omp_in_parallel() && omp_get_max_threads() > 1) omp_set_num_threads(1);
    net->nthr = omp_get_max_threads();
}

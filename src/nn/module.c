/* Module constructors and the module tree (names, children, ownership). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/dnn.h"
#include "nn/nn_internal.h"

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

/* A constructor's refusal: NULL, with the reason as the thread's message and kept for the
 * am_module_add that receives the NULL (the usual am_module_add(parent, am_conv2d(...))). */
static _Thread_local char refusal[256];
static _Thread_local am_status refusal_code;

static am_module *refuse_with(am_status code, const char *kind, const char *name, const char *why)
{
    snprintf(refusal, sizeof refusal, "%s '%s': %s", kind, name ? name : "", why);
    refusal_code = code;
    am_error(code, "%s", refusal);
    return NULL;
}

static am_module *refuse(const char *kind, const char *name, const char *why)
{
    return refuse_with(AM_ERR_VALUE, kind, name, why);
}

static am_module *new_module(am_module_kind kind, const char *name)
{
    if (!name) name = "";
    am_module *m = calloc(1, sizeof *m);
    if (m) m->name = dup_str(name);
    if (!m || !m->name) {
        free(m);
        return refuse_with(AM_ERR_NOMEM, "module", name, "out of memory");
    }
    m->kind = kind;
    return m;
}

/* Declares the module's own parameters and buffers in PyTorch's registration order. */
static void declare(am_module *m, const char *pname, int is_buffer, int is_integer)
{
    m->pname[m->np] = pname;
    m->p[m->np].is_buffer = is_buffer;
    m->p[m->np].is_integer = is_integer;
    m->np++;
}

am_module *am_sequential(const char *name) { return new_module(AM_MOD_SEQUENTIAL, name); }
am_module *am_residual(const char *name) { return new_module(AM_MOD_RESIDUAL, name); }

am_module *am_shortcut(const char *name)
{
    am_module *m = new_module(AM_MOD_SEQUENTIAL, name);
    if (m) m->shortcut = 1;
    return m;
}

am_module *am_conv2d(const char *name, int in_ch, int out_ch, int kernel, int stride, int padding, int bias)
{
    if (in_ch <= 0 || out_ch <= 0) return refuse("conv2d", name, "channels must be > 0");
    if (kernel <= 0 || stride <= 0) return refuse("conv2d", name, "kernel and stride must be > 0");
    if (padding < 0) return refuse("conv2d", name, "padding must be >= 0");
    am_module *m = new_module(AM_MOD_CONV2D, name);
    if (!m) return NULL;
    m->in_ch = in_ch;
    m->out_ch = out_ch;
    m->kernel = kernel;
    m->stride = stride;
    m->padding = padding;
    m->bias = bias != 0;
    declare(m, "weight", 0, 0);
    if (m->bias) declare(m, "bias", 0, 0);
    return m;
}

static am_module *norm(am_module_kind kind, const char *name, int features, int groups)
{
    const char *what = kind == AM_MOD_GROUPNORM     ? "groupnorm"
                       : kind == AM_MOD_BATCHNORM1D ? "batchnorm1d"
                                                    : "batchnorm2d";
    if (features <= 0 || groups <= 0) return refuse(what, name, "features and groups must be > 0");
    if (features % groups) return refuse(what, name, "the channels must divide into the groups");
    am_module *m = new_module(kind, name);
    if (!m) return NULL;
    m->in_ch = m->out_ch = features;
    m->groups = groups;
    declare(m, "weight", 0, 0);
    declare(m, "bias", 0, 0);
    if (kind != AM_MOD_GROUPNORM) {
        declare(m, "running_mean", 1, 0);
        declare(m, "running_var", 1, 0);
        declare(m, "num_batches_tracked", 1, 1);
    }
    return m;
}

am_module *am_batchnorm2d(const char *name, int features) { return norm(AM_MOD_BATCHNORM2D, name, features, 1); }
am_module *am_batchnorm1d(const char *name, int features) { return norm(AM_MOD_BATCHNORM1D, name, features, 1); }
am_module *am_groupnorm(const char *name, int groups, int channels)
{
    return norm(AM_MOD_GROUPNORM, name, channels, groups);
}

am_module *am_relu(const char *name) { return new_module(AM_MOD_RELU, name); }

am_module *am_maxpool2d(const char *name, int kernel, int stride, int padding)
{
    /* PyTorch also requires padding <= kernel / 2. */
    if (kernel <= 0 || stride <= 0 || padding < 0)
        return refuse("maxpool2d", name, "kernel and stride must be > 0, padding >= 0");
    if (2 * padding > kernel) return refuse("maxpool2d", name, "padding must be at most half the kernel");
    am_module *m = new_module(AM_MOD_MAXPOOL2D, name);
    if (!m) return NULL;
    m->kernel = kernel;
    m->stride = stride;
    m->padding = padding;
    return m;
}

am_module *am_adaptive_avgpool2d(const char *name) { return new_module(AM_MOD_ADAPTIVE_AVGPOOL2D, name); }
am_module *am_intensity_pool2d(const char *name) { return new_module(AM_MOD_INTENSITY_POOL2D, name); }
am_module *am_gem_pool2d(const char *name) { return new_module(AM_MOD_GEM_POOL2D, name); }

am_module *am_linear(const char *name, int in_features, int out_features, int bias)
{
    if (in_features <= 0 || out_features <= 0) return refuse("linear", name, "features must be > 0");
    am_module *m = new_module(AM_MOD_LINEAR, name);
    if (!m) return NULL;
    m->in_ch = in_features;
    m->out_ch = out_features;
    m->bias = bias != 0;
    declare(m, "weight", 0, 0);
    if (m->bias) declare(m, "bias", 0, 0);
    return m;
}

am_module *am_flatten(const char *name) { return new_module(AM_MOD_FLATTEN, name); }

/* The child is owned by the parent afterwards, or freed on failure, so that
 * am_module_add(seq, am_conv2d(...)) never leaks. */
static am_status reject(am_module *child, am_status code, const char *why, const char *who)
{
    am_error(code, "%s: %s", who, why); /* before the free: who may be the child's name */
    if (child && !child->parent) am_module_free(child);
    return code;
}

am_status am_module_add(am_module *parent, am_module *child)
{
    if (!child) {
        const char *who = parent ? parent->name : "am_module_add";
        if (!refusal[0]) return reject(NULL, AM_ERR_VALUE, "NULL child", who);
        am_error(refusal_code, "%s: cannot add %s", who, refusal);
        refusal[0] = 0;
        return refusal_code;
    }
    if (!parent) return reject(child, AM_ERR_VALUE, "NULL parent", child->name);
    if (child->parent) return am_error(AM_ERR_VALUE, "%s: module already has a parent", child->name);
    if (parent->kind != AM_MOD_SEQUENTIAL && parent->kind != AM_MOD_RESIDUAL)
        return reject(child, AM_ERR_VALUE, "only sequential and residual modules have children", parent->name);
    for (int i = 0; i < parent->nchild; i++)
        if (strcmp(parent->child[i]->name, child->name) == 0)
            return reject(child, AM_ERR_VALUE, "duplicate child name", child->name);
    if (child->shortcut && parent->kind != AM_MOD_RESIDUAL)
        return reject(child, AM_ERR_VALUE, "a shortcut belongs in a residual block", child->name);
    for (int i = 0; child->shortcut && i < parent->nchild; i++)
        if (parent->child[i]->shortcut)
            return reject(child, AM_ERR_VALUE, "the residual block has a shortcut already", parent->name);
    if (parent->nchild == parent->cap) {
        int cap = parent->cap ? 2 * parent->cap : 4;
        am_module **c = realloc(parent->child, (size_t)cap * sizeof *c);
        if (!c) return reject(child, AM_ERR_NOMEM, "cannot add child", parent->name);
        parent->child = c;
        parent->cap = cap;
    }
    parent->child[parent->nchild++] = child;
    child->parent = parent;
    return AM_OK;
}

void am_module_free(am_module *m)
{
    if (!m) return;
    for (int i = 0; i < m->nchild; i++) am_module_free(m->child[i]);
    free(m->child);
    for (int i = 0; i < m->np; i++) {
        free((char *)m->p[i].name);
        am_tensor_free(&m->p[i].value);
        am_tensor_free(&m->p[i].grad);
    }
    if (m->impl_free) m->impl_free(m->impl);
    am_wcopies_unref(m->wc);
    am_buf_free(&m->ybuf);
    am_buf_free(&m->dxbuf);
    free(m->name);
    free(m->full);
    free(m);
}

am_module_kind am_module_kind_of(const am_module *m) { return m->kind; }

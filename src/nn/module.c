/* Module constructors and the module tree (names, children, ownership). */
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

static am_module *new_module(am_module_kind kind, const char *name)
{
    if (!name) name = "";
    am_module *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    m->kind = kind;
    m->name = dup_str(name);
    if (!m->name) {
        free(m);
        return NULL;
    }
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
    if (in_ch <= 0 || out_ch <= 0 || kernel <= 0 || stride <= 0 || padding < 0) return NULL;
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
    if (features <= 0 || groups <= 0 || features % groups) return NULL;
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
    if (kernel <= 0 || stride <= 0 || padding < 0 || 2 * padding > kernel) return NULL;
    am_module *m = new_module(AM_MOD_MAXPOOL2D, name);
    if (!m) return NULL;
    m->kernel = kernel;
    m->stride = stride;
    m->padding = padding;
    return m;
}

am_module *am_adaptive_avgpool2d(const char *name) { return new_module(AM_MOD_ADAPTIVE_AVGPOOL2D, name); }

am_module *am_linear(const char *name, int in_features, int out_features, int bias)
{
    if (in_features <= 0 || out_features <= 0) return NULL;
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
    if (!child) return reject(child, AM_ERR_VALUE, "NULL child (a constructor rejected its arguments)",
                              parent ? parent->name : "am_module_add");
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

/* A layer's weights in the layouts its primitives read (oneDNN's blocked layouts), made from
 * PyTorch's plain layout on demand and kept until the values change. Networks that share
 * parameter values (am_net_share) share these copies too: one copy per layout for all replicas,
 * made by whichever replica needs it first. */
#include <pthread.h>
#include <stdlib.h>

#include "nn/dnn.h"

typedef struct wcopy {
    dnnl_memory_desc_t md;
    am_buf buf;
    uint64_t version; /* the values' version the copy holds */
} wcopy;

struct am_wcopies {
    int refs;
    pthread_mutex_t lock;
    wcopy *e;
    int n, cap;
};

am_wcopies *am_wcopies_new(void)
{
    am_wcopies *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    if (pthread_mutex_init(&w->lock, NULL) != 0) {
        free(w);
        return NULL;
    }
    w->refs = 1;
    return w;
}

am_wcopies *am_wcopies_ref(am_wcopies *w)
{
    if (w) w->refs++;
    return w;
}

int am_wcopies_shared(const am_wcopies *w) { return w->refs > 1; }

void am_wcopies_unref(am_wcopies *w)
{
    if (!w || --w->refs > 0) return;
    for (int i = 0; i < w->n; i++) am_buf_free(&w->e[i].buf);
    free(w->e);
    pthread_mutex_destroy(&w->lock);
    free(w);
}

static am_status find_or_add(am_wcopies *w, const dnnl_memory_desc_t *md, wcopy **out, const char *who)
{
    for (int i = 0; i < w->n; i++)
        if (dnnl_memory_desc_equal(&w->e[i].md, md)) {
            *out = &w->e[i];
            return AM_OK;
        }
    if (w->n == w->cap) {
        int cap = w->cap ? 2 * w->cap : 2;
        wcopy *e = realloc(w->e, (size_t)cap * sizeof *e);
        if (!e) return am_error(AM_ERR_NOMEM, "%s: out of memory", who);
        w->e = e, w->cap = cap;
    }
    wcopy *c = &w->e[w->n];
    *c = (wcopy){.md = *md};
    AM_TRY(am_buf_reserve(&c->buf, (dnnl_memory_desc_get_size(md) + 3) / 4, who));
    w->n++;
    *out = c;
    return AM_OK;
}

am_status am_wcopies_get(am_wcopies *w, const dnnl_memory_desc_t *md, am_prim *reorder, am_net *net,
                         const dnnl_memory_desc_t *plain_md, const float *plain, const char *who, const float **out)
{
    const uint64_t version = am_net_values_version(net);
    pthread_mutex_lock(&w->lock);
    wcopy *c = NULL;
    am_status st = find_or_add(w, md, &c, who);
    if (st == AM_OK && c->version != version) {
        am_dnn_arg a[2] = {{DNNL_ARG_FROM, plain_md, plain}, {DNNL_ARG_TO, md, c->buf.data}};
        st = am_prim_run(reorder, net, 2, a, who);
        if (st == AM_OK) c->version = version;
    }
    if (st == AM_OK) *out = c->buf.data;
    pthread_mutex_unlock(&w->lock);
    return st;
}

/* Background read-ahead: a thread keeps the next `prefetch` items of the announced order
 * decoded, so that reading overlaps with training. Loading is deterministic, so what the
 * trainer gets is the same with or without it. */
#include <stdlib.h>
#include <string.h>

#include "astromorph/runtime.h"
#include "data/dataset_internal.h"

static int in_window(const am_dataset *ds, int64_t item)
{
    int64_t p = ds->pos_of ? ds->pos_of[item] : -1;
    return p >= ds->cursor && p < ds->cursor + ds->opt.prefetch;
}

/* Items read ahead that the trainer went past become ordinary cache entries. */
static void demote_stale(am_dataset *ds)
{
    for (int k = 0; k < ds->n_pending;) {
        int64_t item = ds->pending[k];
        if (in_window(ds, item)) {
            k++;
            continue;
        }
        am_dataset_cache_demote(ds, item); /* removes pending[k] */
    }
}

static int64_t next_target(const am_dataset *ds)
{
    if (ds->n_pending >= ds->opt.prefetch) return -1;
    int64_t end = ds->cursor + ds->opt.prefetch;
    if (end > ds->n_order) end = ds->n_order;
    for (int64_t j = ds->cursor; j < end; j++) {
        const am_item *it = &ds->items[ds->order[j]];
        if (it->state == SLOT_EMPTY && !it->prefetch_failed) return ds->order[j];
    }
    return -1;
}

static void *prefetch_main(void *arg)
{
    am_dataset *ds = arg;
    pthread_mutex_lock(&ds->lock);
    while (!ds->stop) {
        demote_stale(ds);
        int64_t target = next_target(ds);
        if (target < 0) {
            pthread_cond_wait(&ds->changed, &ds->lock);
            continue;
        }
        am_item *it = &ds->items[target];
        it->state = SLOT_LOADING;
        pthread_mutex_unlock(&ds->lock);
        am_tensor img;
        am_meta m;
        am_status s = am_dataset_load(ds, target, &img, &m);
        pthread_mutex_lock(&ds->lock);
        if (s == AM_OK) {
            am_dataset_cache_record(ds, target, &img, &m, SLOT_PREFETCHED);
            ds->pending[ds->n_pending++] = target;
            ds->stats.prefetched++;
        } else {
            it->state = SLOT_EMPTY;
            it->prefetch_failed = 1;
        }
        pthread_cond_broadcast(&ds->changed);
    }
    pthread_mutex_unlock(&ds->lock);
    return NULL;
}

void am_prefetch_advance(am_dataset *ds, int64_t i)
{
    if (ds->n_order == 0) return;
    if (ds->cursor < ds->n_order && ds->order[ds->cursor] == i) ds->cursor++;
    else if (ds->pos_of[i] >= 0) ds->cursor = ds->pos_of[i] + 1;
    pthread_cond_broadcast(&ds->changed);
}

void am_prefetch_stop(am_dataset *ds)
{
    pthread_mutex_lock(&ds->lock);
    int running = ds->thread_running;
    ds->stop = 1;
    pthread_cond_broadcast(&ds->changed);
    pthread_mutex_unlock(&ds->lock);
    if (running) pthread_join(ds->thread, NULL);
    pthread_mutex_lock(&ds->lock);
    ds->thread_running = 0;
    ds->stop = 0;
    ds->n_order = 0;
    while (ds->n_pending > 0) am_dataset_cache_demote(ds, ds->pending[0]);
    pthread_mutex_unlock(&ds->lock);
}

void am_dataset_prefetch(am_dataset *ds, const int64_t *order, int64_t n)
{
    if (ds->in_memory || ds->opt.prefetch <= 0) return;
    pthread_mutex_lock(&ds->lock);
    while (ds->n_pending > 0) am_dataset_cache_demote(ds, ds->pending[0]);
    if (!ds->pos_of) ds->pos_of = malloc((size_t)ds->n * sizeof *ds->pos_of);
    if (!ds->pending) ds->pending = malloc((size_t)ds->opt.prefetch * sizeof *ds->pending);
    int64_t *copy = n > 0 ? malloc((size_t)n * sizeof *copy) : NULL;
    if (!ds->pos_of || !ds->pending || (n > 0 && !copy)) {
        free(copy);
        ds->n_order = 0;
        pthread_mutex_unlock(&ds->lock);
        am_log(AM_LOG_WARN, "%s: no memory to read ahead; reading on demand", ds->source);
        return;
    }
    for (int64_t i = 0; i < ds->n; i++) ds->pos_of[i] = -1;
    int64_t m = 0;
    for (int64_t j = 0; j < n; j++) {
        if (order[j] < 0 || order[j] >= ds->n) continue;
        if (ds->pos_of[order[j]] < 0) ds->pos_of[order[j]] = m;
        copy[m++] = order[j];
    }
    free(ds->order);
    ds->order = copy;
    ds->n_order = m;
    ds->cursor = 0;
    if (m > 0 && !ds->thread_running) {
        ds->stop = 0;
        if (pthread_create(&ds->thread, NULL, prefetch_main, ds) == 0) ds->thread_running = 1;
        else am_log(AM_LOG_WARN, "%s: cannot start the read-ahead thread; reading on demand", ds->source);
    }
    pthread_cond_broadcast(&ds->changed);
    pthread_mutex_unlock(&ds->lock);
}

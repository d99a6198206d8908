/* The bounded image cache of file datasets: least recently used out first. Every function here
 * runs with ds->lock held. */
#include <stdlib.h>
#include <string.h>

#include "data/dataset_internal.h"

static void lru_unlink(am_dataset *ds, int64_t i)
{
    am_item *it = &ds->items[i];
    if (it->lru_prev >= 0) ds->items[it->lru_prev].lru_next = it->lru_next;
    else if (ds->lru_head == i) ds->lru_head = it->lru_next;
    if (it->lru_next >= 0) ds->items[it->lru_next].lru_prev = it->lru_prev;
    else if (ds->lru_tail == i) ds->lru_tail = it->lru_prev;
    it->lru_prev = it->lru_next = -1;
}

static void lru_push_head(am_dataset *ds, int64_t i)
{
    am_item *it = &ds->items[i];
    it->lru_prev = -1;
    it->lru_next = ds->lru_head;
    if (ds->lru_head >= 0) ds->items[ds->lru_head].lru_prev = i;
    ds->lru_head = i;
    if (ds->lru_tail < 0) ds->lru_tail = i;
}

void am_dataset_cache_drop(am_dataset *ds, int64_t i)
{
    am_item *it = &ds->items[i];
    if (it->state == SLOT_READY) {
        lru_unlink(ds, i);
        ds->cached_bytes -= it->bytes;
    }
    am_tensor_free(&it->image);
    am_meta_free(&it->meta);
    it->bytes = 0;
    it->state = SLOT_EMPTY;
}

/* Evicts from the cold end until the cache fits, sparing `keep`. */
static void evict(am_dataset *ds, int64_t keep)
{
    while (ds->cached_bytes > ds->opt.cache_bytes && ds->lru_tail >= 0) {
        int64_t victim = ds->lru_tail;
        if (victim == keep) {
            victim = ds->items[victim].lru_prev;
            if (victim < 0) break;
        }
        am_dataset_cache_drop(ds, victim);
    }
}

int am_dataset_cache_store(am_dataset *ds, int64_t i, am_tensor *image, am_meta *meta, int state)
{
    am_item *it = &ds->items[i];
    size_t bytes = (size_t)am_tensor_numel(image) * sizeof(float);
    if (state == SLOT_READY && bytes > ds->opt.cache_bytes) return 0;
    it->image = *image;
    it->meta = *meta;
    it->bytes = bytes;
    it->state = state;
    if (state == SLOT_READY) {
        ds->cached_bytes += bytes;
        lru_push_head(ds, i);
        evict(ds, i);
    }
    return 1;
}

int am_dataset_cache_record(am_dataset *ds, int64_t i, am_tensor *image, am_meta *meta, int state)
{
    am_item *it = &ds->items[i];
    memcpy(it->shape, image->shape, sizeof it->shape);
    it->shape_known = 1;
    return am_dataset_cache_store(ds, i, image, meta, state);
}

void am_dataset_cache_touch(am_dataset *ds, int64_t i)
{
    lru_unlink(ds, i);
    lru_push_head(ds, i);
}

void am_dataset_cache_demote(am_dataset *ds, int64_t i)
{
    am_item *it = &ds->items[i];
    for (int k = 0; k < ds->n_pending; k++)
        if (ds->pending[k] == i) {
            ds->pending[k] = ds->pending[--ds->n_pending];
            break;
        }
    it->state = SLOT_READY;
    ds->cached_bytes += it->bytes;
    lru_push_head(ds, i);
    /* Kept for the caller's copy even when over the bound; evicted on the next store. */
    evict(ds, i);
}

/* Datasets: opening, item access through the cache, and release. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/dataset_internal.h"

void am_dataset_options_default(am_dataset_options *o)
{
    memset(o, 0, sizeof *o);
    am_fits_options_default(&o->fits);
    o->skip_bad_files = 0;
    o->cache_bytes = (size_t)256 << 20;
    o->prefetch = 4;
    o->mask_mode = AM_MASK_AUTO;
    o->min_object_size = 6;
    o->min_object_pixels = 1;
}

am_status am_dataset_alloc(am_dataset **out, int64_t n, const char *source, const am_dataset_options *opt)
{
    am_dataset_options def;
    if (!opt) {
        am_dataset_options_default(&def);
        opt = &def;
    }
    *out = NULL;
    am_dataset *ds = calloc(1, sizeof *ds);
    if (!ds) return am_error(AM_ERR_NOMEM, "%s: out of memory for the dataset", source);
    ds->opt = *opt;
    ds->lru_head = ds->lru_tail = -1;
    pthread_mutex_init(&ds->lock, NULL);
    pthread_cond_init(&ds->changed, NULL);
    ds->source = strdup(source);
    ds->items = calloc((size_t)(n > 0 ? n : 1), sizeof *ds->items);
    ds->n = n;
    int ok = ds->source && ds->items;
    if (ok && opt->fits.n_extra_keys > 0) {
        ds->extra_keys = calloc((size_t)opt->fits.n_extra_keys, sizeof *ds->extra_keys);
        ok = ds->extra_keys != NULL;
        for (int k = 0; ok && k < opt->fits.n_extra_keys; k++)
            ok = (ds->extra_keys[k] = strdup(opt->fits.extra_keys[k])) != NULL;
        ds->opt.fits.extra_keys = (const char *const *)ds->extra_keys;
    } else {
        ds->opt.fits.extra_keys = NULL;
        ds->opt.fits.n_extra_keys = 0;
    }
    for (int64_t i = 0; ds->items && i < n; i++) {
        am_meta_init(&ds->items[i].meta);
        ds->items[i].lru_prev = ds->items[i].lru_next = -1;
    }
    if (!ok) {
        am_dataset_free(ds);
        return am_error(AM_ERR_NOMEM, "%s: out of memory for the dataset", source);
    }
    *out = ds;
    return AM_OK;
}

void am_dataset_free(am_dataset *ds)
{
    if (!ds) return;
    am_prefetch_stop(ds);
    if (ds->items)
        for (int64_t i = 0; i < ds->n; i++) {
            free(ds->items[i].name);
            am_tensor_free(&ds->items[i].image);
            am_meta_free(&ds->items[i].meta);
        }
    if (ds->extra_keys)
        for (int k = 0; k < ds->opt.fits.n_extra_keys; k++) free(ds->extra_keys[k]);
    free(ds->extra_keys);
    free(ds->items);
    free(ds->source);
    free(ds->order);
    free(ds->pos_of);
    free(ds->pending);
    pthread_mutex_destroy(&ds->lock);
    pthread_cond_destroy(&ds->changed);
    free(ds);
}

am_status am_dataset_open_paths(am_dataset **out, const char *const *paths, int64_t n, const am_dataset_options *opt)
{
    if (n <= 0) return am_error(AM_ERR_VALUE, "dataset: no image paths given");
    AM_TRY(am_dataset_alloc(out, n, "dataset", opt));
    am_dataset *ds = *out;
    for (int64_t i = 0; i < n; i++) {
        ds->items[i].name = strdup(paths[i]);
        if (!ds->items[i].name) {
            am_dataset_free(ds);
            *out = NULL;
            return am_error(AM_ERR_NOMEM, "dataset: out of memory for %lld paths", (long long)n);
        }
    }
    return AM_OK;
}

am_status am_dataset_open(am_dataset **out, const char *datafile, const am_dataset_options *opt)
{
    char **paths = NULL;
    int64_t n = 0;
    *out = NULL;
    AM_TRY(am_read_datafile(datafile, &paths, &n));
    am_status s = am_dataset_open_paths(out, (const char *const *)paths, n, opt);
    am_free_paths(paths, n);
    if (s == AM_OK) {
        free((*out)->source);
        (*out)->source = strdup(datafile);
        if (!(*out)->source) {
            am_dataset_free(*out);
            *out = NULL;
            return am_error(AM_ERR_NOMEM, "%s: out of memory", datafile);
        }
    }
    return s;
}

am_status am_dataset_from_images(am_dataset **out, const am_tensor *images, const am_meta *metas, int64_t n,
                                 const am_dataset_options *opt)
{
    if (n <= 0) return am_error(AM_ERR_VALUE, "dataset: no images given");
    AM_TRY(am_dataset_alloc(out, n, "images", opt));
    am_dataset *ds = *out;
    ds->in_memory = 1;
    am_status s = AM_OK;
    for (int64_t i = 0; i < n && s == AM_OK; i++) {
        am_item *it = &ds->items[i];
        char name[64];
        snprintf(name, sizeof name, "image %lld", (long long)i);
        const char *label = metas && metas[i].filepath ? metas[i].filepath : name;
        if (images[i].ndim != 3) {
            char buf[64];
            s = am_error(AM_ERR_SHAPE, "%s: image is %s, need CxHxW", label,
                         am_tensor_shape_str(&images[i], buf, sizeof buf));
            break;
        }
        it->name = strdup(label);
        if (!it->name) s = am_error(AM_ERR_NOMEM, "dataset: out of memory");
        if (s == AM_OK) s = am_tensor_clone(&it->image, &images[i]);
        if (s == AM_OK && metas) s = am_meta_copy(&it->meta, &metas[i]);
        if (s == AM_OK) s = am_image_check_channels(&it->image, ds->opt.fits.max_channels, label);
        if (s == AM_OK) s = am_image_clean(&it->image, ds->opt.fits.nan_policy, label, NULL);
        if (s == AM_OK) {
            memcpy(it->shape, it->image.shape, sizeof it->shape);
            it->shape_known = 1;
        }
    }
    if (s != AM_OK) {
        am_dataset_free(ds);
        *out = NULL;
    }
    return s;
}

int64_t am_dataset_size(const am_dataset *ds) { return ds->n; }

const char *am_dataset_name(const am_dataset *ds, int64_t i)
{
    return (i >= 0 && i < ds->n) ? ds->items[i].name : NULL;
}

int64_t am_dataset_n_skipped(const am_dataset *ds) { return ds->n_skipped; }

static am_status check_index(const am_dataset *ds, int64_t i)
{
    if (i < 0 || i >= ds->n)
        return am_error(AM_ERR_VALUE, "%s: item %lld out of range (%lld items)", ds->source, (long long)i,
                        (long long)ds->n);
    return AM_OK;
}

am_status am_dataset_item_shape(const am_dataset *ds, int64_t i, int64_t shape[3])
{
    AM_TRY(check_index(ds, i));
    am_dataset *mut = (am_dataset *)ds; /* the lock only */
    pthread_mutex_lock(&mut->lock);
    int known = ds->items[i].shape_known;
    if (known) memcpy(shape, ds->items[i].shape, 3 * sizeof *shape);
    pthread_mutex_unlock(&mut->lock);
    if (!known) return am_error(AM_ERR_NOTFOUND, "%s: shape not known before reading it", ds->items[i].name);
    return AM_OK;
}

am_status am_dataset_item_shape_read(am_dataset *ds, int64_t i, int64_t shape[3])
{
    if (am_dataset_item_shape(ds, i, shape) == AM_OK) return AM_OK;
    am_tensor img;
    AM_TRY(am_dataset_get(ds, i, &img, NULL));
    memcpy(shape, img.shape, 3 * sizeof *shape);
    am_tensor_free(&img);
    return AM_OK;
}

am_status am_dataset_load(am_dataset *ds, int64_t i, am_tensor *image, am_meta *meta)
{
    return am_fits_read(ds->items[i].name, &ds->opt.fits, image, meta);
}

/* Copies slot i (held under the lock) out to the caller. */
static am_status copy_out(am_dataset *ds, int64_t i, am_tensor *image, am_meta *meta)
{
    am_item *it = &ds->items[i];
    if (image) AM_TRY(am_tensor_clone(image, &it->image));
    if (meta) {
        am_status s = am_meta_copy(meta, &it->meta);
        if (s != AM_OK) {
            if (image) am_tensor_free(image);
            return s;
        }
    }
    return AM_OK;
}

static am_status get_item(am_dataset *ds, int64_t i, am_tensor *image, am_meta *meta)
{
    AM_TRY(check_index(ds, i));
    am_item *it = &ds->items[i];
    if (ds->in_memory) return copy_out(ds, i, image, meta);
    pthread_mutex_lock(&ds->lock);
    am_prefetch_advance(ds, i);
    while (it->state == SLOT_LOADING) pthread_cond_wait(&ds->changed, &ds->lock);
    if (it->state == SLOT_READY || it->state == SLOT_PREFETCHED) {
        if (it->state == SLOT_PREFETCHED) am_dataset_cache_demote(ds, i);
        else am_dataset_cache_touch(ds, i);
        ds->stats.hits++;
        am_status s = copy_out(ds, i, image, meta);
        if (ds->cached_bytes > ds->opt.cache_bytes) am_dataset_cache_drop(ds, i); /* read ahead, no room to keep */
        pthread_mutex_unlock(&ds->lock);
        return s;
    }
    it->state = SLOT_LOADING;
    ds->stats.misses++;
    pthread_mutex_unlock(&ds->lock);

    am_tensor img;
    am_meta m;
    am_status s = am_dataset_load(ds, i, &img, &m);

    pthread_mutex_lock(&ds->lock);
    if (s == AM_OK) {
        if (am_dataset_cache_record(ds, i, &img, &m, SLOT_READY)) {
            s = copy_out(ds, i, image, meta);
        } else { /* not kept (no room): hand over what was read */
            it->state = SLOT_EMPTY;
            if (image) *image = img;
            else am_tensor_free(&img);
            if (meta) *meta = m;
            else am_meta_free(&m);
        }
    } else {
        it->state = SLOT_EMPTY;
    }
    pthread_cond_broadcast(&ds->changed);
    pthread_mutex_unlock(&ds->lock);
    return s;
}

am_status am_dataset_get(am_dataset *ds, int64_t i, am_tensor *image, am_meta *meta)
{
    if (meta) am_meta_init(meta);
    return get_item(ds, i, image, meta);
}

am_status am_dataset_get_meta(am_dataset *ds, int64_t i, am_meta *meta)
{
    AM_TRY(check_index(ds, i));
    am_item *it = &ds->items[i];
    if (ds->in_memory) return am_meta_copy(meta, &it->meta);
    pthread_mutex_lock(&ds->lock);
    if (it->state == SLOT_READY || it->state == SLOT_PREFETCHED) {
        am_status s = am_meta_copy(meta, &it->meta);
        pthread_mutex_unlock(&ds->lock);
        return s;
    }
    pthread_mutex_unlock(&ds->lock);
    return am_fits_read_meta(it->name, &ds->opt.fits, meta);
}

void am_dataset_get_stats(am_dataset *ds, am_dataset_stats *st)
{
    pthread_mutex_lock(&ds->lock);
    *st = ds->stats;
    st->cached_bytes = ds->cached_bytes;
    pthread_mutex_unlock(&ds->lock);
}

/* The dataset's insides, shared by the files of src/data that build, cache, prefetch and
 * validate it. */
#ifndef AM_DATA_DATASET_INTERNAL_H
#define AM_DATA_DATASET_INTERNAL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "astromorph/dataset.h"

/* Cache state of one file item. */
enum { SLOT_EMPTY = 0, SLOT_LOADING, SLOT_READY, SLOT_PREFETCHED };

typedef struct am_item {
    char *name; /* file path, or "<image>#label=<n>" for mask objects */
    am_tensor image; /* in memory: always; files: while cached */
    am_meta meta;
    int64_t shape[3];
    int shape_known;
    int state; /* SLOT_* (files only) */
    int prefetch_failed; /* the reader thread leaves it to am_dataset_get to report */
    size_t bytes;
    int64_t lru_prev, lru_next; /* READY slots, most recently used at the head */
} am_item;

struct am_dataset {
    am_dataset_options opt;
    char **extra_keys; /* own copy of opt.fits.extra_keys */
    char *source; /* what was opened, for messages */
    int in_memory; /* mask objects or images given: nothing to read */
    am_item *items;
    int64_t n;
    int64_t n_skipped;

    pthread_mutex_t lock;
    pthread_cond_t changed; /* a slot finished loading, or the prefetch plan moved */
    int64_t lru_head, lru_tail;
    size_t cached_bytes;
    am_dataset_stats stats;

    /* prefetch plan and thread */
    int64_t *order, n_order, cursor;
    int64_t *pos_of; /* item -> its position in order, -1 if absent */
    int64_t *pending; /* items read ahead and not yet asked for */
    int n_pending;
    pthread_t thread;
    int thread_running, stop;
};

/* A dataset with n empty items and options copied (extra keys included). */
am_status am_dataset_alloc(am_dataset **out, int64_t n, const char *source, const am_dataset_options *opt);
/* Reads item i from its file (no cache). */
am_status am_dataset_load(am_dataset *ds, int64_t i, am_tensor *image, am_meta *meta);
/* With ds->lock held: puts a loaded image into slot i as READY or PREFETCHED and takes it over;
 * returns 0 (the caller keeps it) when a READY image does not fit the cache at all. */
int am_dataset_cache_store(am_dataset *ds, int64_t i, am_tensor *image, am_meta *meta, int state);
/* With ds->lock held: records the shape of a freshly read item and stores it as above. */
int am_dataset_cache_record(am_dataset *ds, int64_t i, am_tensor *image, am_meta *meta, int state);
/* With ds->lock held: frees slot i's image and takes it out of the LRU list. */
void am_dataset_cache_drop(am_dataset *ds, int64_t i);
/* With ds->lock held: marks slot i used (moves it to the LRU head). */
void am_dataset_cache_touch(am_dataset *ds, int64_t i);
/* With ds->lock held: a PREFETCHED slot becomes an ordinary cached one (and may be evicted). */
void am_dataset_cache_demote(am_dataset *ds, int64_t i);
/* With ds->lock held: the trainer asked for item i; moves the prefetch cursor. */
void am_prefetch_advance(am_dataset *ds, int64_t i);
void am_prefetch_stop(am_dataset *ds);

/* List files and directories into paths. */
am_status am_read_datafile(const char *datafile, char ***paths, int64_t *n);
void am_free_paths(char **paths, int64_t n);

#endif

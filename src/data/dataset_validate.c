/* Checking a whole file dataset before training: every bad file reported at once. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "astromorph/runtime.h"
#include "data/dataset_internal.h"
#include "dist/dist_internal.h"

/* Reads item i; on success records its shape and keeps the image in the cache if it fits. */
static am_status check_item(am_dataset *ds, int64_t i, char **msg)
{
    am_tensor img;
    am_meta m;
    am_status s = am_dataset_load(ds, i, &img, &m);
    if (s != AM_OK) {
        *msg = strdup(am_errmsg());
        return s;
    }
    pthread_mutex_lock(&ds->lock);
    int kept = ds->items[i].state == SLOT_EMPTY && am_dataset_cache_record(ds, i, &img, &m, SLOT_READY);
    pthread_mutex_unlock(&ds->lock);
    if (!kept) {
        am_tensor_free(&img);
        am_meta_free(&m);
    }
    return AM_OK;
}

static void append_line(char **buf, size_t *len, const char *line)
{
    size_t add = strlen(line) + 1;
    char *nb = realloc(*buf, *len + add + 1);
    if (!nb) return;
    memcpy(nb + *len, line, add - 1);
    nb[*len + add - 1] = '\n';
    nb[*len + add] = '\0';
    *buf = nb;
    *len += add;
}

/* Removes the items marked in `drop`, keeping order; the cache list is rebuilt for the new
 * indices. */
static void compact(am_dataset *ds, const char *drop)
{
    int64_t m = 0;
    for (int64_t i = 0; i < ds->n; i++) {
        if (drop[i]) {
            am_dataset_cache_drop(ds, i);
            free(ds->items[i].name);
            continue;
        }
        ds->items[m++] = ds->items[i];
    }
    ds->n = m;
    ds->lru_head = ds->lru_tail = -1;
    for (int64_t i = 0; i < m; i++) {
        am_item *it = &ds->items[i];
        it->lru_prev = it->lru_next = -1;
        if (it->state != SLOT_READY) continue;
        it->lru_prev = ds->lru_tail;
        if (ds->lru_tail >= 0) ds->items[ds->lru_tail].lru_next = i;
        else ds->lru_head = i;
        ds->lru_tail = i;
    }
    free(ds->pos_of); /* indices changed: a new prefetch plan builds it again */
    ds->pos_of = NULL;
}

/* With skip_bad_files: one network takes one channel count, so an image whose count differs from
 * the most common one (a 5-channel cube among 2-D maps) is a bad file, named like the others. */
static void mark_odd_channels(am_dataset *ds, am_status *st, char **msg)
{
    int64_t counts[8] = {0}, chans[8] = {0}, n = ds->n;
    int kinds = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t sh[3];
        if (st[i] != AM_OK || am_dataset_item_shape(ds, i, sh) != AM_OK) continue;
        int k = 0;
        while (k < kinds && chans[k] != sh[0]) k++;
        if (k == kinds && kinds < 8) chans[kinds++] = sh[0];
        if (k < kinds) counts[k]++;
    }
    if (kinds < 2) return;
    int best = 0;
    for (int k = 1; k < kinds; k++)
        if (counts[k] > counts[best]) best = k;
    for (int64_t i = 0; i < n; i++) {
        int64_t sh[3];
        if (st[i] != AM_OK || am_dataset_item_shape(ds, i, sh) != AM_OK || sh[0] == chans[best]) continue;
        char line[4400];
        snprintf(line, sizeof line, "%s: %lld channel(s), the other images %lld (one network takes one channel count)",
                 ds->items[i].name, (long long)sh[0], (long long)chans[best]);
        st[i] = AM_ERR_SHAPE;
        free(msg[i]);
        msg[i] = strdup(line);
    }
}

/* Over MPI ranks each rank reads every size-th image; the statuses, the good images' shapes and
 * the bad images' messages then go to every rank, so all of them drop the same images and group
 * them by size alike without reading them. */
static am_status share_checks(am_dataset *ds, am_status *st, char **msg)
{
    const int64_t n = ds->n;
    int32_t *code = calloc((size_t)(n ? n : 1) * 4, sizeof *code); /* status, then C, H, W */
    if (!code) return am_error(AM_ERR_NOMEM, "out of memory to validate %lld images", (long long)n);
    for (int64_t i = 0; i < n; i++) {
        code[4 * i] = (int32_t)st[i];
        if (st[i] == AM_OK && ds->items[i].shape_known)
            for (int d = 0; d < 3; d++) code[4 * i + 1 + d] = (int32_t)ds->items[i].shape[d];
    }
    am_status s = am_dist_sum_disjoint_i32(code, 4 * n);
    for (int64_t i = 0; s == AM_OK && i < n; i++) {
        st[i] = (am_status)code[4 * i];
        if (st[i] == AM_OK && code[4 * i + 1] > 0) {
            pthread_mutex_lock(&ds->lock);
            for (int d = 0; d < 3; d++) ds->items[i].shape[d] = code[4 * i + 1 + d];
            ds->items[i].shape_known = 1;
            pthread_mutex_unlock(&ds->lock);
        }
        if (st[i] == AM_OK) continue;
        char line[4400] = "";
        int owner = (int)(i % am_dist_size());
        if (owner == am_dist_rank()) snprintf(line, sizeof line, "%s", msg[i] ? msg[i] : "");
        s = am_dist_bcast(line, sizeof line, owner);
        free(msg[i]);
        msg[i] = line[0] ? strdup(line) : NULL;
    }
    free(code);
    return s;
}

am_status am_dataset_validate(am_dataset *ds, char **report)
{
    if (report) *report = NULL;
    if (ds->in_memory) return AM_OK; /* checked when made */
    am_prefetch_stop(ds);
    int64_t n = ds->n;
    am_status *st = calloc((size_t)n, sizeof *st);
    char **msg = calloc((size_t)n, sizeof *msg);
    char *drop = calloc((size_t)n, 1);
    if (!st || !msg || !drop) {
        free(st);
        free(msg);
        free(drop);
        return am_error(AM_ERR_NOMEM, "%s: out of memory to validate %lld images", ds->source, (long long)n);
    }
    const int rank = am_dist_rank(), size = am_dist_size();
#pragma omp parallel for schedule(dynamic)
    for (int64_t i = 0; i < n; i++)
        if (i % size == rank) st[i] = check_item(ds, i, &msg[i]);
    if (size > 1) {
        am_status s = am_dist_agree(share_checks(ds, st, msg));
        if (s != AM_OK) {
            for (int64_t i = 0; i < n; i++) free(msg[i]);
            free(msg), free(st), free(drop);
            return s;
        }
    }

    if (ds->opt.skip_bad_files) mark_odd_channels(ds, st, msg);

    int64_t n_bad = 0, n_dropped = 0, first_bad = -1;
    char *lines = NULL;
    size_t len = 0;
    for (int64_t i = 0; i < n; i++) {
        if (st[i] == AM_OK) continue;
        const char *line = msg[i] ? msg[i] : ds->items[i].name;
        if (st[i] == AM_ERR_NUMERIC) { /* all NaN or constant: never trainable, always left out */
            am_log(AM_LOG_WARN, "%s; left out", line);
            drop[i] = 1;
            n_dropped++;
            continue;
        }
        n_bad++;
        if (first_bad < 0) first_bad = i;
        append_line(&lines, &len, line);
        if (ds->opt.skip_bad_files) {
            am_log(AM_LOG_WARN, "%s; skipped", line);
            drop[i] = 1;
            n_dropped++;
        } else {
            am_log(AM_LOG_ERROR, "%s", line);
        }
    }
    am_status s = AM_OK;
    if (n_bad > 0 && !ds->opt.skip_bad_files) {
        s = am_error(st[first_bad], "%s: %lld of %lld images are bad (first: %s)", ds->source, (long long)n_bad,
                     (long long)n, msg[first_bad] ? msg[first_bad] : ds->items[first_bad].name);
    } else if (n_dropped == n) {
        s = am_error(AM_ERR_VALUE, "%s: none of the %lld images is usable", ds->source, (long long)n);
    } else if (n_dropped > 0) {
        pthread_mutex_lock(&ds->lock);
        compact(ds, drop);
        ds->n_skipped = n_dropped;
        pthread_mutex_unlock(&ds->lock);
    }
    if (size > 1) s = am_dist_agree(s); /* every rank has the same verdict: known to all */
    if (report) *report = lines;
    else free(lines);
    for (int64_t i = 0; i < n; i++) free(msg[i]);
    free(msg);
    free(st);
    free(drop);
    return s;
}

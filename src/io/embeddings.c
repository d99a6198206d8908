/* The embeddings container and its native safetensors form (the CSV form is embeddings_csv.c). */
#include "astromorph/embeddings.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "astromorph/safetensors.h"
#include "astromorph/tensor.h"
#include "io/emb_rows.h"

#define EMB_FORMAT "astromorph.embeddings"
#define EMB_VERSION "1"

/* n rows of metadata, and of zeros unless the rows will point into a mapped file. */
static am_status emb_init(am_embeddings *e, int64_t n, int64_t dim, int with_data, int with_meta)
{
    memset(e, 0, sizeof *e);
    if (n < 0 || dim < 1)
        return am_error(AM_ERR_VALUE, "embeddings: bad size %lld x %lld", (long long)n, (long long)dim);
    e->n = n;
    e->dim = dim;
    if (with_data) e->data = am_calloc((size_t)(n ? n : 1) * (size_t)dim, sizeof(float));
    if (with_meta) e->meta = calloc((size_t)(n ? n : 1), sizeof(am_meta));
    if ((with_data && !e->data) || (with_meta && !e->meta)) {
        am_embeddings_free(e);
        return am_error(AM_ERR_NOMEM, "embeddings: out of memory for %lld x %lld", (long long)n, (long long)dim);
    }
    for (int64_t i = 0; with_meta && i < n; i++) am_meta_init(&e->meta[i]);
    return AM_OK;
}

am_status am_embeddings_alloc(am_embeddings *e, int64_t n, int64_t dim) { return emb_init(e, n, dim, 1, 1); }

am_status am_embeddings_meta(const am_embeddings *e, int64_t row, am_meta *out)
{
    if (e->meta) return am_meta_copy(out, &e->meta[row]);
    if (e->rowtab) return am_rowtab_decode(e->rowtab, row, out);
    am_meta_init(out);
    return AM_OK;
}

am_status am_embeddings_object_is(const am_embeddings *e, int64_t row, const char *object, int *same)
{
    if (e->rowtab && !e->meta) return am_rowtab_object_is(e->rowtab, row, object, same);
    *same = !strcmp(e->meta ? e->meta[row].object : "N/A", object);
    return AM_OK;
}

/* The rows' metadata decoded from t into e->meta (n rows); t is left as it is. */
static am_status decode_all(am_embeddings *e, const am_rowtab *t)
{
    am_meta *m = calloc((size_t)(e->n ? e->n : 1), sizeof *m);
    if (!m) return am_error(AM_ERR_NOMEM, "%s: out of memory for the metadata of %lld rows", t->path, (long long)e->n);
    am_status s = AM_OK;
    int64_t i = 0;
    for (; i < e->n && s == AM_OK; i++) s = am_rowtab_decode(t, i, &m[i]);
    if (s != AM_OK) {
        while (i-- > 0) am_meta_free(&m[i]);
        free(m);
        return s;
    }
    e->meta = m;
    return AM_OK;
}

am_status am_embeddings_meta_all(am_embeddings *e)
{
    if (e->meta) return AM_OK;
    if (!e->rowtab) { /* a file without row metadata: every row "N/A" */
        if (!(e->meta = calloc((size_t)(e->n ? e->n : 1), sizeof *e->meta)))
            return am_error(AM_ERR_NOMEM, "embeddings: out of memory for the metadata of %lld rows", (long long)e->n);
        for (int64_t i = 0; i < e->n; i++) am_meta_init(&e->meta[i]);
        return AM_OK;
    }
    AM_TRY(decode_all(e, e->rowtab));
    am_rowtab_free(e->rowtab);
    free(e->rowtab);
    e->rowtab = NULL;
    return AM_OK;
}

am_rows am_embeddings_rows(const am_embeddings *e) { return (am_rows){e->n, e->dim, e->data, e->data16}; }

void am_embeddings_free(am_embeddings *e)
{
    if (!e) return;
    if (e->rowtab) { /* before the mapping its text may lie in */
        am_rowtab_free(e->rowtab);
        free(e->rowtab);
    }
    if (e->meta)
        for (int64_t i = 0; i < e->n; i++) am_meta_free(&e->meta[i]);
    free(e->meta);
    if (e->mapping) {
        am_st_free(e->mapping);
        free(e->mapping);
    } else {
        am_free(e->data);
    }
    free(e->labels);
    free(e->model);
    for (int64_t k = 0; e->stat_names && k < e->nstats; k++) free(e->stat_names[k]);
    free(e->stat_names);
    free(e->stats);
    memset(e, 0, sizeof *e);
}

am_status am_embeddings_set_stats(am_embeddings *e, int64_t nstats, const char *const *names, const float *values)
{
    for (int64_t k = 0; e->stat_names && k < e->nstats; k++) free(e->stat_names[k]);
    free(e->stat_names), free(e->stats);
    e->stat_names = NULL, e->stats = NULL, e->nstats = 0;
    if (nstats <= 0) return AM_OK;
    e->stat_names = calloc((size_t)nstats, sizeof *e->stat_names);
    e->stats = malloc((size_t)(e->n > 0 ? e->n * nstats : 1) * sizeof *e->stats);
    if (!e->stat_names || !e->stats) return am_error(AM_ERR_NOMEM, "embeddings: out of memory for statistics");
    e->nstats = nstats;
    for (int64_t k = 0; k < nstats; k++)
        if (!(e->stat_names[k] = strdup(names[k]))) return am_error(AM_ERR_NOMEM, "embeddings: out of memory");
    if (values) memcpy(e->stats, values, (size_t)(e->n * nstats) * sizeof *e->stats);
    else
        for (int64_t i = 0; i < e->n * nstats; i++) e->stats[i] = NAN;
    return AM_OK;
}

am_status am_embeddings_select(am_embeddings *e, const uint8_t *keep)
{
    if (e->rowtab) AM_TRY(am_rowtab_select(e->rowtab, e->n, keep));
    int64_t m = 0;
    for (int64_t i = 0; i < e->n; i++) {
        if (!keep[i]) {
            if (e->meta) am_meta_free(&e->meta[i]);
            continue;
        }
        if (m != i) {
            if (e->data) memmove(e->data + m * e->dim, e->data + i * e->dim, (size_t)e->dim * sizeof *e->data);
            else /* float16 rows kept in the copy-on-write mapping, which is writable */
                memmove((uint16_t *)(uintptr_t)e->data16 + m * e->dim, e->data16 + i * e->dim,
                        (size_t)e->dim * sizeof *e->data16);
            if (e->meta) {
                e->meta[m] = e->meta[i];
                am_meta_init(&e->meta[i]);
            }
            if (e->labels) e->labels[m] = e->labels[i];
            if (e->stats)
                memmove(e->stats + m * e->nstats, e->stats + i * e->nstats, (size_t)e->nstats * sizeof *e->stats);
        }
        m++;
    }
    e->n = m;
    return AM_OK;
}

int64_t am_embeddings_stat_index(const am_embeddings *e, const char *name)
{
    for (int64_t k = 0; k < e->nstats; k++)
        if (!strcmp(e->stat_names[k], name)) return k;
    return -1;
}

am_status am_embeddings_set_labels(am_embeddings *e, const int32_t *labels)
{
    for (int64_t i = 0; i < e->n; i++)
        if (labels[i] < 0)
            return am_error(AM_ERR_VALUE, "embeddings: negative cluster label %d at row %lld", labels[i], (long long)i);
    if (!e->labels) {
        e->labels = malloc((size_t)(e->n ? e->n : 1) * sizeof(int32_t));
        if (!e->labels) return am_error(AM_ERR_NOMEM, "embeddings: out of memory for labels");
    }
    if (e->n) memcpy(e->labels, labels, (size_t)e->n * sizeof(int32_t));
    return AM_OK;
}

am_status am_embeddings_set_model(am_embeddings *e, const char *model)
{
    free(e->model);
    e->model = NULL;
    if (!model) return AM_OK;
    e->model = strdup(model);
    return e->model ? AM_OK : am_error(AM_ERR_NOMEM, "embeddings: out of memory");
}

/* ---- safetensors form ---- */

/* The rows' metadata as one JSON array, and where each row starts in it (n + 1 offsets, the
 * last at the closing ']'), written row by row: no tree of all rows is built. */
static am_status rows_json(const am_embeddings *e, am_rows_text *b, int64_t **offsets)
{
    memset(b, 0, sizeof *b);
    int64_t *off = malloc((size_t)(e->n + 1) * sizeof *off);
    am_status s = off ? am_rows_text_put(b, "[", 1) : am_error(AM_ERR_NOMEM, "out of memory for row offsets");
    for (int64_t i = 0; i < e->n && s == AM_OK; i++) {
        if (i > 0) s = am_rows_text_put(b, ",", 1);
        off[i] = (int64_t)b->len;
        if (s != AM_OK) break;
        if (e->meta) {
            s = am_rows_text_add(b, &e->meta[i]);
        } else { /* left in the file it was read from */
            am_meta m;
            s = am_embeddings_meta(e, i, &m);
            if (s == AM_OK) s = am_rows_text_add(b, &m);
            am_meta_free(&m);
        }
    }
    if (s == AM_OK) off[e->n] = (int64_t)b->len;
    if (s == AM_OK) s = am_rows_text_put(b, "]", 1);
    if (s != AM_OK) {
        free(off), free(b->buf);
        memset(b, 0, sizeof *b);
        return s;
    }
    *offsets = off;
    return AM_OK;
}

/* The rows as F16 (n × dim half-precision values), refusing values that do not fit. */
static am_status rows_to_half(const am_embeddings *e, const char *path, uint16_t **out)
{
    uint16_t *h = malloc((size_t)(e->n ? e->n * e->dim : 1) * sizeof *h);
    if (!h) return am_error(AM_ERR_NOMEM, "%s: out of memory for F16 embeddings", path);
    for (int64_t i = 0; i < e->n * e->dim; i++) {
        h[i] = am_float_to_half(e->data[i]);
        if ((h[i] & 0x7c00) == 0x7c00) {
            free(h);
            return am_error(AM_ERR_VALUE, "%s: embedding row %lld has %g, beyond float16's range", path,
                            (long long)(i / e->dim), (double)e->data[i]);
        }
    }
    *out = h;
    return AM_OK;
}

static am_status write_as(const am_embeddings *e, const char *path, int half)
{
    am_st_writer *w = am_st_writer_new();
    if (!w) return am_error(AM_ERR_NOMEM, "%s: out of memory", path);
    am_rows_text rows;
    int64_t *offsets = NULL;
    am_status s = rows_json(e, &rows, &offsets);
    int64_t shape[2] = {e->n, e->dim};
    uint16_t *h = NULL;
    if (s == AM_OK && half) s = rows_to_half(e, path, &h);
    if (s == AM_OK)
        s = am_st_writer_add(w, "embeddings", half ? AM_DT_F16 : AM_DT_F32, 2, shape, half ? (const void *)h : e->data);
    free(h);
    if (s == AM_OK && e->labels) s = am_st_writer_add(w, "labels", AM_DT_I32, 1, shape, e->labels);
    char *names = NULL;
    if (s == AM_OK && e->nstats > 0) {
        int64_t sshape[2] = {e->n, e->nstats};
        cJSON *arr = cJSON_CreateArray();
        for (int64_t k = 0; arr && k < e->nstats; k++) cJSON_AddItemToArray(arr, cJSON_CreateString(e->stat_names[k]));
        names = arr ? cJSON_PrintUnformatted(arr) : NULL;
        cJSON_Delete(arr);
        s = names ? am_st_writer_add(w, "statistics", AM_DT_F32, 2, sshape, e->stats)
                  : am_error(AM_ERR_NOMEM, "%s: out of memory", path);
        if (s == AM_OK) s = am_st_writer_meta(w, "statistics", names);
    }
    if (s == AM_OK) s = am_st_writer_meta(w, "format", EMB_FORMAT);
    if (s == AM_OK) s = am_st_writer_meta(w, "version", EMB_VERSION);
    if (s == AM_OK && e->model) s = am_st_writer_meta(w, "model", e->model);
    if (s == AM_OK && rows.len <= am_rows_in_header_max) {
        s = am_st_writer_meta(w, "rows", rows.buf);
    } else if (s == AM_OK) {
        int64_t len = (int64_t)rows.len, noff = e->n + 1;
        s = am_st_writer_add(w, "rows_json", AM_DT_U8, 1, &len, rows.buf);
        if (s == AM_OK) s = am_st_writer_add(w, "rows_offsets", AM_DT_I64, 1, &noff, offsets);
    }
    if (s == AM_OK) s = am_st_writer_write(w, path);
    free(rows.buf), free(offsets);
    free(names);
    am_st_writer_free(w);
    return s;
}

am_status am_embeddings_write(const am_embeddings *e, const char *path) { return write_as(e, path, 0); }

am_status am_embeddings_write_f16(const am_embeddings *e, const char *path) { return write_as(e, path, 1); }

/* The table of rows lo .. lo + e->n − 1 of the metadata, from the header's 'rows' or the
 * 'rows_json' tensor (with its 'rows_offsets' when there are), or none (t->text NULL). */
static am_status rows_table(const am_embeddings *e, const am_safetensors *st, const char *path, int64_t lo,
                            int64_t total, am_rowtab *t)
{
    memset(t, 0, sizeof *t);
    const char *rows = am_st_meta(st, "rows");
    const am_st_entry *rj = am_st_find(st, "rows_json"), *ro = am_st_find(st, "rows_offsets");
    if (rows) return am_rowtab_scan(t, rows, strlen(rows), total, lo, lo + e->n, path);
    if (!rj) return AM_OK;
    if (rj->dtype != AM_DT_U8 || rj->ndim != 1)
        return am_error(AM_ERR_FORMAT, "%s: tensor 'rows_json' must be U8 and 1-D", path);
    const char *text = (const char *)st->data + rj->begin;
    size_t len = (size_t)(rj->end - rj->begin);
    if (!ro) return am_rowtab_scan(t, text, len, total, lo, lo + e->n, path);
    if (ro->dtype != AM_DT_I64 || ro->ndim != 1 || ro->shape[0] != total + 1)
        return am_error(AM_ERR_FORMAT, "%s: tensor 'rows_offsets' must be I64 of shape [%lld]", path,
                        (long long)(total + 1));
    return am_rowtab_stored(t, text, len, st->data + ro->begin, total, lo, lo + e->n, path);
}

/* The metadata of rows lo .. lo + e->n − 1: decoded into e->meta, or (lazy) its table kept in
 * e->rowtab, which then takes st over unless the rows' mapping (e->mapping) already holds it. */
static am_status read_rows_meta(am_embeddings *e, am_safetensors *st, const char *path, int64_t lo, int64_t total,
                                int lazy)
{
    am_rowtab t;
    AM_TRY(rows_table(e, st, path, lo, total, &t));
    if (!lazy) {
        am_status s = t.text ? decode_all(e, &t) : am_embeddings_meta_all(e);
        am_rowtab_free(&t);
        return s;
    }
    if (!t.text) return AM_OK;
    if (!(e->rowtab = malloc(sizeof t))) {
        am_rowtab_free(&t);
        return am_error(AM_ERR_NOMEM, "%s: out of memory", path);
    }
    if (e->mapping != st) t.owned = st;
    memcpy(e->rowtab, &t, sizeof t);
    return AM_OK;
}

/* The optional statistics: tensor [N, S] F32 and its S names. */
static am_status read_stats(am_embeddings *e, const am_safetensors *st, const char *path, int64_t lo, int64_t total)
{
    const am_st_entry *t = am_st_find(st, "statistics");
    const char *names = am_st_meta(st, "statistics");
    if (!t && !names) return AM_OK;
    if (!t || !names) return am_error(AM_ERR_FORMAT, "%s: statistics need both the tensor and their names", path);
    if (t->ndim != 2 || t->shape[0] != total || t->shape[1] < 1 || t->shape[1] > 4096 || t->dtype != AM_DT_F32)
        return am_error(AM_ERR_FORMAT, "%s: tensor 'statistics' must be F32 [%lld, S] with 1 <= S <= 4096", path,
                        (long long)total);
    cJSON *arr = cJSON_Parse(names);
    am_status s = AM_OK;
    if (!arr || !cJSON_IsArray(arr) || cJSON_GetArraySize(arr) != t->shape[1])
        s = am_error(AM_ERR_FORMAT, "%s: metadata 'statistics' must be a JSON array of %lld names", path,
                     (long long)t->shape[1]);
    const char **list = s == AM_OK ? calloc((size_t)t->shape[1], sizeof *list) : NULL;
    if (s == AM_OK && !list) s = am_error(AM_ERR_NOMEM, "%s: out of memory", path);
    int64_t k = 0;
    const cJSON *it;
    if (s == AM_OK) cJSON_ArrayForEach(it, arr)
        {
            if (!cJSON_IsString(it) || !it->valuestring[0] || strlen(it->valuestring) > 64) {
                s = am_error(AM_ERR_FORMAT, "%s: statistics name %lld is not a string of 1-64 characters", path,
                             (long long)k);
                break;
            }
            list[k++] = it->valuestring;
        }
    if (s == AM_OK) s = am_embeddings_set_stats(e, t->shape[1], list, NULL);
    if (s == AM_OK)
        memcpy(e->stats, st->data + t->begin + (size_t)(lo * e->nstats) * sizeof(float),
               (size_t)(e->n * e->nstats) * sizeof(float));
    free(list);
    cJSON_Delete(arr);
    return s;
}

/* The rows of tensor t from element `first` on: in place in the mapping when they are F32 and
 * aligned (or F16 and kept so), converted to float32 otherwise; then checked finite. */
static am_status read_data(am_embeddings *e, am_safetensors *st, const am_st_entry *t, int64_t first, unsigned flags,
                           const char *path, int64_t lo)
{
    const uint8_t *src = st->data + t->begin + (size_t)first * am_dtype_size(t->dtype);
    const int f32 = t->dtype == AM_DT_F32 && (uintptr_t)src % sizeof(float) == 0;
    const int f16 = t->dtype == AM_DT_F16 && (flags & AM_EMB_KEEP_F16) && (uintptr_t)src % sizeof(uint16_t) == 0;
    /* copy-on-write, so that callers which change rows in place still can */
    if (st->mapped && (f32 || f16) && mprotect(st->buffer, st->mapped, PROT_READ | PROT_WRITE) == 0) {
        if (f32) e->data = (float *)(uintptr_t)src;
        else e->data16 = (const uint16_t *)(const void *)src;
        e->mapping = st;
    } else {
        e->data = am_malloc((size_t)(e->n ? e->n * e->dim : 1) * sizeof(float));
        if (!e->data) return am_error(AM_ERR_NOMEM, "%s: out of memory for %lld rows", path, (long long)e->n);
        if (t->dtype == AM_DT_F16 && (uintptr_t)src % sizeof(uint16_t) == 0) {
            am_rows half = {e->n, e->dim, NULL, (const uint16_t *)(const void *)src};
            am_rows_block(&half, 0, e->n, e->data); /* by table, as the streaming readers convert */
        } else {
            am_st_elements_f32(st, t, first, e->n * e->dim, e->data);
        }
    }
    if (e->data16) {
        for (int64_t i = 0; i < e->n * e->dim; i++)
            if ((e->data16[i] & 0x7c00) == 0x7c00)
                return am_error(AM_ERR_NUMERIC, "%s: embedding row %lld has a non-finite value", path,
                                (long long)(lo + i / e->dim));
        return AM_OK;
    }
    for (int64_t i = 0; i < e->n * e->dim; i++)
        if (!(e->data[i] - e->data[i] == 0))
            return am_error(AM_ERR_NUMERIC, "%s: embedding row %lld has a non-finite value", path,
                            (long long)(lo + i / e->dim));
    return AM_OK;
}

/* Rows lo .. hi − 1 (hi < 0: to the end) of a parsed embeddings file into e, which takes st
 * over (e->mapping) when its rows stay in the mapping. */
static am_status read_st(am_embeddings *e, am_safetensors *st, const char *path, int64_t lo, int64_t hi, unsigned flags)
{
    const char *fmt = am_st_meta(st, "format");
    if (fmt && strcmp(fmt, EMB_FORMAT) != 0)
        return am_error(AM_ERR_FORMAT, "%s: format '%s' is not %s", path, fmt, EMB_FORMAT);
    const char *ver = am_st_meta(st, "version");
    if (ver && strcmp(ver, EMB_VERSION) != 0)
        return am_error(AM_ERR_FORMAT, "%s: embeddings version '%s' is not supported (expected %s)", path, ver,
                        EMB_VERSION);
    const am_st_entry *t = am_st_find(st, "embeddings");
    if (!t) return am_error(AM_ERR_FORMAT, "%s: no tensor 'embeddings'", path);
    if (t->ndim != 2 || t->shape[1] < 1 || (t->dtype != AM_DT_F32 && t->dtype != AM_DT_F16))
        return am_error(AM_ERR_FORMAT, "%s: tensor 'embeddings' must be 2-D [N, D] of F32 or F16 with D >= 1", path);
    const int64_t total = t->shape[0], dim = t->shape[1];
    if (hi < 0) hi = total;
    if (lo < 0 || lo > hi || hi > total)
        return am_error(AM_ERR_VALUE, "%s: rows %lld to %lld of %lld", path, (long long)lo, (long long)hi,
                        (long long)total);
    AM_TRY(emb_init(e, hi - lo, dim, 0, 0));
    AM_TRY(read_data(e, st, t, lo * dim, flags, path, lo));
    const am_st_entry *l = am_st_find(st, "labels");
    if (l) {
        if (l->ndim != 1 || l->shape[0] != total || (l->dtype != AM_DT_I32 && l->dtype != AM_DT_I64))
            return am_error(AM_ERR_FORMAT, "%s: tensor 'labels' must be I32 or I64 of shape [%lld]", path,
                            (long long)total);
        e->labels = malloc((size_t)(e->n ? e->n : 1) * sizeof(int32_t));
        if (!e->labels) return am_error(AM_ERR_NOMEM, "%s: out of memory", path);
        const uint8_t *p = st->data + l->begin;
        for (int64_t i = 0; i < e->n; i++) {
            int64_t v, r = lo + i;
            if (l->dtype == AM_DT_I32) {
                int32_t v32;
                memcpy(&v32, p + 4 * r, 4);
                v = v32;
            } else {
                memcpy(&v, p + 8 * r, 8);
            }
            if (v < 0 || v > AM_EMB_MAX_LABEL)
                return am_error(AM_ERR_FORMAT, "%s: cluster label %lld of row %lld is out of range", path, (long long)v,
                                (long long)r);
            e->labels[i] = (int32_t)v;
        }
    }
    AM_TRY(read_rows_meta(e, st, path, lo, total, (flags & AM_EMB_LAZY_META) != 0));
    AM_TRY(read_stats(e, st, path, lo, total));
    return am_embeddings_set_model(e, am_st_meta(st, "model"));
}

static am_status read_range(am_embeddings *e, const char *path, int64_t lo, int64_t hi, unsigned flags)
{
    memset(e, 0, sizeof *e);
    am_safetensors *st = malloc(sizeof *st);
    if (!st) return am_error(AM_ERR_NOMEM, "%s: out of memory", path);
    am_status s = am_st_read(st, path);
    if (s != AM_OK) {
        free(st);
        return s;
    }
    s = read_st(e, st, path, lo, hi, flags);
    if (e->mapping != st && !(e->rowtab && ((am_rowtab *)e->rowtab)->owned == st)) {
        am_st_free(st);
        free(st);
    }
    if (s != AM_OK) am_embeddings_free(e);
    return s;
}

am_status am_embeddings_read(am_embeddings *e, const char *path) { return read_range(e, path, 0, -1, 0); }

am_status am_embeddings_read_stream(am_embeddings *e, const char *path)
{
    return read_range(e, path, 0, -1, AM_EMB_KEEP_F16);
}

am_status am_embeddings_read_rows(am_embeddings *e, const char *path, int64_t lo, int64_t hi)
{
    return read_range(e, path, lo, hi, 0);
}

am_status am_embeddings_shape(const char *path, int64_t *n, int64_t *dim)
{
    am_safetensors st;
    AM_TRY(am_st_read(&st, path));
    const am_st_entry *t = am_st_find(&st, "embeddings");
    am_status s = t && t->ndim == 2 ? AM_OK : am_error(AM_ERR_FORMAT, "%s: no 2-D tensor 'embeddings'", path);
    if (s == AM_OK) *n = t->shape[0], *dim = t->shape[1];
    am_st_free(&st);
    return s;
}

am_status am_embeddings_load_opts(am_embeddings *e, const char *path, unsigned flags)
{
    memset(e, 0, sizeof *e);
    FILE *fp = fopen(path, "rb");
    if (!fp) return am_error(AM_ERR_IO, "%s: cannot open", path);
    unsigned char head[9];
    size_t got = fread(head, 1, sizeof head, fp);
    fclose(fp);
    /* safetensors: 8-byte little-endian header length, then the JSON header's '{'. A CSV
     * export starts with text (';' or a column name), never with a zero byte. */
    if (got == sizeof head && head[8] == '{' && head[7] == 0 && head[6] == 0) return read_range(e, path, 0, -1, flags);
    if (got == sizeof head && !memcmp(head, "SIMPLE  =", 9)) return am_embeddings_read_fits(e, path);
    return am_embeddings_read_csv(e, path);
}

am_status am_embeddings_load(am_embeddings *e, const char *path) { return am_embeddings_load_opts(e, path, 0); }

am_status am_embeddings_load_stream(am_embeddings *e, const char *path)
{
    return am_embeddings_load_opts(e, path, AM_EMB_KEEP_F16);
}

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

#define EMB_FORMAT "astromorph.embeddings"
#define EMB_VERSION "1"

/* Row metadata longer than this goes into a U8 tensor "rows_json" instead of __metadata__, which
 * safetensors readers (ours included) cap at 100 MB of header: about 300 000 rows fit below it. */
enum { ROWS_IN_HEADER_MAX = 48 * 1000 * 1000 };

/* n rows of metadata, and of zeros unless the rows will point into a mapped file. */
static am_status emb_init(am_embeddings *e, int64_t n, int64_t dim, int with_data)
{
    memset(e, 0, sizeof *e);
    if (n < 0 || dim < 1)
        return am_error(AM_ERR_VALUE, "embeddings: bad size %lld x %lld", (long long)n, (long long)dim);
    e->n = n;
    e->dim = dim;
    if (with_data) e->data = am_calloc((size_t)(n ? n : 1) * (size_t)dim, sizeof(float));
    e->meta = calloc((size_t)(n ? n : 1), sizeof(am_meta));
    if ((with_data && !e->data) || !e->meta) {
        am_embeddings_free(e);
        return am_error(AM_ERR_NOMEM, "embeddings: out of memory for %lld x %lld", (long long)n, (long long)dim);
    }
    for (int64_t i = 0; i < n; i++) am_meta_init(&e->meta[i]);
    return AM_OK;
}

am_status am_embeddings_alloc(am_embeddings *e, int64_t n, int64_t dim) { return emb_init(e, n, dim, 1); }

am_rows am_embeddings_rows(const am_embeddings *e) { return (am_rows){e->n, e->dim, e->data, e->data16}; }

void am_embeddings_free(am_embeddings *e)
{
    if (!e) return;
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
    int64_t m = 0;
    for (int64_t i = 0; i < e->n; i++) {
        if (!keep[i]) {
            am_meta_free(&e->meta[i]);
            continue;
        }
        if (m != i) {
            if (e->data) memmove(e->data + m * e->dim, e->data + i * e->dim, (size_t)e->dim * sizeof *e->data);
            else /* float16 rows kept in the copy-on-write mapping, which is writable */
                memmove((uint16_t *)(uintptr_t)e->data16 + m * e->dim, e->data16 + i * e->dim,
                        (size_t)e->dim * sizeof *e->data16);
            e->meta[m] = e->meta[i];
            am_meta_init(&e->meta[i]);
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

static char *rows_json(const am_embeddings *e)
{
    cJSON *arr = cJSON_CreateArray();
    if (!arr) return NULL;
    for (int64_t i = 0; i < e->n; i++) {
        const am_meta *m = &e->meta[i];
        cJSON *o = cJSON_CreateObject();
        if (!o) goto fail;
        cJSON_AddItemToArray(arr, o);
        if (!cJSON_AddStringToObject(o, "object", m->object) || !cJSON_AddStringToObject(o, "ra", m->ra) ||
            !cJSON_AddStringToObject(o, "dec", m->dec) || !cJSON_AddStringToObject(o, "restfreq", m->restfreq) ||
            !(m->filepath ? cJSON_AddStringToObject(o, "filepath", m->filepath)
                          : cJSON_AddNullToObject(o, "filepath")) ||
            !(m->extra ? cJSON_AddStringToObject(o, "extra", m->extra) : cJSON_AddNullToObject(o, "extra")))
            goto fail;
        /* the position in degrees and where it came from, when known (version 1 files lack them) */
        if (m->radec_from[0] &&
            (!cJSON_AddNumberToObject(o, "ra_deg", m->ra_deg) || !cJSON_AddNumberToObject(o, "dec_deg", m->dec_deg) ||
             !cJSON_AddStringToObject(o, "radec_from", m->radec_from)))
            goto fail;
        if (m->hdu > 0 && !cJSON_AddNumberToObject(o, "hdu", m->hdu)) goto fail;
    }
    char *s = cJSON_PrintUnformatted(arr);
    cJSON_Delete(arr);
    return s;
fail:
    cJSON_Delete(arr);
    return NULL;
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
    char *rows = rows_json(e);
    am_status s = rows ? AM_OK : am_error(AM_ERR_NOMEM, "%s: out of memory for row metadata", path);
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
    if (s == AM_OK) {
        int64_t len = (int64_t)strlen(rows);
        s = len <= ROWS_IN_HEADER_MAX ? am_st_writer_meta(w, "rows", rows)
                                      : am_st_writer_add(w, "rows_json", AM_DT_U8, 1, &len, rows);
    }
    if (s == AM_OK) s = am_st_writer_write(w, path);
    free(rows);
    free(names);
    am_st_writer_free(w);
    return s;
}

am_status am_embeddings_write(const am_embeddings *e, const char *path) { return write_as(e, path, 0); }

am_status am_embeddings_write_f16(const am_embeddings *e, const char *path) { return write_as(e, path, 1); }

/* Copies a JSON string member into a fixed metadata field ("N/A" when absent or null). */
static am_status json_field(const cJSON *o, const char *key, char *dst, const char *path, int64_t row)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v || cJSON_IsNull(v)) return AM_OK;
    if (!cJSON_IsString(v))
        return am_error(AM_ERR_FORMAT, "%s: rows[%lld].%s is not a string", path, (long long)row, key);
    if (strlen(v->valuestring) >= AM_META_LEN)
        return am_error(AM_ERR_FORMAT, "%s: rows[%lld].%s is longer than %d characters", path, (long long)row, key,
                        AM_META_LEN - 1);
    strcpy(dst, v->valuestring);
    return AM_OK;
}

static am_status json_dup(const cJSON *o, const char *key, char **dst, const char *path, int64_t row)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v || cJSON_IsNull(v)) return AM_OK;
    if (!cJSON_IsString(v))
        return am_error(AM_ERR_FORMAT, "%s: rows[%lld].%s is not a string", path, (long long)row, key);
    *dst = strdup(v->valuestring);
    return *dst ? AM_OK : am_error(AM_ERR_NOMEM, "%s: out of memory", path);
}

/* ra_deg, dec_deg, radec_from and hdu: all three position members or none; checked ranges. */
static am_status json_position(const cJSON *o, am_meta *m, const char *path, int64_t row)
{
    const cJSON *ra = cJSON_GetObjectItemCaseSensitive(o, "ra_deg"),
                *dec = cJSON_GetObjectItemCaseSensitive(o, "dec_deg");
    const cJSON *from = cJSON_GetObjectItemCaseSensitive(o, "radec_from"),
                *hdu = cJSON_GetObjectItemCaseSensitive(o, "hdu");
    if (hdu && (!cJSON_IsNumber(hdu) || hdu->valuedouble < 1 || hdu->valuedouble > 100000))
        return am_error(AM_ERR_FORMAT, "%s: rows[%lld].hdu is not an HDU number", path, (long long)row);
    if (hdu) m->hdu = (int)hdu->valuedouble;
    if (!ra && !dec && !from) return AM_OK;
    if (!cJSON_IsNumber(ra) || !cJSON_IsNumber(dec) || !cJSON_IsString(from) ||
        strlen(from->valuestring) >= sizeof m->radec_from || !(ra->valuedouble >= 0 && ra->valuedouble < 360) ||
        !(fabs(dec->valuedouble) <= 90))
        return am_error(AM_ERR_FORMAT, "%s: rows[%lld]: ra_deg, dec_deg and radec_from must be a position", path,
                        (long long)row);
    m->ra_deg = ra->valuedouble, m->dec_deg = dec->valuedouble;
    strcpy(m->radec_from, from->valuestring);
    return AM_OK;
}

/* Rows lo .. lo + e->n − 1 of the metadata array `json` (len bytes) of `total` rows into e. */
static am_status parse_rows(am_embeddings *e, const char *json, size_t len, const char *path, int64_t lo, int64_t total)
{
    cJSON *arr = cJSON_ParseWithLength(json, len);
    if (!arr) return am_error(AM_ERR_FORMAT, "%s: metadata 'rows' is not valid JSON", path);
    am_status s = AM_OK;
    if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) != total) {
        s = am_error(AM_ERR_FORMAT, "%s: metadata 'rows' must be an array of %lld objects", path, (long long)total);
        goto done;
    }
    int64_t i = 0, at = -1;
    const cJSON *o;
    cJSON_ArrayForEach(o, arr)
    {
        if (++at < lo) continue;
        if (i == e->n) break;
        if (!cJSON_IsObject(o)) {
            s = am_error(AM_ERR_FORMAT, "%s: rows[%lld] is not an object", path, (long long)i);
            goto done;
        }
        am_meta *m = &e->meta[i];
        const int64_t r = lo + i; /* the file's row, for messages */
        if ((s = json_field(o, "object", m->object, path, r)) || (s = json_field(o, "ra", m->ra, path, r)) ||
            (s = json_field(o, "dec", m->dec, path, r)) || (s = json_field(o, "restfreq", m->restfreq, path, r)) ||
            (s = json_dup(o, "filepath", &m->filepath, path, r)) || (s = json_dup(o, "extra", &m->extra, path, r)))
            goto done;
        if ((s = json_position(o, m, path, r))) goto done;
        i++;
    }
done:
    cJSON_Delete(arr);
    return s;
}

/* Where elements lo .. hi − 1 of the JSON array text[0..len) lie, as text[*a..*b) (without the
 * brackets), found by counting top-level commas outside strings: one MPI rank's rows of a large
 * file are then parsed without building the whole array. */
static int element_slice(const char *text, size_t len, int64_t lo, int64_t hi, size_t *a, size_t *b)
{
    size_t p = 0;
    while (p < len && text[p] != '[') p++;
    if (p == len) return 0;
    int64_t elem = 0;
    int depth = 0, in_str = 0;
    *a = lo == 0 ? p + 1 : 0, *b = 0;
    for (size_t q = p + 1; q < len; q++) {
        char ch = text[q];
        if (in_str) {
            if (ch == '\\') q++;
            else if (ch == '"') in_str = 0;
            continue;
        }
        if (ch == '"') in_str = 1;
        else if (ch == '{' || ch == '[') depth++;
        else if ((ch == '}' || ch == ']') && depth > 0) depth--;
        else if ((ch == ',' && depth == 0) || (ch == ']' && depth == 0)) {
            elem++;
            if (elem == lo) *a = q + 1;
            if (elem == hi || ch == ']') {
                *b = q;
                return elem == hi;
            }
        }
    }
    return 0;
}

/* Rows lo .. lo + e->n − 1 of the metadata, from the header's 'rows' or the 'rows_json' tensor. */
static am_status read_rows_meta(am_embeddings *e, const am_safetensors *st, const char *path, int64_t lo, int64_t total)
{
    const char *rows = am_st_meta(st, "rows");
    const am_st_entry *rj = am_st_find(st, "rows_json");
    if (rows) return parse_rows(e, rows, strlen(rows), path, lo, total);
    if (!rj) return AM_OK;
    if (rj->dtype != AM_DT_U8 || rj->ndim != 1)
        return am_error(AM_ERR_FORMAT, "%s: tensor 'rows_json' must be U8 and 1-D", path);
    const char *text = (const char *)st->data + rj->begin;
    size_t len = (size_t)(rj->end - rj->begin);
    if (lo == 0 && e->n == total) return parse_rows(e, text, len, path, 0, total);
    if (e->n == 0) return AM_OK;
    size_t a, b;
    if (!element_slice(text, len, lo, lo + e->n, &a, &b))
        return am_error(AM_ERR_FORMAT, "%s: 'rows_json' has fewer than %lld rows", path, (long long)(lo + e->n));
    char *part = malloc(b - a + 3);
    if (!part) return am_error(AM_ERR_NOMEM, "%s: out of memory", path);
    part[0] = '[';
    memcpy(part + 1, text + a, b - a);
    part[b - a + 1] = ']', part[b - a + 2] = 0;
    am_status s = parse_rows(e, part, b - a + 2, path, 0, e->n);
    free(part);
    return s;
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
static am_status read_data(am_embeddings *e, am_safetensors *st, const am_st_entry *t, int64_t first, int keep16,
                           const char *path, int64_t lo)
{
    const uint8_t *src = st->data + t->begin + (size_t)first * am_dtype_size(t->dtype);
    const int f32 = t->dtype == AM_DT_F32 && (uintptr_t)src % sizeof(float) == 0;
    const int f16 = t->dtype == AM_DT_F16 && keep16 && (uintptr_t)src % sizeof(uint16_t) == 0;
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
static am_status read_st(am_embeddings *e, am_safetensors *st, const char *path, int64_t lo, int64_t hi, int keep16)
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
    AM_TRY(emb_init(e, hi - lo, dim, 0));
    AM_TRY(read_data(e, st, t, lo * dim, keep16, path, lo));
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
    AM_TRY(read_rows_meta(e, st, path, lo, total));
    AM_TRY(read_stats(e, st, path, lo, total));
    return am_embeddings_set_model(e, am_st_meta(st, "model"));
}

static am_status read_range(am_embeddings *e, const char *path, int64_t lo, int64_t hi, int keep16)
{
    memset(e, 0, sizeof *e);
    am_safetensors *st = malloc(sizeof *st);
    if (!st) return am_error(AM_ERR_NOMEM, "%s: out of memory", path);
    am_status s = am_st_read(st, path);
    if (s != AM_OK) {
        free(st);
        return s;
    }
    s = read_st(e, st, path, lo, hi, keep16);
    if (e->mapping != st) {
        am_st_free(st);
        free(st);
    }
    if (s != AM_OK) am_embeddings_free(e);
    return s;
}

am_status am_embeddings_read(am_embeddings *e, const char *path) { return read_range(e, path, 0, -1, 0); }

am_status am_embeddings_read_stream(am_embeddings *e, const char *path) { return read_range(e, path, 0, -1, 1); }

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

static am_status load(am_embeddings *e, const char *path, int keep16)
{
    memset(e, 0, sizeof *e);
    FILE *fp = fopen(path, "rb");
    if (!fp) return am_error(AM_ERR_IO, "%s: cannot open", path);
    unsigned char head[9];
    size_t got = fread(head, 1, sizeof head, fp);
    fclose(fp);
    /* safetensors: 8-byte little-endian header length, then the JSON header's '{'. A CSV
     * export starts with text (';' or a column name), never with a zero byte. */
    if (got == sizeof head && head[8] == '{' && head[7] == 0 && head[6] == 0) return read_range(e, path, 0, -1, keep16);
    if (got == sizeof head && !memcmp(head, "SIMPLE  =", 9)) return am_embeddings_read_fits(e, path);
    return am_embeddings_read_csv(e, path);
}

am_status am_embeddings_load(am_embeddings *e, const char *path) { return load(e, path, 0); }

am_status am_embeddings_load_stream(am_embeddings *e, const char *path) { return load(e, path, 1); }

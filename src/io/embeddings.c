/* The embeddings container and its native safetensors form (the CSV form is embeddings_csv.c). */
#include "astromorph/embeddings.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "astromorph/safetensors.h"
#include "astromorph/tensor.h"

#define EMB_FORMAT "astromorph.embeddings"
#define EMB_VERSION "1"

/* Row metadata longer than this goes into a U8 tensor "rows_json" instead of __metadata__, which
 * safetensors readers (ours included) cap at 100 MB of header: about 300 000 rows fit below it. */
enum { ROWS_IN_HEADER_MAX = 48 * 1000 * 1000 };

am_status am_embeddings_alloc(am_embeddings *e, int64_t n, int64_t dim)
{
    memset(e, 0, sizeof *e);
    if (n < 0 || dim < 1)
        return am_error(AM_ERR_VALUE, "embeddings: bad size %lld x %lld", (long long)n, (long long)dim);
    e->n = n;
    e->dim = dim;
    e->data = am_calloc((size_t)(n ? n : 1) * (size_t)dim, sizeof(float));
    e->meta = calloc((size_t)(n ? n : 1), sizeof(am_meta));
    if (!e->data || !e->meta) {
        am_embeddings_free(e);
        return am_error(AM_ERR_NOMEM, "embeddings: out of memory for %lld x %lld", (long long)n, (long long)dim);
    }
    for (int64_t i = 0; i < n; i++) am_meta_init(&e->meta[i]);
    return AM_OK;
}

void am_embeddings_free(am_embeddings *e)
{
    if (!e) return;
    if (e->meta)
        for (int64_t i = 0; i < e->n; i++) am_meta_free(&e->meta[i]);
    free(e->meta);
    am_free(e->data);
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
            memmove(e->data + m * e->dim, e->data + i * e->dim, (size_t)e->dim * sizeof *e->data);
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

am_status am_embeddings_write(const am_embeddings *e, const char *path)
{
    am_st_writer *w = am_st_writer_new();
    if (!w) return am_error(AM_ERR_NOMEM, "%s: out of memory", path);
    char *rows = rows_json(e);
    am_status s = rows ? AM_OK : am_error(AM_ERR_NOMEM, "%s: out of memory for row metadata", path);
    int64_t shape[2] = {e->n, e->dim};
    if (s == AM_OK) s = am_st_writer_add(w, "embeddings", AM_DT_F32, 2, shape, e->data);
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

static am_status parse_rows(am_embeddings *e, const char *json, const char *path)
{
    cJSON *arr = cJSON_Parse(json);
    if (!arr) return am_error(AM_ERR_FORMAT, "%s: metadata 'rows' is not valid JSON", path);
    am_status s = AM_OK;
    if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) != e->n) {
        s = am_error(AM_ERR_FORMAT, "%s: metadata 'rows' must be an array of %lld objects", path, (long long)e->n);
        goto done;
    }
    int64_t i = 0;
    const cJSON *o;
    cJSON_ArrayForEach(o, arr)
    {
        if (!cJSON_IsObject(o)) {
            s = am_error(AM_ERR_FORMAT, "%s: rows[%lld] is not an object", path, (long long)i);
            goto done;
        }
        am_meta *m = &e->meta[i];
        if ((s = json_field(o, "object", m->object, path, i)) || (s = json_field(o, "ra", m->ra, path, i)) ||
            (s = json_field(o, "dec", m->dec, path, i)) || (s = json_field(o, "restfreq", m->restfreq, path, i)) ||
            (s = json_dup(o, "filepath", &m->filepath, path, i)) || (s = json_dup(o, "extra", &m->extra, path, i)))
            goto done;
        if ((s = json_position(o, m, path, i))) goto done;
        i++;
    }
done:
    cJSON_Delete(arr);
    return s;
}

/* The optional statistics: tensor [N, S] F32 and its S names. */
static am_status read_stats(am_embeddings *e, const am_safetensors *st, const char *path)
{
    const am_st_entry *t = am_st_find(st, "statistics");
    const char *names = am_st_meta(st, "statistics");
    if (!t && !names) return AM_OK;
    if (!t || !names) return am_error(AM_ERR_FORMAT, "%s: statistics need both the tensor and their names", path);
    if (t->ndim != 2 || t->shape[0] != e->n || t->shape[1] < 1 || t->shape[1] > 4096)
        return am_error(AM_ERR_FORMAT, "%s: tensor 'statistics' must be [%lld, S] with 1 <= S <= 4096", path,
                        (long long)e->n);
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
    if (s == AM_OK) s = am_st_copy_f32(st, "statistics", e->stats, e->n * e->nstats);
    free(list);
    cJSON_Delete(arr);
    return s;
}

static am_status read_st(am_embeddings *e, const am_safetensors *st, const char *path)
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
    if (t->ndim != 2 || t->shape[1] < 1)
        return am_error(AM_ERR_FORMAT, "%s: tensor 'embeddings' must be 2-D [N, D] with D >= 1", path);
    AM_TRY(am_embeddings_alloc(e, t->shape[0], t->shape[1]));
    AM_TRY(am_st_copy_f32(st, "embeddings", e->data, e->n * e->dim));
    for (int64_t i = 0; i < e->n * e->dim; i++)
        if (!(e->data[i] - e->data[i] == 0))
            return am_error(AM_ERR_NUMERIC, "%s: embedding row %lld has a non-finite value", path,
                            (long long)(i / e->dim));
    const am_st_entry *l = am_st_find(st, "labels");
    if (l) {
        if (l->ndim != 1 || l->shape[0] != e->n || (l->dtype != AM_DT_I32 && l->dtype != AM_DT_I64))
            return am_error(AM_ERR_FORMAT, "%s: tensor 'labels' must be I32 or I64 of shape [%lld]", path,
                            (long long)e->n);
        e->labels = malloc((size_t)(e->n ? e->n : 1) * sizeof(int32_t));
        if (!e->labels) return am_error(AM_ERR_NOMEM, "%s: out of memory", path);
        const uint8_t *p = st->data + l->begin;
        for (int64_t i = 0; i < e->n; i++) {
            int64_t v;
            if (l->dtype == AM_DT_I32) {
                int32_t v32;
                memcpy(&v32, p + 4 * i, 4);
                v = v32;
            } else {
                memcpy(&v, p + 8 * i, 8);
            }
            if (v < 0 || v > AM_EMB_MAX_LABEL)
                return am_error(AM_ERR_FORMAT, "%s: cluster label %lld of row %lld is out of range", path, (long long)v,
                                (long long)i);
            e->labels[i] = (int32_t)v;
        }
    }
    const char *rows = am_st_meta(st, "rows");
    const am_st_entry *rj = am_st_find(st, "rows_json");
    if (rows) {
        AM_TRY(parse_rows(e, rows, path));
    } else if (rj) {
        if (rj->dtype != AM_DT_U8 || rj->ndim != 1)
            return am_error(AM_ERR_FORMAT, "%s: tensor 'rows_json' must be U8 and 1-D", path);
        size_t len = (size_t)(rj->end - rj->begin);
        char *text = malloc(len + 1);
        if (!text) return am_error(AM_ERR_NOMEM, "%s: out of memory", path);
        memcpy(text, st->data + rj->begin, len);
        text[len] = 0;
        am_status s = parse_rows(e, text, path);
        free(text);
        AM_TRY(s);
    }
    AM_TRY(read_stats(e, st, path));
    return am_embeddings_set_model(e, am_st_meta(st, "model"));
}

am_status am_embeddings_read(am_embeddings *e, const char *path)
{
    memset(e, 0, sizeof *e);
    am_safetensors st;
    AM_TRY(am_st_read(&st, path));
    am_status s = read_st(e, &st, path);
    am_st_free(&st);
    if (s != AM_OK) am_embeddings_free(e);
    return s;
}

am_status am_embeddings_load(am_embeddings *e, const char *path)
{
    memset(e, 0, sizeof *e);
    FILE *fp = fopen(path, "rb");
    if (!fp) return am_error(AM_ERR_IO, "%s: cannot open", path);
    unsigned char head[9];
    size_t got = fread(head, 1, sizeof head, fp);
    fclose(fp);
    /* safetensors: 8-byte little-endian header length, then the JSON header's '{'. A CSV
     * export starts with text (';' or a column name), never with a zero byte. */
    if (got == sizeof head && head[8] == '{' && head[7] == 0 && head[6] == 0) return am_embeddings_read(e, path);
    if (got == sizeof head && !memcmp(head, "SIMPLE  =", 9)) return am_embeddings_read_fits(e, path);
    return am_embeddings_read_csv(e, path);
}

/* safetensors reader (untrusted input) and writer. */
#include "astromorph/safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "astromorph/rows.h"
#include "astromorph/runtime.h"

enum { ST_MAX_HEADER = 100 * 1000 * 1000 };

static const struct {
    am_dtype dt;
    const char *name;
    size_t size;
} dtypes[] = {
    {AM_DT_F32, "F32", 4}, {AM_DT_F64, "F64", 8},   {AM_DT_F16, "F16", 2}, {AM_DT_BF16, "BF16", 2},
    {AM_DT_I64, "I64", 8}, {AM_DT_I32, "I32", 4},   {AM_DT_I16, "I16", 2}, {AM_DT_I8, "I8", 1},
    {AM_DT_U8, "U8", 1},   {AM_DT_BOOL, "BOOL", 1},
};

size_t am_dtype_size(am_dtype dt)
{
    for (size_t i = 0; i < sizeof dtypes / sizeof *dtypes; i++)
        if (dtypes[i].dt == dt) return dtypes[i].size;
    return 0;
}

const char *am_dtype_name(am_dtype dt)
{
    for (size_t i = 0; i < sizeof dtypes / sizeof *dtypes; i++)
        if (dtypes[i].dt == dt) return dtypes[i].name;
    return "?";
}

static int dtype_from_name(const char *s, am_dtype *dt)
{
    for (size_t i = 0; i < sizeof dtypes / sizeof *dtypes; i++)
        if (strcmp(dtypes[i].name, s) == 0) {
            *dt = dtypes[i].dt;
            return 1;
        }
    return 0;
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

void am_st_free(am_safetensors *st)
{
    if (!st) return;
    for (size_t i = 0; i < st->count; i++) free(st->entries[i].name);
    free(st->entries);
    for (size_t i = 0; i < st->meta_count; i++) {
        free(st->meta_keys[i]);
        free(st->meta_values[i]);
    }
    free(st->meta_keys);
    free(st->meta_values);
    if (st->mapped) munmap(st->buffer, st->mapped);
    else free(st->buffer);
    memset(st, 0, sizeof *st);
}

static int cmp_entry_begin(const void *a, const void *b)
{
    const am_st_entry *x = a, *y = b;
    return (x->begin > y->begin) - (x->begin < y->begin);
}

static int cmp_entry_name(const void *a, const void *b)
{
    return strcmp(((const am_st_entry *)a)->name, ((const am_st_entry *)b)->name);
}

/* A JSON number that is a non-negative integer exactly representable. */
static int json_uint(const cJSON *j, uint64_t *out)
{
    if (!cJSON_IsNumber(j)) return 0;
    double v = j->valuedouble;
    if (!(v >= 0) || v > 9007199254740992.0 || floor(v) != v) return 0;
    *out = (uint64_t)v;
    return 1;
}

static am_status parse_metadata(am_safetensors *st, const cJSON *meta, const char *label)
{
    if (!cJSON_IsObject(meta)) return am_error(AM_ERR_FORMAT, "%s: __metadata__ is not an object", label);
    size_t n = (size_t)cJSON_GetArraySize(meta);
    st->meta_keys = calloc(n ? n : 1, sizeof(char *));
    st->meta_values = calloc(n ? n : 1, sizeof(char *));
    if (!st->meta_keys || !st->meta_values) return am_error(AM_ERR_NOMEM, "%s: out of memory", label);
    const cJSON *m;
    cJSON_ArrayForEach(m, meta)
    {
        if (!cJSON_IsString(m))
            return am_error(AM_ERR_FORMAT, "%s: metadata value '%s' is not a string", label, m->string);
        st->meta_keys[st->meta_count] = dup_str(m->string);
        st->meta_values[st->meta_count] = dup_str(m->valuestring);
        st->meta_count++;
        if (!st->meta_keys[st->meta_count - 1] || !st->meta_values[st->meta_count - 1])
            return am_error(AM_ERR_NOMEM, "%s: out of memory", label);
    }
    return AM_OK;
}

static am_status parse_entry(am_st_entry *e, const cJSON *j, const char *label)
{
    const char *name = j->string;
    if (!cJSON_IsObject(j)) return am_error(AM_ERR_FORMAT, "%s: tensor '%s' is not an object", label, name);
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(j, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(j, "shape");
    const cJSON *offs = cJSON_GetObjectItemCaseSensitive(j, "data_offsets");
    if (!cJSON_IsString(dt) || !cJSON_IsArray(shape) || !cJSON_IsArray(offs))
        return am_error(AM_ERR_FORMAT, "%s: tensor '%s' lacks dtype, shape or data_offsets", label, name);
    if (!dtype_from_name(dt->valuestring, &e->dtype))
        return am_error(AM_ERR_FORMAT, "%s: tensor '%s' has unknown dtype '%s'", label, name, dt->valuestring);
    int nd = cJSON_GetArraySize(shape);
    if (nd > AM_MAX_DIMS)
        return am_error(AM_ERR_FORMAT, "%s: tensor '%s' has rank %d > %d", label, name, nd, AM_MAX_DIMS);
    e->ndim = nd;
    uint64_t count = 1;
    for (int i = 0; i < nd; i++) {
        uint64_t d;
        if (!json_uint(cJSON_GetArrayItem(shape, i), &d) || d > ((uint64_t)1 << 40))
            return am_error(AM_ERR_FORMAT, "%s: tensor '%s' has a bad shape", label, name);
        if (d && count > ((uint64_t)1 << 50) / d)
            return am_error(AM_ERR_FORMAT, "%s: tensor '%s' is too large", label, name);
        count *= d;
        e->shape[i] = (int64_t)d;
    }
    if (cJSON_GetArraySize(offs) != 2 || !json_uint(cJSON_GetArrayItem(offs, 0), &e->begin) ||
        !json_uint(cJSON_GetArrayItem(offs, 1), &e->end) || e->end < e->begin)
        return am_error(AM_ERR_FORMAT, "%s: tensor '%s' has bad data_offsets", label, name);
    if (e->end - e->begin != count * am_dtype_size(e->dtype))
        return am_error(AM_ERR_FORMAT, "%s: tensor '%s': %llu bytes do not match its shape and dtype", label, name,
                        (unsigned long long)(e->end - e->begin));
    e->name = dup_str(name);
    if (!e->name) return am_error(AM_ERR_NOMEM, "%s: out of memory", label);
    return AM_OK;
}

static am_status parse_owned(am_safetensors *st, const char *label)
{
    const uint8_t *b = st->buffer;
    size_t len = (size_t)st->data_len; /* whole file length, for now */
    if (len < 8) return am_error(AM_ERR_FORMAT, "%s: too short for a safetensors file (%zu bytes)", label, len);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | b[i];
    if (hlen > ST_MAX_HEADER || hlen > len - 8)
        return am_error(AM_ERR_FORMAT, "%s: header length %llu exceeds the file (%zu bytes)", label,
                        (unsigned long long)hlen, len);
    if (hlen < 2 || b[8] != '{') return am_error(AM_ERR_FORMAT, "%s: header is not a JSON object", label);
    const char *parse_end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts((const char *)b + 8, (size_t)hlen, &parse_end, 0);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return am_error(AM_ERR_FORMAT, "%s: header is not valid JSON", label);
    }
    /* Only trailing spaces (padding) may follow the JSON object. */
    for (const char *p = parse_end; p < (const char *)b + 8 + hlen; p++)
        if (*p != ' ' && *p != '\0') {
            cJSON_Delete(root);
            return am_error(AM_ERR_FORMAT, "%s: junk after the JSON header", label);
        }
    st->data = b + 8 + hlen;
    st->data_len = len - 8 - hlen;
    size_t n = (size_t)cJSON_GetArraySize(root);
    st->entries = calloc(n ? n : 1, sizeof *st->entries);
    if (!st->entries) {
        cJSON_Delete(root);
        return am_error(AM_ERR_NOMEM, "%s: out of memory", label);
    }
    am_status s = AM_OK;
    const cJSON *j;
    cJSON_ArrayForEach(j, root)
    {
        if (!j->string) {
            s = am_error(AM_ERR_FORMAT, "%s: unnamed header entry", label);
            break;
        }
        if (strcmp(j->string, "__metadata__") == 0) {
            if (st->meta_keys) {
                s = am_error(AM_ERR_FORMAT, "%s: duplicate __metadata__", label);
                break;
            }
            if ((s = parse_metadata(st, j, label)) != AM_OK) break;
            continue;
        }
        if ((s = parse_entry(&st->entries[st->count], j, label)) != AM_OK) break;
        st->count++;
    }
    cJSON_Delete(root);
    if (s != AM_OK) return s;
    /* Duplicate names. */
    qsort(st->entries, st->count, sizeof *st->entries, cmp_entry_name);
    for (size_t i = 1; i < st->count; i++)
        if (strcmp(st->entries[i - 1].name, st->entries[i].name) == 0)
            return am_error(AM_ERR_FORMAT, "%s: duplicate tensor '%s'", label, st->entries[i].name);
    /* Offsets must tile the data section exactly: no gaps, no overlaps, nothing out of range. */
    qsort(st->entries, st->count, sizeof *st->entries, cmp_entry_begin);
    uint64_t pos = 0;
    for (size_t i = 0; i < st->count; i++) {
        if (st->entries[i].begin != pos)
            return am_error(AM_ERR_FORMAT, "%s: tensor '%s' data overlaps or leaves a gap", label, st->entries[i].name);
        pos = st->entries[i].end;
    }
    /* before any tensor is touched: a mapped file shorter than its header says would fault */
    if (pos > st->data_len)
        return am_error(AM_ERR_FORMAT,
                        "%s: truncated: the header promises %llu bytes of tensor data, the file holds %llu", label,
                        (unsigned long long)pos, (unsigned long long)st->data_len);
    if (pos != st->data_len)
        return am_error(AM_ERR_FORMAT, "%s: tensor data covers %llu of %llu bytes", label, (unsigned long long)pos,
                        (unsigned long long)st->data_len);
    return AM_OK;
}

am_status am_st_parse(am_safetensors *st, const uint8_t *bytes, size_t len, const char *label)
{
    memset(st, 0, sizeof *st);
    st->buffer = malloc(len ? len : 1);
    if (!st->buffer) return am_error(AM_ERR_NOMEM, "%s: out of memory", label);
    if (len) memcpy(st->buffer, bytes, len);
    st->data_len = len;
    am_status s = parse_owned(st, label);
    if (s != AM_OK) am_st_free(st);
    return s;
}

am_status am_st_read(am_safetensors *st, const char *path)
{
    memset(st, 0, sizeof *st);
    FILE *fp = fopen(path, "rb");
    if (!fp) return am_error(AM_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    if (fseek(fp, 0, SEEK_END) != 0) {
        fclose(fp);
        return am_error(AM_ERR_IO, "%s: cannot seek", path);
    }
    long size = ftell(fp);
    rewind(fp);
    if (size < 0) {
        fclose(fp);
        return am_error(AM_ERR_IO, "%s: cannot tell size", path);
    }
    /* Mapped, not read: a reader of a few rows of a large file (one MPI rank's share of the
     * embeddings) touches only their pages. Files are replaced by rename, never rewritten in
     * place, so the mapping stays valid. */
    void *map = size > 0 ? mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fileno(fp), 0) : MAP_FAILED;
    if (map != MAP_FAILED) {
        fclose(fp);
        st->buffer = map, st->mapped = (size_t)size, st->data_len = (uint64_t)size;
        am_status s = parse_owned(st, path);
        if (s != AM_OK) am_st_free(st);
        return s;
    }
    st->buffer = malloc(size ? (size_t)size : 1);
    if (!st->buffer) {
        fclose(fp);
        return am_error(AM_ERR_NOMEM, "%s: cannot allocate %ld bytes", path, size);
    }
    size_t got = fread(st->buffer, 1, (size_t)size, fp);
    fclose(fp);
    if (got != (size_t)size) {
        am_st_free(st);
        return am_error(AM_ERR_IO, "%s: short read", path);
    }
    st->data_len = (uint64_t)size;
    am_status s = parse_owned(st, path);
    if (s != AM_OK) am_st_free(st);
    return s;
}

const am_st_entry *am_st_find(const am_safetensors *st, const char *name)
{
    for (size_t i = 0; i < st->count; i++)
        if (strcmp(st->entries[i].name, name) == 0) return &st->entries[i];
    return NULL;
}

const char *am_st_meta(const am_safetensors *st, const char *key)
{
    for (size_t i = 0; i < st->meta_count; i++)
        if (strcmp(st->meta_keys[i], key) == 0) return st->meta_values[i];
    return NULL;
}

static void convert_to_f32(const am_st_entry *e, const uint8_t *src, float *dst, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        const uint8_t *p = src + (size_t)i * am_dtype_size(e->dtype);
        switch (e->dtype) {
        case AM_DT_F32: {
            float v;
            memcpy(&v, p, 4);
            dst[i] = v;
            break;
        }
        case AM_DT_F64: {
            double v;
            memcpy(&v, p, 8);
            dst[i] = (float)v;
            break;
        }
        case AM_DT_F16: {
            uint16_t v;
            memcpy(&v, p, 2);
            dst[i] = am_half_to_float(v);
            break;
        }
        case AM_DT_BF16: {
            uint16_t v;
            memcpy(&v, p, 2);
            uint32_t b = (uint32_t)v << 16;
            memcpy(&dst[i], &b, 4);
            break;
        }
        case AM_DT_I64: {
            int64_t v;
            memcpy(&v, p, 8);
            dst[i] = (float)v;
            break;
        }
        case AM_DT_I32: {
            int32_t v;
            memcpy(&v, p, 4);
            dst[i] = (float)v;
            break;
        }
        case AM_DT_I16: {
            int16_t v;
            memcpy(&v, p, 2);
            dst[i] = (float)v;
            break;
        }
        case AM_DT_I8: dst[i] = (float)(int8_t)*p; break;
        case AM_DT_U8:
        case AM_DT_BOOL: dst[i] = (float)*p; break;
        }
    }
}

am_status am_st_copy_f32(const am_safetensors *st, const char *name, float *dst, int64_t count)
{
    const am_st_entry *e = am_st_find(st, name);
    if (!e) return am_error(AM_ERR_NOTFOUND, "no tensor '%s'", name);
    int64_t n = 1;
    for (int i = 0; i < e->ndim; i++) n *= e->shape[i];
    if (n != count)
        return am_error(AM_ERR_SHAPE, "tensor '%s' has %lld elements, expected %lld", name, (long long)n,
                        (long long)count);
    convert_to_f32(e, st->data + e->begin, dst, n);
    return AM_OK;
}

void am_st_elements_f32(const am_safetensors *st, const am_st_entry *e, int64_t first, int64_t count, float *dst)
{
    convert_to_f32(e, st->data + e->begin + (size_t)first * am_dtype_size(e->dtype), dst, count);
}

am_status am_st_get_f32(const am_safetensors *st, const char *name, am_tensor *out)
{
    const am_st_entry *e = am_st_find(st, name);
    if (!e) return am_error(AM_ERR_NOTFOUND, "no tensor '%s'", name);
    AM_TRY(am_tensor_alloc(out, e->ndim, e->shape));
    convert_to_f32(e, st->data + e->begin, out->data, am_tensor_numel(out));
    return AM_OK;
}

/* ---- writer ---- */

struct am_st_writer {
    am_st_entry *entries;
    const uint8_t **bytes;
    unsigned char *owned; /* bytes[i] is a copy to free, else the caller's */
    size_t count, cap;
    char **meta_keys, **meta_values;
    size_t meta_count, meta_cap;
    uint64_t total;
};

am_st_writer *am_st_writer_new(void) { return calloc(1, sizeof(am_st_writer)); }

void am_st_writer_free(am_st_writer *w)
{
    if (!w) return;
    for (size_t i = 0; i < w->count; i++) {
        free(w->entries[i].name);
        if (w->owned[i]) free((void *)w->bytes[i]);
    }
    for (size_t i = 0; i < w->meta_count; i++) {
        free(w->meta_keys[i]);
        free(w->meta_values[i]);
    }
    free(w->entries);
    free(w->bytes);
    free(w->owned);
    free(w->meta_keys);
    free(w->meta_values);
    free(w);
}

static am_status add(am_st_writer *w, const char *name, am_dtype dtype, int ndim, const int64_t *shape,
                     const void *data, int copy)
{
    if (strcmp(name, "__metadata__") == 0) return am_error(AM_ERR_VALUE, "'__metadata__' is not a tensor name");
    for (size_t i = 0; i < w->count; i++)
        if (strcmp(w->entries[i].name, name) == 0) return am_error(AM_ERR_VALUE, "duplicate tensor '%s'", name);
    if (ndim < 0 || ndim > AM_MAX_DIMS) return am_error(AM_ERR_SHAPE, "tensor '%s': bad rank %d", name, ndim);
    if (w->count == w->cap) {
        size_t cap = w->cap ? 2 * w->cap : 64;
        am_st_entry *e = realloc(w->entries, cap * sizeof *e);
        if (!e) return am_error(AM_ERR_NOMEM, "out of memory");
        w->entries = e;
        const uint8_t **b = realloc(w->bytes, cap * sizeof *b);
        if (!b) return am_error(AM_ERR_NOMEM, "out of memory");
        w->bytes = b;
        unsigned char *o = realloc(w->owned, cap);
        if (!o) return am_error(AM_ERR_NOMEM, "out of memory");
        w->owned = o;
        w->cap = cap;
    }
    am_st_entry *e = &w->entries[w->count];
    memset(e, 0, sizeof *e);
    uint64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        e->shape[i] = shape[i];
        n *= (uint64_t)shape[i];
    }
    uint64_t nbytes = n * am_dtype_size(dtype);
    e->ndim = ndim;
    e->dtype = dtype;
    e->begin = w->total;
    e->end = w->total + nbytes;
    e->name = dup_str(name);
    uint8_t *mine = copy ? malloc(nbytes ? nbytes : 1) : NULL;
    if (!e->name || (copy && !mine)) {
        free(e->name);
        free(mine);
        return am_error(AM_ERR_NOMEM, "out of memory for tensor '%s'", name);
    }
    if (copy && nbytes) memcpy(mine, data, nbytes);
    w->bytes[w->count] = copy ? mine : data;
    w->owned[w->count] = (unsigned char)copy;
    w->total += nbytes;
    w->count++;
    return AM_OK;
}

am_status am_st_writer_add(am_st_writer *w, const char *name, am_dtype dtype, int ndim, const int64_t *shape,
                           const void *data)
{
    return add(w, name, dtype, ndim, shape, data, 1);
}

am_status am_st_writer_add_ref(am_st_writer *w, const char *name, am_dtype dtype, int ndim, const int64_t *shape,
                               const void *data)
{
    return add(w, name, dtype, ndim, shape, data, 0);
}

am_status am_st_writer_add_f32(am_st_writer *w, const char *name, const am_tensor *t)
{
    return am_st_writer_add(w, name, AM_DT_F32, t->ndim, t->shape, t->data);
}

am_status am_st_writer_meta(am_st_writer *w, const char *key, const char *value)
{
    for (size_t i = 0; i < w->meta_count; i++)
        if (strcmp(w->meta_keys[i], key) == 0) {
            char *v = dup_str(value);
            if (!v) return am_error(AM_ERR_NOMEM, "out of memory");
            free(w->meta_values[i]);
            w->meta_values[i] = v;
            return AM_OK;
        }
    if (w->meta_count == w->meta_cap) {
        size_t cap = w->meta_cap ? 2 * w->meta_cap : 16;
        char **k = realloc(w->meta_keys, cap * sizeof *k);
        if (!k) return am_error(AM_ERR_NOMEM, "out of memory");
        w->meta_keys = k;
        char **v = realloc(w->meta_values, cap * sizeof *v);
        if (!v) return am_error(AM_ERR_NOMEM, "out of memory");
        w->meta_values = v;
        w->meta_cap = cap;
    }
    w->meta_keys[w->meta_count] = dup_str(key);
    w->meta_values[w->meta_count] = dup_str(value);
    if (!w->meta_keys[w->meta_count] || !w->meta_values[w->meta_count]) {
        free(w->meta_keys[w->meta_count]);
        free(w->meta_values[w->meta_count]);
        return am_error(AM_ERR_NOMEM, "out of memory");
    }
    w->meta_count++;
    return AM_OK;
}

static char *build_header(const am_st_writer *w)
{
    cJSON *root = cJSON_CreateObject();
    if (!root) return NULL;
    if (w->meta_count) {
        cJSON *meta = cJSON_AddObjectToObject(root, "__metadata__");
        for (size_t i = 0; meta && i < w->meta_count; i++)
            cJSON_AddStringToObject(meta, w->meta_keys[i], w->meta_values[i]);
    }
    for (size_t i = 0; i < w->count; i++) {
        const am_st_entry *e = &w->entries[i];
        cJSON *t = cJSON_AddObjectToObject(root, e->name);
        if (!t) break;
        cJSON_AddStringToObject(t, "dtype", am_dtype_name(e->dtype));
        cJSON *shape = cJSON_AddArrayToObject(t, "shape");
        for (int d = 0; shape && d < e->ndim; d++) cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)e->shape[d]));
        cJSON *offs = cJSON_AddArrayToObject(t, "data_offsets");
        if (offs) {
            cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)e->begin));
            cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)e->end));
        }
    }
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return s;
}

am_status am_st_writer_write(am_st_writer *w, const char *path)
{
    char *header = build_header(w);
    if (!header) return am_error(AM_ERR_NOMEM, "%s: cannot build header", path);
    size_t hlen = strlen(header);
    size_t padded = (hlen + 7) & ~(size_t)7;
    am_atomic_file af;
    am_status s = am_atomic_open(&af, path, 1);
    if (s != AM_OK) {
        free(header);
        return s;
    }
    uint8_t len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (uint8_t)((uint64_t)padded >> (8 * i));
    fwrite(len8, 1, 8, af.fp);
    fwrite(header, 1, hlen, af.fp);
    for (size_t i = hlen; i < padded; i++) fputc(' ', af.fp);
    free(header);
    for (size_t i = 0; i < w->count; i++) fwrite(w->bytes[i], 1, w->entries[i].end - w->entries[i].begin, af.fp);
    return am_atomic_commit(&af);
}

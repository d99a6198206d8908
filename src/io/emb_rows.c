/* The row metadata table of an embeddings file (emb_rows.h): a scan of the JSON array for where
 * rows start, one row decoded at a time, and the writer of the same JSON text. */
#include "io/emb_rows.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "astromorph/safetensors.h"

size_t am_rows_in_header_max = 48 * 1000 * 1000;

static int64_t off_at(const am_rowtab *t, int64_t k)
{
    int64_t v;
    memcpy(&v, t->off + 8 * (size_t)k, sizeof v);
    return v;
}

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

static am_status set_path(am_rowtab *t, const char *path)
{
    t->path = strdup(path ? path : "embeddings");
    return t->path ? AM_OK : am_error(AM_ERR_NOMEM, "%s: out of memory", path);
}

am_status am_rowtab_scan(am_rowtab *t, const char *text, size_t len, int64_t total, int64_t lo, int64_t hi,
                         const char *path)
{
    memset(t, 0, sizeof *t);
    AM_TRY(set_path(t, path));
    t->text = text, t->len = len, t->off_lo = t->base = lo, t->count = hi - lo;
    t->off_own = malloc((size_t)(hi - lo + 1) * sizeof *t->off_own);
    if (!t->off_own) {
        am_rowtab_free(t);
        return am_error(AM_ERR_NOMEM, "%s: out of memory for the offsets of %lld rows", path, (long long)(hi - lo));
    }
    t->off = (const unsigned char *)t->off_own;
    if (lo == hi && hi < total) return AM_OK; /* an empty share */
    size_t p = 0;
    while (p < len && is_space(text[p])) p++;
    int64_t elem = 0;
    int ok = p < len && text[p] == '[', done = 0;
    size_t q = p + 1;
    while (q < len && is_space(text[q])) q++;
    if (ok && q < len && text[q] == ']') { /* the empty array */
        if (lo == 0) t->off_own[0] = (int64_t)q;
        done = 1;
    } else if (ok && lo == 0) {
        t->off_own[0] = (int64_t)(p + 1);
    }
    int depth = 0, in_str = 0;
    for (q = p + 1; ok && !done && q < len; q++) {
        char ch = text[q];
        if (in_str) {
            if (ch == '\\') q++;
            else if (ch == '"') in_str = 0;
            continue;
        }
        if (ch == '"') in_str = 1;
        else if (ch == '{' || ch == '[') depth++;
        else if ((ch == '}' || ch == ']') && depth > 0) depth--;
        else if ((ch == ',' || ch == ']') && depth == 0) {
            elem++; /* element elem − 1 ends at q */
            if (elem >= lo && elem <= hi) t->off_own[elem - lo] = (int64_t)(ch == ',' ? q + 1 : q);
            if (elem == hi && hi < total) done = 1; /* one rank's share: the rest is not read */
            if (elem == hi && ch == ',') t->off_own[hi - lo] = (int64_t)q;
            if (ch == ']') done = 1;
        }
    }
    if (!ok || !done || (hi == total ? elem != total : elem < hi)) {
        am_rowtab_free(t);
        return ok ? am_error(AM_ERR_FORMAT, "%s: metadata 'rows' must be a JSON array of %lld objects%s", path,
                             (long long)total, done ? "" : " (it is cut short)")
                  : am_error(AM_ERR_FORMAT, "%s: metadata 'rows' is not valid JSON (an array of %lld objects)", path,
                             (long long)total);
    }
    return AM_OK;
}

am_status am_rowtab_stored(am_rowtab *t, const char *text, size_t len, const unsigned char *off, int64_t total,
                           int64_t lo, int64_t hi, const char *path)
{
    memset(t, 0, sizeof *t);
    AM_TRY(set_path(t, path));
    t->text = text, t->len = len, t->off = off, t->off_lo = 0, t->count = total, t->base = lo;
    /* Increasing and inside the text: then a row's bytes are a range of the text whatever the
     * offsets say, and a lie shows as a row that does not parse. */
    int64_t prev = 0;
    for (int64_t k = lo; k <= hi; k++) {
        int64_t v = off_at(t, k);
        if (v <= prev || (uint64_t)v >= len || (k == total && text[v] != ']')) {
            am_rowtab_free(t);
            return am_error(
                AM_ERR_FORMAT,
                "%s: tensor 'rows_offsets' entry %lld (%lld) is not inside 'rows_json' after the one before", path,
                (long long)k, (long long)v);
        }
        prev = v;
    }
    return AM_OK;
}

void am_rowtab_free(am_rowtab *t)
{
    if (!t) return;
    free(t->off_own);
    free(t->map);
    free(t->path);
    if (t->owned) {
        am_st_free(t->owned);
        free(t->owned);
    }
    memset(t, 0, sizeof *t);
}

am_status am_rowtab_select(am_rowtab *t, int64_t n, const uint8_t *keep)
{
    int64_t *map = malloc((size_t)(n ? n : 1) * sizeof *map), m = 0;
    if (!map) return am_error(AM_ERR_NOMEM, "%s: out of memory", t->path);
    for (int64_t i = 0; i < n; i++)
        if (keep[i]) map[m++] = t->map ? t->map[i] : t->base + i;
    free(t->map);
    t->map = map;
    return AM_OK;
}

/* n bytes of valid UTF-8 (no overlong forms, surrogates or values past U+10FFFF). */
static int utf8_valid_n(const unsigned char *s, size_t n)
{
    const unsigned char *end = s + n;
    while (s < end) {
        unsigned c = *s++;
        if (c < 0x80) continue;
        int more = c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : c >= 0xc2 ? 1 : -1;
        if (more < 0 || c > 0xf4 || end - s < more) return 0;
        unsigned v = c & (0x3f >> more);
        for (int k = 0; k < more; k++, s++) {
            if ((*s & 0xc0) != 0x80) return 0;
            v = v << 6 | (*s & 0x3f);
        }
        if ((more == 2 && (v < 0x800 || (v >= 0xd800 && v < 0xe000))) || (more == 3 && (v < 0x10000 || v > 0x10ffff)))
            return 0;
    }
    return 1;
}

static int utf8_valid(const unsigned char *s) { return utf8_valid_n(s, strlen((const char *)s)); }

/* A string member (absent or null: left as it is), checked to be UTF-8. */
static am_status member(const cJSON *o, const char *key, const char **out, const char *path, int64_t row)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v || cJSON_IsNull(v)) return AM_OK;
    if (!cJSON_IsString(v))
        return am_error(AM_ERR_FORMAT, "%s: rows[%lld].%s is not a string", path, (long long)row, key);
    if (!utf8_valid((const unsigned char *)v->valuestring))
        return am_error(AM_ERR_FORMAT, "%s: rows[%lld].%s is not UTF-8", path, (long long)row, key);
    *out = v->valuestring;
    return AM_OK;
}

static am_status field(const cJSON *o, const char *key, char *dst, const char *path, int64_t row)
{
    const char *v = NULL;
    AM_TRY(member(o, key, &v, path, row));
    if (!v) return AM_OK;
    if (strlen(v) >= AM_META_LEN)
        return am_error(AM_ERR_FORMAT, "%s: rows[%lld].%s is longer than %d characters", path, (long long)row, key,
                        AM_META_LEN - 1);
    strcpy(dst, v);
    return AM_OK;
}

static am_status dup_field(const cJSON *o, const char *key, char **dst, const char *path, int64_t row)
{
    const char *v = NULL;
    AM_TRY(member(o, key, &v, path, row));
    if (!v) return AM_OK;
    *dst = strdup(v);
    return *dst ? AM_OK : am_error(AM_ERR_NOMEM, "%s: out of memory", path);
}

/* ra_deg, dec_deg, radec_from and hdu: all three position members or none; checked ranges. */
static am_status position(const cJSON *o, am_meta *m, const char *path, int64_t row)
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

/* A string, null or number value at *p (below stop) without escapes or spaces, as our writer
 * writes them: its bytes [*v, *ve) (a string's without the quotes), and its kind ('"', 'n', '0'). */
static int plain_value(const char **p, const char *stop, const char **v, const char **ve, char *kind)
{
    const char *q = *p;
    if (q < stop && *q == '"') {
        *v = ++q;
        while (q < stop && *q != '"' && *q != '\\' && (unsigned char)*q >= 0x20) q++;
        if (q == stop || *q != '"') return 0;
        *ve = q, *p = q + 1, *kind = '"';
        return 1;
    }
    if (stop - q >= 4 && !memcmp(q, "null", 4)) {
        *v = *ve = q, *p = q + 4, *kind = 'n';
        return 1;
    }
    *v = q;
    while (q < stop && strchr("+-.0123456789eE", *q) && *q) q++;
    *ve = q, *p = q, *kind = '0';
    return q > *v;
}

/* A number token as a double, whole or not at all. */
static int plain_number(const char *v, const char *ve, double *out)
{
    char buf[64], *end;
    if (ve - v >= (ptrdiff_t)sizeof buf) return 0;
    memcpy(buf, v, (size_t)(ve - v));
    buf[ve - v] = 0;
    *out = strtod(buf, &end);
    return *end == 0;
}

/* Row text [p, stop) decoded without a tree when it is as our writers write it: one flat object
 * of the known keys, once each, strings without escapes, every value valid. Returns 0 (m
 * untouched but for fields to be overwritten) on anything else, which the cJSON path then
 * decodes or reports: the fast path never judges a row the slow one would refuse. */
static int decode_plain(const char *p, const char *stop, am_meta *m)
{
    static const char *const keys[] = {"object", "ra",     "dec",     "restfreq",   "filepath",
                                       "extra",  "ra_deg", "dec_deg", "radec_from", "hdu"};
    char *const text[4] = {m->object, m->ra, m->dec, m->restfreq};
    const char *val[10], *vend[10];
    char kind[10];
    unsigned seen = 0;
    if (p == stop || *p++ != '{') return 0;
    while (p < stop && *p != '}') {
        if (seen && *p++ != ',') return 0;
        const char *k, *ke;
        char kk;
        if (!plain_value(&p, stop, &k, &ke, &kk) || kk != '"' || p == stop || *p++ != ':') return 0;
        int f = 0;
        while (f < 10 && !((size_t)(ke - k) == strlen(keys[f]) && !memcmp(k, keys[f], (size_t)(ke - k)))) f++;
        if (f == 10 || (seen >> f & 1) || !plain_value(&p, stop, &val[f], &vend[f], &kind[f])) return 0;
        seen |= 1u << f;
    }
    if (p == stop) return 0;
    for (p++; p < stop && is_space(*p); p++) {}
    if (p < stop && *p == ',') p++;
    for (; p < stop && is_space(*p); p++) {}
    if (p != stop) return 0;
    /* check everything before changing anything */
    for (int f = 0; f < 10; f++) {
        if (!(seen >> f & 1)) continue;
        size_t n = (size_t)(vend[f] - val[f]);
        if (f < 6 && kind[f] == '0') return 0;
        if (f < 4 && kind[f] == '"' && n >= AM_META_LEN) return 0;
        if (f >= 6 && kind[f] != (f == 8 ? '"' : '0')) return 0;
        if (f == 8 && n >= sizeof m->radec_from) return 0;
        if (kind[f] == '"' && !utf8_valid_n((const unsigned char *)val[f], n)) return 0;
    }
    double ra = 0, dec = 0, hdu = 0;
    const unsigned pos = 1u << 6 | 1u << 7 | 1u << 8;
    if ((seen & pos) && ((seen & pos) != pos || !plain_number(val[6], vend[6], &ra) ||
                         !plain_number(val[7], vend[7], &dec) || !(ra >= 0 && ra < 360) || !(fabs(dec) <= 90)))
        return 0;
    if ((seen >> 9 & 1) && (!plain_number(val[9], vend[9], &hdu) || hdu < 1 || hdu > 100000)) return 0;
    char *dup[2] = {NULL, NULL};
    for (int f = 4; f < 6; f++)
        if ((seen >> f & 1) && kind[f] == '"' && !(dup[f - 4] = strndup(val[f], (size_t)(vend[f] - val[f])))) {
            free(dup[0]);
            return 0; /* out of memory: the slow path says so */
        }
    for (int f = 0; f < 4; f++)
        if ((seen >> f & 1) && kind[f] == '"') {
            memcpy(text[f], val[f], (size_t)(vend[f] - val[f]));
            text[f][vend[f] - val[f]] = 0;
        }
    m->filepath = dup[0], m->extra = dup[1];
    if (seen & pos) {
        m->ra_deg = ra, m->dec_deg = dec;
        memcpy(m->radec_from, val[8], (size_t)(vend[8] - val[8]));
        m->radec_from[vend[8] - val[8]] = 0;
    }
    if (seen >> 9 & 1) m->hdu = (int)hdu;
    return 1;
}

am_status am_rowtab_decode(const am_rowtab *t, int64_t i, am_meta *m)
{
    am_meta_init(m);
    const int64_t r = t->map ? t->map[i] : t->base + i, k = r - t->off_lo;
    const int64_t a = off_at(t, k), b = off_at(t, k + 1);
    const char *path = t->path;
    if (decode_plain(t->text + a, t->text + b, m)) return AM_OK;
    am_meta_init(m);
    /* one row's object, parsed on its own: a small tree, freed at once */
    const char *end = NULL;
    cJSON *o = cJSON_ParseWithLengthOpts(t->text + a, (size_t)(b - a), &end, 0);
    if (!o) return am_error(AM_ERR_FORMAT, "%s: rows[%lld] is not valid JSON", path, (long long)r);
    am_status s =
        cJSON_IsObject(o) ? AM_OK : am_error(AM_ERR_FORMAT, "%s: rows[%lld] is not an object", path, (long long)r);
    /* nothing but spaces and the separating comma may follow it within its range */
    const char *stop = t->text + b;
    while (s == AM_OK && end < stop && is_space(*end)) end++;
    if (s == AM_OK && end < stop && *end == ',') end++;
    while (s == AM_OK && end < stop && is_space(*end)) end++;
    if (s == AM_OK && end != stop)
        s = am_error(AM_ERR_FORMAT, "%s: rows[%lld] runs into the next row (bad offsets?)", path, (long long)r);
    if (s == AM_OK && ((s = field(o, "object", m->object, path, r)) || (s = field(o, "ra", m->ra, path, r)) ||
                       (s = field(o, "dec", m->dec, path, r)) || (s = field(o, "restfreq", m->restfreq, path, r)) ||
                       (s = dup_field(o, "filepath", &m->filepath, path, r)) ||
                       (s = dup_field(o, "extra", &m->extra, path, r)) || (s = position(o, m, path, r))))
        am_meta_free(m);
    cJSON_Delete(o);
    if (s != AM_OK) am_meta_init(m);
    return s;
}

/* Whether a JSON writer would write s as it is between the quotes. */
static int plain(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == '"' || *s == '\\') return 0;
    return 1;
}

am_status am_rowtab_object_is(const am_rowtab *t, int64_t i, const char *object, int *same)
{
    static const char key[] = "{\"object\":\"";
    const size_t kl = sizeof key - 1, ol = strlen(object);
    const int64_t r = t->map ? t->map[i] : t->base + i, k = r - t->off_lo;
    const char *p = t->text + off_at(t, k), *stop = t->text + off_at(t, k + 1);
    while (p < stop && is_space(*p)) p++;
    if ((size_t)(stop - p) > kl && !memcmp(p, key, kl) && plain(object) && utf8_valid((const unsigned char *)object)) {
        const char *v = p + kl, *q = v;
        while (q < stop && *q != '"' && *q != '\\') q++;
        if (q < stop && *q == '"') {
            *same = (size_t)(q - v) == ol && !memcmp(v, object, ol);
            return AM_OK;
        }
    }
    am_meta m;
    AM_TRY(am_rowtab_decode(t, i, &m));
    *same = !strcmp(m.object, object);
    am_meta_free(&m);
    return AM_OK;
}

am_status am_rows_text_put(am_rows_text *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->buf, cap);
        if (!p) return am_error(AM_ERR_NOMEM, "out of memory for row metadata (%zu bytes)", cap);
        b->buf = p, b->cap = cap;
    }
    memcpy(b->buf + b->len, s, n);
    b->len += n;
    b->buf[b->len] = 0;
    return AM_OK;
}

/* A JSON string: quotes, backslashes and control characters escaped, UTF-8 kept, and any byte
 * that is not part of valid UTF-8 written as the Latin-1 character it would be (\u00XX). */
static am_status put_string(am_rows_text *b, const char *key, const char *v)
{
    char tmp[16];
    AM_TRY(am_rows_text_put(b, tmp, (size_t)snprintf(tmp, sizeof tmp, "\"%s\":", key)));
    if (!v) return am_rows_text_put(b, "null", 4);
    AM_TRY(am_rows_text_put(b, "\"", 1));
    const unsigned char *s = (const unsigned char *)v;
    while (*s) {
        unsigned char c = *s;
        size_t run = 1;
        if (c >= 0x80) { /* the longest valid UTF-8 sequence here, if any */
            unsigned char one[5] = {0};
            int more = c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : 1;
            for (int k = 0; k <= more && s[k]; k++) one[k] = s[k];
            if (utf8_valid(one) && strlen((const char *)one) == (size_t)more + 1) run = (size_t)more + 1;
            else run = 0;
        }
        if (run == 0 || c < 0x20 || c == '"' || c == '\\') {
            int n =
                c == '"' || c == '\\' ? snprintf(tmp, sizeof tmp, "\\%c", c) : snprintf(tmp, sizeof tmp, "\\u%04x", c);
            AM_TRY(am_rows_text_put(b, tmp, (size_t)n));
            s++;
        } else {
            AM_TRY(am_rows_text_put(b, (const char *)s, run));
            s += run;
        }
    }
    return am_rows_text_put(b, "\"", 1);
}

am_status am_rows_text_add(am_rows_text *b, const am_meta *m)
{
    char num[96];
    const char *const keys[6] = {"object", "ra", "dec", "restfreq", "filepath", "extra"};
    const char *const values[6] = {m->object, m->ra, m->dec, m->restfreq, m->filepath, m->extra};
    for (int f = 0; f < 6; f++) {
        AM_TRY(am_rows_text_put(b, f ? "," : "{", 1));
        AM_TRY(put_string(b, keys[f], values[f]));
    }
    /* the position in degrees and where it came from, when known (%.17g: read back exactly) */
    if (m->radec_from[0]) {
        AM_TRY(am_rows_text_put(
            b, num, (size_t)snprintf(num, sizeof num, ",\"ra_deg\":%.17g,\"dec_deg\":%.17g,", m->ra_deg, m->dec_deg)));
        AM_TRY(put_string(b, "radec_from", m->radec_from));
    }
    if (m->hdu > 0) AM_TRY(am_rows_text_put(b, num, (size_t)snprintf(num, sizeof num, ",\"hdu\":%d", m->hdu)));
    return am_rows_text_put(b, "}", 1);
}

/* TOML 1.0 reader: a recursive-descent parser over a UTF-8-checked buffer, building a tree of
 * am_toml_value. The rules about which tables may be reopened or extended (headers, dotted keys,
 * inline tables, arrays of tables) are tracked with a few flags per table. */
#include "astromorph/toml.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    F_EXPLICIT = 1u, /* defined by a [header] (or the root) */
    F_IMPLICIT = 2u, /* created as a parent of a [header] */
    F_DOTTED = 4u, /* created by a dotted key in a key/value pair */
    F_INLINE = 8u, /* an inline table or inside one: closed to additions */
    F_AOT = 16u, /* an array created by [[header]] */
    F_STATIC = 32u /* an array literal: closed to additions */
};

enum { MAX_DEPTH = 256 };

typedef struct col_cache {
    size_t line, at;
    int col;
} col_cache;

typedef struct {
    const char *name;
    const unsigned char *s;
    size_t len, pos;
    size_t *lines; /* byte offset of each line start */
    size_t nlines;
    am_toml_value *root, *cur;
    /* The last position linecol counted up to: values come in document order, so the next one
     * on the same line continues from here instead of from the line start (linear, not
     * quadratic, in a long line). */
    col_cache *last;
} parser;

typedef struct {
    char *s;
    size_t len, pos;
} keypart;

typedef struct {
    keypart *v;
    size_t n, cap;
} keypath;

typedef struct {
    char *s;
    size_t len, cap;
} buf;

static void linecol(const parser *p, size_t at, int *line, int *col)
{
    size_t lo = 0, hi = p->nlines; /* last line start <= at */
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (p->lines[mid] <= at) lo = mid;
        else hi = mid;
    }
    int c = 1;
    size_t from = p->lines[lo];
    if (p->last && p->last->line == lo && p->last->at <= at && p->last->at >= from)
        from = p->last->at, c = p->last->col;
    for (size_t i = from; i < at && i < p->len; i++)
        if ((p->s[i] & 0xC0) != 0x80) c++; /* count characters, not UTF-8 continuation bytes */
    if (p->last) p->last->line = lo, p->last->at = at, p->last->col = c;
    *line = (int)lo + 1;
    *col = c;
}

static am_status perr(const parser *p, size_t at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static am_status perr(const parser *p, size_t at, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int line, col;
    linecol(p, at, &line, &col);
    return am_error(AM_ERR_FORMAT, "%s:%d:%d: %s", p->name, line, col, msg);
}

static am_status nomem(void) { return am_error(AM_ERR_NOMEM, "toml: out of memory"); }

/* ---- buffers and values ---------------------------------------------------------------- */

static am_status buf_put(buf *b, const void *data, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 32;
        while (cap < b->len + n + 1) cap *= 2;
        char *s = realloc(b->s, cap);
        if (!s) return nomem();
        b->s = s;
        b->cap = cap;
    }
    memcpy(b->s + b->len, data, n);
    b->len += n;
    b->s[b->len] = '\0';
    return AM_OK;
}

static am_status buf_putc(buf *b, char c) { return buf_put(b, &c, 1); }

static am_status buf_put_utf8(buf *b, unsigned long cp)
{
    unsigned char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (unsigned char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (unsigned char)(0xC0 | (cp >> 6));
        u[1] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (unsigned char)(0xE0 | (cp >> 12));
        u[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        u[0] = (unsigned char)(0xF0 | (cp >> 18));
        u[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        u[3] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    return buf_put(b, u, n);
}

/* An empty string still needs its terminator, so the result is never NULL on success. */
static am_status buf_finish(buf *b)
{
    if (!b->s) return buf_put(b, "", 0);
    return AM_OK;
}

static am_toml_value *new_value(const parser *p, am_toml_type type, size_t at)
{
    am_toml_value *v = calloc(1, sizeof *v);
    if (!v) return NULL;
    v->type = type;
    linecol(p, at, &v->line, &v->column);
    return v;
}

void am_toml_free(am_toml_value *v)
{
    if (!v) return;
    for (size_t i = 0; i < v->n; i++) {
        am_toml_free(v->items[i]);
        if (v->keys) free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    free(v->key_lens);
    free(v->index);
    free(v->str);
    free(v);
}

/* Tables of more than INDEX_MIN keys get an open-addressing hash index (slots hold key index + 1,
 * 0 empty, at most half full), so a document of n keys reads in O(n), not O(n^2). */
enum { INDEX_MIN = 16 };

static uint64_t key_hash(const char *key, size_t len)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; i < len; i++) h = (h ^ (unsigned char)key[i]) * 1099511628211ULL;
    return h;
}

static void index_put(am_toml_value *t, size_t i)
{
    size_t mask = t->index_cap - 1, slot = (size_t)key_hash(t->keys[i], t->key_lens[i]) & mask;
    while (t->index[slot]) slot = (slot + 1) & mask;
    t->index[slot] = i + 1;
}

/* After key n-1 was added: keeps the index (made, grown) when the table is large. */
static am_status index_update(am_toml_value *t)
{
    if (t->n <= INDEX_MIN) return AM_OK;
    if (t->index && 2 * t->n <= t->index_cap) {
        index_put(t, t->n - 1);
        return AM_OK;
    }
    size_t cap = 64;
    while (cap < 4 * t->n) cap *= 2;
    size_t *idx = calloc(cap, sizeof *idx);
    if (!idx) return AM_ERR_NOMEM;
    free(t->index);
    t->index = idx, t->index_cap = cap;
    for (size_t i = 0; i < t->n; i++) index_put(t, i);
    return AM_OK;
}

static am_toml_value *find(const am_toml_value *t, const char *key, size_t len)
{
    if (t->index) {
        size_t mask = t->index_cap - 1, slot = (size_t)key_hash(key, len) & mask;
        for (; t->index[slot]; slot = (slot + 1) & mask) {
            size_t i = t->index[slot] - 1;
            if (t->key_lens[i] == len && memcmp(t->keys[i], key, len) == 0) return t->items[i];
        }
        return NULL;
    }
    for (size_t i = 0; i < t->n; i++)
        if (t->key_lens[i] == len && memcmp(t->keys[i], key, len) == 0) return t->items[i];
    return NULL;
}

static am_status grow(am_toml_value *t)
{
    if (t->n < t->cap) return AM_OK;
    size_t cap = t->cap ? t->cap * 2 : 8;
    am_toml_value **items = realloc(t->items, cap * sizeof *items);
    if (!items) return nomem();
    t->items = items;
    if (t->type == AM_TOML_TABLE) {
        char **keys = realloc(t->keys, cap * sizeof *keys);
        if (!keys) return nomem();
        t->keys = keys;
        size_t *lens = realloc(t->key_lens, cap * sizeof *lens);
        if (!lens) return nomem();
        t->key_lens = lens;
    }
    t->cap = cap;
    return AM_OK;
}

/* Takes ownership of v (freed on failure). */
static am_status table_add(am_toml_value *t, const keypart *k, am_toml_value *v)
{
    char *key = malloc(k->len + 1);
    if (!key || grow(t) != AM_OK) {
        free(key);
        am_toml_free(v);
        return nomem();
    }
    memcpy(key, k->s, k->len);
    key[k->len] = '\0';
    t->keys[t->n] = key;
    t->key_lens[t->n] = k->len;
    t->items[t->n++] = v;
    return index_update(t) == AM_OK ? AM_OK : nomem();
}

static am_status array_add(am_toml_value *a, am_toml_value *v)
{
    if (grow(a) != AM_OK) {
        am_toml_free(v);
        return nomem();
    }
    a->items[a->n++] = v;
    return AM_OK;
}

static void keypath_free(keypath *k)
{
    for (size_t i = 0; i < k->n; i++) free(k->v[i].s);
    free(k->v);
    k->v = NULL;
    k->n = k->cap = 0;
}

/* A key for messages: printable, shortened. */
static const char *show_key(const keypart *k, char *out, size_t size)
{
    size_t j = 0;
    for (size_t i = 0; i < k->len && j + 4 < size; i++) out[j++] = (k->s[i] == '\0') ? '?' : k->s[i];
    out[j] = '\0';
    return out;
}

/* ---- lexical helpers ------------------------------------------------------------------- */

static int peek(const parser *p) { return p->pos < p->len ? p->s[p->pos] : -1; }
static int peek_at(const parser *p, size_t off) { return p->pos + off < p->len ? p->s[p->pos + off] : -1; }

static int is_bare(int c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}
static int is_digit(int c) { return c >= '0' && c <= '9'; }

static void skip_ws(parser *p)
{
    while (p->pos < p->len && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t')) p->pos++;
}

/* A comment runs to the end of the line; control characters other than tab are not allowed. */
static am_status skip_comment(parser *p)
{
    if (peek(p) != '#') return AM_OK;
    p->pos++;
    while (p->pos < p->len) {
        unsigned char c = p->s[p->pos];
        if (c == '\n') break;
        if (c == '\r' && peek_at(p, 1) == '\n') break;
        if ((c < 0x20 && c != '\t') || c == 0x7F) return perr(p, p->pos, "control character U+%04X in a comment", c);
        p->pos++;
    }
    return AM_OK;
}

/* Consumes a newline (LF or CRLF) if one is next; returns whether it did. */
static int eat_newline(parser *p)
{
    if (peek(p) == '\n') {
        p->pos++;
        return 1;
    }
    if (peek(p) == '\r' && peek_at(p, 1) == '\n') {
        p->pos += 2;
        return 1;
    }
    return 0;
}

static am_status expect_eol(parser *p, const char *after)
{
    skip_ws(p);
    AM_TRY(skip_comment(p));
    if (p->pos >= p->len || eat_newline(p)) return AM_OK;
    if (peek(p) == '\r') return perr(p, p->pos, "carriage return not followed by a line feed");
    return perr(p, p->pos, "expected the end of the line after %s", after);
}

/* Whitespace, newlines and comments, as allowed between array elements. */
static am_status skip_ws_nl(parser *p)
{
    for (;;) {
        skip_ws(p);
        AM_TRY(skip_comment(p));
        if (!eat_newline(p)) break;
    }
    if (peek(p) == '\r') return perr(p, p->pos, "carriage return not followed by a line feed");
    return AM_OK;
}

/* The whole input must be UTF-8 (no overlong forms, no surrogates, nothing above U+10FFFF). */
static am_status check_utf8(parser *p)
{
    const unsigned char *s = p->s;
    size_t i = 0;
    while (i < p->len) {
        unsigned c = s[i];
        size_t n;
        unsigned long cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            n = 2;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 3;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 4;
            cp = c & 0x07;
        } else {
            return perr(p, i, "invalid UTF-8 byte 0x%02X", c);
        }
        if (i + n > p->len) return perr(p, i, "truncated UTF-8 sequence");
        for (size_t k = 1; k < n; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return perr(p, i, "invalid UTF-8 sequence");
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000)) return perr(p, i, "overlong UTF-8 sequence");
        if (cp >= 0xD800 && cp <= 0xDFFF) return perr(p, i, "UTF-8 encoded surrogate U+%04lX", cp);
        if (cp > 0x10FFFF) return perr(p, i, "code point above U+10FFFF");
        i += n;
    }
    return AM_OK;
}

static am_status index_lines(parser *p)
{
    size_t count = 1;
    for (size_t i = 0; i < p->len; i++)
        if (p->s[i] == '\n') count++;
    p->lines = malloc(count * sizeof *p->lines);
    if (!p->lines) return nomem();
    p->lines[0] = 0;
    p->nlines = 1;
    for (size_t i = 0; i < p->len; i++)
        if (p->s[i] == '\n') p->lines[p->nlines++] = i + 1;
    return AM_OK;
}

/* A string or date/time value owning the text in b; b is freed when `s` reports a failure. */
static am_status text_value(const parser *p, am_status s, am_toml_type type, size_t start, buf *b, am_toml_value **out)
{
    am_toml_value *v = s == AM_OK ? new_value(p, type, start) : NULL;
    if (!v) {
        free(b->s);
        return s == AM_OK ? nomem() : s;
    }
    v->str = b->s;
    v->len = b->len;
    *out = v;
    return AM_OK;
}

/* ---- strings --------------------------------------------------------------------------- */

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static am_status parse_escape(parser *p, buf *b)
{
    size_t at = p->pos;
    p->pos++; /* the backslash */
    int c = peek(p);
    const char *simple = "b\bt\tn\nf\fr\r\"\"\\\\";
    for (const char *e = simple; *e; e += 2)
        if (c == e[0]) {
            p->pos++;
            return buf_putc(b, e[1]);
        }
    if (c == 'u' || c == 'U') {
        int digits = c == 'u' ? 4 : 8;
        unsigned long cp = 0;
        p->pos++;
        for (int i = 0; i < digits; i++) {
            int h = hexval(peek(p));
            if (h < 0) return perr(p, at, "\\%c escape needs %d hexadecimal digits", c, digits);
            cp = cp * 16 + (unsigned long)h;
            p->pos++;
        }
        if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return perr(p, at, "escape \\%c%0*lX is not a Unicode scalar value", c, digits, cp);
        return buf_put_utf8(b, cp);
    }
    if (c < 0) return perr(p, at, "unterminated escape sequence");
    if (c >= 0x20 && c < 0x7F) return perr(p, at, "invalid escape sequence '\\%c'", c);
    return perr(p, at, "invalid escape sequence");
}

/* Checks one character of string content: control characters other than tab are refused
 * (newlines are handled by the callers). */
static am_status check_string_char(parser *p, unsigned char c)
{
    if ((c < 0x20 && c != '\t') || c == 0x7F) {
        if (c == '\n' || c == '\r') return perr(p, p->pos, "newline in a single-line string");
        return perr(p, p->pos, "control character U+%04X in a string (escape it)", c);
    }
    return AM_OK;
}

/* "basic" or 'literal', single line. */
static am_status parse_line_string(parser *p, buf *b, int literal)
{
    size_t start = p->pos;
    char q = literal ? '\'' : '"';
    p->pos++;
    for (;;) {
        if (p->pos >= p->len) return perr(p, start, "unterminated string");
        unsigned char c = p->s[p->pos];
        if (c == (unsigned char)q) {
            p->pos++;
            return buf_finish(b);
        }
        if (c == '\\' && !literal) {
            AM_TRY(parse_escape(p, b));
            continue;
        }
        AM_TRY(check_string_char(p, c));
        AM_TRY(buf_putc(b, (char)c));
        p->pos++;
    }
}

/* """basic""" or '''literal''', multi-line. */
static am_status parse_ml_string(parser *p, buf *b, int literal)
{
    size_t start = p->pos;
    char q = literal ? '\'' : '"';
    p->pos += 3;
    eat_newline(p); /* a newline right after the opening delimiter is trimmed */
    for (;;) {
        if (p->pos >= p->len) return perr(p, start, "unterminated multi-line string");
        unsigned char c = p->s[p->pos];
        if (c == (unsigned char)q) {
            size_t run = 0;
            while (peek_at(p, run) == q) run++;
            if (run < 3) {
                for (size_t i = 0; i < run; i++) AM_TRY(buf_putc(b, q));
                p->pos += run;
                continue;
            }
            /* up to two quotes may sit just inside the closing delimiter */
            if (run > 5) return perr(p, p->pos, "too many quotes at the end of a multi-line string");
            for (size_t i = 0; i < run - 3; i++) AM_TRY(buf_putc(b, q));
            p->pos += run;
            return buf_finish(b);
        }
        if (c == '\\' && !literal) {
            /* line-ending backslash: drop it and all whitespace and newlines after it */
            size_t k = 1;
            while (peek_at(p, k) == ' ' || peek_at(p, k) == '\t') k++;
            if (peek_at(p, k) == '\n' || (peek_at(p, k) == '\r' && peek_at(p, k + 1) == '\n')) {
                p->pos += k;
                for (;;) {
                    skip_ws(p);
                    if (!eat_newline(p)) break;
                }
                continue;
            }
            AM_TRY(parse_escape(p, b));
            continue;
        }
        if (c == '\n') {
            AM_TRY(buf_putc(b, '\n'));
            p->pos++;
            continue;
        }
        if (c == '\r') {
            if (peek_at(p, 1) != '\n') return perr(p, p->pos, "carriage return not followed by a line feed");
            AM_TRY(buf_put(b, "\r\n", 2));
            p->pos += 2;
            continue;
        }
        if ((c < 0x20 && c != '\t') || c == 0x7F)
            return perr(p, p->pos, "control character U+%04X in a string (escape it)", c);
        AM_TRY(buf_putc(b, (char)c));
        p->pos++;
    }
}

static int starts_triple(const parser *p, char q) { return peek(p) == q && peek_at(p, 1) == q && peek_at(p, 2) == q; }

static am_status parse_string_value(parser *p, buf *b)
{
    int literal = peek(p) == '\'';
    if (starts_triple(p, literal ? '\'' : '"')) return parse_ml_string(p, b, literal);
    return parse_line_string(p, b, literal);
}

/* ---- keys ------------------------------------------------------------------------------ */

static am_status parse_key(parser *p, keypath *k)
{
    for (;;) {
        skip_ws(p);
        if (k->n >= MAX_DEPTH) return perr(p, p->pos, "dotted key nested too deeply");
        if (k->n == k->cap) {
            size_t cap = k->cap ? k->cap * 2 : 4;
            keypart *v = realloc(k->v, cap * sizeof *v);
            if (!v) return nomem();
            k->v = v;
            k->cap = cap;
        }
        keypart *part = &k->v[k->n];
        part->pos = p->pos;
        buf b = {0};
        int c = peek(p);
        if (c == '"' || c == '\'') {
            if (starts_triple(p, (char)c)) return perr(p, p->pos, "a multi-line string cannot be a key");
            am_status s = parse_line_string(p, &b, c == '\'');
            if (s != AM_OK) {
                free(b.s);
                return s;
            }
        } else if (is_bare(c)) {
            size_t st = p->pos;
            while (is_bare(peek(p))) p->pos++;
            if (buf_put(&b, p->s + st, p->pos - st) != AM_OK) {
                free(b.s);
                return nomem();
            }
        } else if (c < 0) {
            return perr(p, p->pos, "expected a key, found the end of the file");
        } else if (c == '\n' || c == '\r') {
            return perr(p, p->pos, "expected a key, found the end of the line");
        } else {
            return perr(p, p->pos, "expected a key (bare keys use A-Z a-z 0-9 _ -, others need quotes)");
        }
        part->s = b.s;
        part->len = b.len;
        k->n++;
        skip_ws(p);
        if (peek(p) != '.') return AM_OK;
        p->pos++;
    }
}

/* ---- numbers and dates ----------------------------------------------------------------- */

/* Digits of `radix` with single underscores between digits; appends the digits to out. */
static int scan_digits(const char *s, size_t n, int radix, buf *out)
{
    if (n == 0) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '_') {
            if (i == 0 || i + 1 == n || s[i - 1] == '_') return 0;
            continue;
        }
        int v = hexval(c);
        if (v < 0 || v >= radix) return 0;
        if (buf_putc(out, c) != AM_OK) return 0;
    }
    return 1;
}

static am_status parse_number(parser *p, am_toml_value **out)
{
    size_t start = p->pos;
    while (p->pos < p->len && (is_bare(p->s[p->pos]) || p->s[p->pos] == '.' || p->s[p->pos] == '+')) p->pos++;
    const char *t = (const char *)p->s + start;
    size_t n = p->pos - start;
    const char *body = t;
    size_t bn = n;
    int neg = 0, sign = 0;
    if (bn > 0 && (body[0] == '+' || body[0] == '-')) {
        neg = body[0] == '-';
        sign = 1;
        body++;
        bn--;
    }
    if ((bn == 3 && memcmp(body, "inf", 3) == 0) || (bn == 3 && memcmp(body, "nan", 3) == 0)) {
        am_toml_value *v = new_value(p, AM_TOML_FLOAT, start);
        if (!v) return nomem();
        v->number = body[0] == 'i' ? (neg ? -HUGE_VAL : HUGE_VAL) : (neg ? -NAN : NAN);
        *out = v;
        return AM_OK;
    }
    buf digits = {0};
    am_status st = AM_OK;
    if (bn > 2 && body[0] == '0' && (body[1] == 'x' || body[1] == 'o' || body[1] == 'b')) {
        int radix = body[1] == 'x' ? 16 : body[1] == 'o' ? 8 : 2;
        if (sign) {
            free(digits.s);
            return perr(p, start, "a sign is not allowed on hexadecimal, octal or binary integers");
        }
        if (!scan_digits(body + 2, bn - 2, radix, &digits)) {
            free(digits.s);
            return perr(p, start, "invalid base-%d integer '%.*s'", radix, (int)n, t);
        }
        uint64_t val = 0;
        for (size_t i = 0; i < digits.len; i++) {
            uint64_t d = (uint64_t)hexval(digits.s[i]);
            if (val > (UINT64_C(0x7FFFFFFFFFFFFFFF) - d) / (uint64_t)radix) {
                free(digits.s);
                return perr(p, start, "integer '%.*s' does not fit in 64 bits", (int)n, t);
            }
            val = val * (uint64_t)radix + d;
        }
        free(digits.s);
        am_toml_value *v = new_value(p, AM_TOML_INTEGER, start);
        if (!v) return nomem();
        v->integer = (int64_t)val;
        *out = v;
        return AM_OK;
    }
    /* decimal: int-part [ '.' digits ] [ e [sign] digits ] */
    size_t i = 0;
    while (i < bn && (is_digit(body[i]) || body[i] == '_')) i++;
    size_t int_len = i;
    int is_float = 0;
    if (!scan_digits(body, int_len, 10, &digits)) goto bad;
    if (digits.len > 1 && digits.s[0] == '0') {
        free(digits.s);
        return perr(p, start, "leading zeros are not allowed in '%.*s'", (int)n, t);
    }
    if (i < bn && body[i] == '.') {
        is_float = 1;
        size_t fs = ++i;
        while (i < bn && (is_digit(body[i]) || body[i] == '_')) i++;
        if (buf_putc(&digits, '.') != AM_OK || !scan_digits(body + fs, i - fs, 10, &digits)) goto bad;
    }
    if (i < bn && (body[i] == 'e' || body[i] == 'E')) {
        is_float = 1;
        i++;
        if (buf_putc(&digits, 'e') != AM_OK) goto bad;
        if (i < bn && (body[i] == '+' || body[i] == '-')) {
            if (buf_putc(&digits, body[i]) != AM_OK) goto bad;
            i++;
        }
        size_t es = i;
        while (i < bn && (is_digit(body[i]) || body[i] == '_')) i++;
        if (!scan_digits(body + es, i - es, 10, &digits)) goto bad;
    }
    if (i != bn) goto bad;
    am_toml_value *v = new_value(p, is_float ? AM_TOML_FLOAT : AM_TOML_INTEGER, start);
    if (!v) {
        free(digits.s);
        return nomem();
    }
    if (is_float) {
        v->number = strtod(digits.s, NULL);
        if (neg) v->number = -v->number;
    } else {
        uint64_t val = 0, limit = neg ? UINT64_C(0x8000000000000000) : UINT64_C(0x7FFFFFFFFFFFFFFF);
        for (size_t k = 0; k < digits.len; k++) {
            uint64_t d = (uint64_t)(digits.s[k] - '0');
            if (val > (limit - d) / 10) {
                free(digits.s);
                free(v);
                return perr(p, start, "integer '%.*s' does not fit in 64 bits", (int)n, t);
            }
            val = val * 10 + d;
        }
        v->integer = neg ? (int64_t)(0 - val) : (int64_t)val;
    }
    free(digits.s);
    *out = v;
    return st;
bad:
    free(digits.s);
    return perr(p, start, "invalid number '%.*s'", (int)n, t);
}

static int read_fixed(parser *p, int ndigits, int *val)
{
    int v = 0;
    for (int i = 0; i < ndigits; i++) {
        int c = peek(p);
        if (!is_digit(c)) return 0;
        v = v * 10 + (c - '0');
        p->pos++;
    }
    *val = v;
    return 1;
}

/* HH:MM:SS[.frac] appended to b. */
static am_status parse_time(parser *p, buf *b, size_t start)
{
    int hh, mm, ss;
    size_t at = p->pos;
    if (!read_fixed(p, 2, &hh) || peek(p) != ':') return perr(p, start, "invalid time (expected HH:MM:SS)");
    p->pos++;
    if (!read_fixed(p, 2, &mm) || peek(p) != ':') return perr(p, start, "invalid time (expected HH:MM:SS)");
    p->pos++;
    if (!read_fixed(p, 2, &ss)) return perr(p, start, "invalid time (expected HH:MM:SS)");
    if (hh > 23 || mm > 59 || ss > 60) return perr(p, start, "time out of range");
    AM_TRY(buf_put(b, p->s + at, 8));
    if (peek(p) == '.') {
        size_t fs = p->pos++;
        while (is_digit(peek(p))) p->pos++;
        if (p->pos - fs < 2) return perr(p, start, "fractional seconds need at least one digit");
        AM_TRY(buf_put(b, p->s + fs, p->pos - fs));
    }
    return AM_OK;
}

static am_status parse_datetime(parser *p, am_toml_value **out)
{
    size_t start = p->pos;
    buf b = {0};
    am_toml_type type;
    am_status s = AM_OK;
    if (is_digit(peek_at(p, 0)) && is_digit(peek_at(p, 1)) && peek_at(p, 2) == ':') {
        s = parse_time(p, &b, start);
        type = AM_TOML_TIME_LOCAL;
    } else {
        int y, m, d;
        static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
        if (!read_fixed(p, 4, &y) || peek(p) != '-' || (p->pos++, !read_fixed(p, 2, &m)) || peek(p) != '-' ||
            (p->pos++, !read_fixed(p, 2, &d))) {
            return perr(p, start, "invalid date (expected YYYY-MM-DD)");
        }
        int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        if (m < 1 || m > 12 || d < 1 || d > mdays[m - 1] + (m == 2 && leap))
            return perr(p, start, "date %.10s does not exist", (const char *)p->s + start);
        s = buf_put(&b, p->s + start, 10);
        type = AM_TOML_DATE_LOCAL;
        int c = peek(p);
        /* a space separates date and time only when a time follows */
        if (s == AM_OK && (c == 'T' || c == 't' ||
                           (c == ' ' && is_digit(peek_at(p, 1)) && is_digit(peek_at(p, 2)) && peek_at(p, 3) == ':'))) {
            p->pos++;
            s = buf_putc(&b, 'T');
            if (s == AM_OK) s = parse_time(p, &b, start);
            type = AM_TOML_DATETIME_LOCAL;
            c = peek(p);
            if (s == AM_OK && (c == 'Z' || c == 'z')) {
                p->pos++;
                s = buf_putc(&b, 'Z');
                type = AM_TOML_DATETIME;
            } else if (s == AM_OK && (c == '+' || c == '-')) {
                size_t os = p->pos++;
                int oh, om;
                if (!read_fixed(p, 2, &oh) || peek(p) != ':' || (p->pos++, !read_fixed(p, 2, &om)) || oh > 23 ||
                    om > 59)
                    s = perr(p, start, "invalid time offset (expected +HH:MM or -HH:MM)");
                else s = buf_put(&b, p->s + os, 6);
                type = AM_TOML_DATETIME;
            }
        }
    }
    if (s == AM_OK && (is_bare(peek(p)) || peek(p) == '.' || peek(p) == ':' || peek(p) == '+'))
        s = perr(p, start, "invalid date or time");
    return text_value(p, s, type, start, &b, out);
}

/* A new container under `key` in table t, marked as defined at `at` with `flags`. */
static am_status add_container(parser *p, am_toml_value *t, const keypart *key, am_toml_type type, unsigned flags,
                               size_t at, am_toml_value **out)
{
    am_toml_value *e = new_value(p, type, at);
    if (!e) return nomem();
    e->key_line = e->line;
    e->key_column = e->column;
    e->flags = flags;
    *out = e;
    return table_add(t, key, e);
}

/* ---- values ---------------------------------------------------------------------------- */

static am_status parse_value(parser *p, am_toml_value **out, int depth);
static am_status parse_keyval(parser *p, am_toml_value *table, int depth);

static void freeze(am_toml_value *t)
{
    t->flags |= F_INLINE;
    for (size_t i = 0; i < t->n; i++)
        if (t->items[i]->type == AM_TOML_TABLE) freeze(t->items[i]);
}

static am_status parse_array(parser *p, am_toml_value **out, int depth)
{
    am_toml_value *a = new_value(p, AM_TOML_ARRAY, p->pos);
    if (!a) return nomem();
    a->flags = F_STATIC;
    p->pos++;
    am_status s;
    for (;;) {
        if ((s = skip_ws_nl(p)) != AM_OK) goto fail;
        if (peek(p) == ']') break;
        am_toml_value *v = NULL;
        if ((s = parse_value(p, &v, depth + 1)) != AM_OK) goto fail;
        if ((s = array_add(a, v)) != AM_OK) goto fail;
        if ((s = skip_ws_nl(p)) != AM_OK) goto fail;
        if (peek(p) == ',') {
            p->pos++;
            continue;
        }
        if (peek(p) == ']') break;
        s = perr(p, p->pos, p->pos >= p->len ? "unterminated array" : "expected ',' or ']' in an array");
        goto fail;
    }
    p->pos++;
    *out = a;
    return AM_OK;
fail:
    am_toml_free(a);
    return s;
}

static am_status parse_inline_table(parser *p, am_toml_value **out, int depth)
{
    am_toml_value *t = new_value(p, AM_TOML_TABLE, p->pos);
    if (!t) return nomem();
    p->pos++;
    am_status s;
    skip_ws(p);
    if (peek(p) != '}') {
        for (;;) {
            if ((s = parse_keyval(p, t, depth + 1)) != AM_OK) goto fail;
            skip_ws(p);
            if (peek(p) == ',') {
                p->pos++;
                skip_ws(p);
                if (peek(p) == '}') {
                    s = perr(p, p->pos, "trailing comma in an inline table");
                    goto fail;
                }
                continue;
            }
            if (peek(p) == '}') break;
            s = perr(p, p->pos,
                     p->pos >= p->len ? "unterminated inline table"
                                      : "expected ',' or '}' in an inline table (it must fit on one line)");
            goto fail;
        }
    }
    p->pos++;
    freeze(t);
    *out = t;
    return AM_OK;
fail:
    am_toml_free(t);
    return s;
}

static am_status parse_value(parser *p, am_toml_value **out, int depth)
{
    if (depth > MAX_DEPTH) return perr(p, p->pos, "arrays or inline tables nested too deeply");
    size_t start = p->pos;
    int c = peek(p);
    if (c == '"' || c == '\'') {
        buf b = {0};
        return text_value(p, parse_string_value(p, &b), AM_TOML_STRING, start, &b, out);
    }
    if (c == '[') return parse_array(p, out, depth);
    if (c == '{') return parse_inline_table(p, out, depth);
    if (c == 't' || c == 'f') {
        const char *word = c == 't' ? "true" : "false";
        size_t n = strlen(word);
        if (p->len - p->pos >= n && memcmp(p->s + p->pos, word, n) == 0 && !is_bare(peek_at(p, n))) {
            am_toml_value *v = new_value(p, AM_TOML_BOOL, start);
            if (!v) return nomem();
            v->boolean = c == 't';
            p->pos += n;
            *out = v;
            return AM_OK;
        }
        return perr(p, start, "expected a value (booleans are lower-case true or false; strings need quotes)");
    }
    if (is_digit(c) &&
        ((is_digit(peek_at(p, 1)) && peek_at(p, 2) == ':') ||
         (is_digit(peek_at(p, 1)) && is_digit(peek_at(p, 2)) && is_digit(peek_at(p, 3)) && peek_at(p, 4) == '-')))
        return parse_datetime(p, out);
    if (is_digit(c) || c == '+' || c == '-' || c == 'i' || c == 'n') return parse_number(p, out);
    if (c < 0 || c == '\n' || c == '\r' || c == '#') return perr(p, start, "expected a value after '='");
    return perr(p, start, "expected a value (strings need quotes)");
}

/* key = value, inserted into `table`; dotted keys create (or extend) tables on the way. */
static am_status parse_keyval(parser *p, am_toml_value *table, int depth)
{
    keypath k = {0};
    am_status s = parse_key(p, &k);
    if (s != AM_OK) goto done;
    skip_ws(p);
    if (peek(p) != '=') {
        s = perr(p, p->pos, "expected '=' after a key");
        goto done;
    }
    p->pos++;
    skip_ws(p);
    am_toml_value *v = NULL;
    if ((s = parse_value(p, &v, depth)) != AM_OK) goto done;
    char shown[128];
    am_toml_value *t = table;
    for (size_t i = 0; i + 1 < k.n; i++) {
        am_toml_value *e = find(t, k.v[i].s, k.v[i].len);
        if (!e) {
            if ((s = add_container(p, t, &k.v[i], AM_TOML_TABLE, F_DOTTED, k.v[i].pos, &e)) != AM_OK) {
                am_toml_free(v);
                goto done;
            }
        } else if (e->type != AM_TOML_TABLE || (e->flags & (F_INLINE | F_EXPLICIT))) {
            am_toml_free(v);
            s = perr(p, k.v[i].pos, "cannot add keys to '%s' here: it is %s defined at line %d",
                     show_key(&k.v[i], shown, sizeof shown),
                     e->type != AM_TOML_TABLE ? "a value"
                     : (e->flags & F_INLINE)  ? "an inline table"
                                              : "a table",
                     e->key_line ? e->key_line : e->line);
            goto done;
        }
        t = e;
    }
    keypart *last = &k.v[k.n - 1];
    am_toml_value *old = find(t, last->s, last->len);
    if (old) {
        am_toml_free(v);
        s = perr(p, last->pos, "key '%s' is already defined (line %d)", show_key(last, shown, sizeof shown),
                 old->key_line ? old->key_line : old->line);
        goto done;
    }
    linecol(p, k.v[0].pos, &v->key_line, &v->key_column); /* where the whole (dotted) key starts */
    s = table_add(t, last, v);
done:
    keypath_free(&k);
    return s;
}

/* [a.b.c] or [[a.b.c]] */
static am_status parse_header(parser *p)
{
    size_t start = p->pos;
    int aot = peek_at(p, 1) == '[';
    p->pos += aot ? 2 : 1;
    keypath k = {0};
    char shown[128];
    am_status s = parse_key(p, &k);
    if (s != AM_OK) goto done;
    skip_ws(p);
    if (peek(p) != ']' || (aot && peek_at(p, 1) != ']')) {
        s = perr(p, p->pos,
                 aot ? "expected ']]' to close the array-of-tables header" : "expected ']' to close the table header");
        goto done;
    }
    p->pos += aot ? 2 : 1;
    if ((s = expect_eol(p, "a table header")) != AM_OK) goto done;
    am_toml_value *t = p->root;
    for (size_t i = 0; i + 1 < k.n; i++) {
        am_toml_value *e = find(t, k.v[i].s, k.v[i].len);
        if (!e) {
            if ((s = add_container(p, t, &k.v[i], AM_TOML_TABLE, F_IMPLICIT, k.v[i].pos, &e)) != AM_OK) goto done;
        } else if (e->type == AM_TOML_ARRAY && (e->flags & F_AOT)) {
            e = e->items[e->n - 1];
        } else if (e->type != AM_TOML_TABLE || (e->flags & F_INLINE)) {
            s = perr(p, k.v[i].pos, "'%s' is %s (line %d), not a table that can be extended",
                     show_key(&k.v[i], shown, sizeof shown),
                     e->type == AM_TOML_TABLE   ? "an inline table"
                     : e->type == AM_TOML_ARRAY ? "an array"
                                                : "a value",
                     e->key_line ? e->key_line : e->line);
            goto done;
        }
        t = e;
    }
    keypart *last = &k.v[k.n - 1];
    am_toml_value *e = find(t, last->s, last->len);
    if (aot) {
        if (!e) {
            if ((s = add_container(p, t, last, AM_TOML_ARRAY, F_AOT, start, &e)) != AM_OK) goto done;
        } else if (!(e->type == AM_TOML_ARRAY && (e->flags & F_AOT))) {
            s = perr(p, last->pos, "'%s' is already defined (line %d) and is not an array of tables",
                     show_key(last, shown, sizeof shown), e->key_line ? e->key_line : e->line);
            goto done;
        }
        am_toml_value *nt = new_value(p, AM_TOML_TABLE, start);
        if (!nt) {
            s = nomem();
            goto done;
        }
        nt->key_line = nt->line;
        nt->key_column = nt->column;
        nt->flags = F_EXPLICIT;
        if ((s = array_add(e, nt)) != AM_OK) goto done;
        p->cur = nt;
    } else {
        if (!e) {
            if ((s = add_container(p, t, last, AM_TOML_TABLE, F_EXPLICIT, start, &e)) != AM_OK) goto done;
        } else if (e->type == AM_TOML_TABLE && e->flags == F_IMPLICIT) {
            e->flags = F_EXPLICIT; /* [a.b] came first; now [a] itself */
            linecol(p, start, &e->key_line, &e->key_column);
        } else {
            s = perr(p, last->pos, "'%s' is already defined (line %d)", show_key(last, shown, sizeof shown),
                     e->key_line ? e->key_line : e->line);
            goto done;
        }
        p->cur = e;
    }
done:
    keypath_free(&k);
    return s;
}

am_status am_toml_parse(const char *text, size_t len, const char *name, am_toml_value **root)
{
    *root = NULL;
    parser p = {.name = name ? name : "<toml>", .s = (const unsigned char *)text, .len = len};
    col_cache last = {0, 0, 1};
    p.last = &last;
    am_status s = index_lines(&p);
    if (s != AM_OK) return s;
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) p.pos = 3; /* a byte-order mark may open the file */
    if ((s = check_utf8(&p)) != AM_OK) goto fail;
    p.root = new_value(&p, AM_TOML_TABLE, 0);
    if (!p.root) {
        s = nomem();
        goto fail;
    }
    p.root->flags = F_EXPLICIT;
    p.cur = p.root;
    while (p.pos < p.len) {
        skip_ws(&p);
        if ((s = skip_comment(&p)) != AM_OK) goto fail;
        if (p.pos >= p.len) break;
        if (eat_newline(&p)) continue;
        int c = peek(&p);
        if (c == '\r') {
            s = perr(&p, p.pos, "carriage return not followed by a line feed");
            goto fail;
        }
        if (c == '[') {
            if ((s = parse_header(&p)) != AM_OK) goto fail;
            continue;
        }
        if ((s = parse_keyval(&p, p.cur, 0)) != AM_OK) goto fail;
        if ((s = expect_eol(&p, "a value")) != AM_OK) goto fail;
    }
    free(p.lines);
    *root = p.root;
    return AM_OK;
fail:
    free(p.lines);
    am_toml_free(p.root);
    return s;
}

am_status am_toml_parse_file(const char *path, am_toml_value **root)
{
    *root = NULL;
    FILE *fp = fopen(path, "rb");
    if (!fp) return am_error(AM_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    buf b = {0};
    char chunk[65536];
    size_t got;
    am_status s = AM_OK;
    while ((got = fread(chunk, 1, sizeof chunk, fp)) > 0)
        if ((s = buf_put(&b, chunk, got)) != AM_OK) break;
    if (s == AM_OK && ferror(fp)) s = am_error(AM_ERR_IO, "%s: read error", path);
    fclose(fp);
    if (s == AM_OK) s = am_toml_parse(b.s ? b.s : "", b.len, path, root);
    free(b.s);
    return s;
}

const am_toml_value *am_toml_get(const am_toml_value *table, const char *key)
{
    if (!table || table->type != AM_TOML_TABLE) return NULL;
    return find(table, key, strlen(key));
}

const char *am_toml_type_name(am_toml_type t)
{
    switch (t) {
    case AM_TOML_TABLE: return "table";
    case AM_TOML_ARRAY: return "array";
    case AM_TOML_STRING: return "string";
    case AM_TOML_INTEGER: return "integer";
    case AM_TOML_FLOAT: return "float";
    case AM_TOML_BOOL: return "boolean";
    case AM_TOML_DATETIME: return "date-time";
    case AM_TOML_DATETIME_LOCAL: return "local date-time";
    case AM_TOML_DATE_LOCAL: return "local date";
    case AM_TOML_TIME_LOCAL: return "local time";
    }
    return "unknown";
}

/* Declarative settings keys: checking, storing and printing a value by its row (schema.h). */
#include "schema.h"

#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const am_key *am_key_find(const am_key *keys, const char *name)
{
    for (const am_key *k = keys; k && k->name; k++)
        if (!strcmp(k->name, name)) return k;
    return NULL;
}

const char *am_value_what(const am_key_value *v)
{
    switch (v->kind) {
    case AM_VALUE_INTEGER: return "an integer";
    case AM_VALUE_FLOAT: return "a float";
    case AM_VALUE_BOOL: return "a boolean";
    case AM_VALUE_STRING: return "a string";
    case AM_VALUE_LIST: return "an array";
    default: return v->what ? v->what : "something else";
    }
}

/* The largest value an integer row's storage holds. */
static double int_top(am_key_type t)
{
    switch (t) {
    case AM_KEY_INT: return (double)INT_MAX;
    case AM_KEY_MEGABYTES: return (double)(SIZE_MAX >> 20);
    default: return (double)INT64_MAX;
    }
}

static int is_integer_type(am_key_type t)
{
    return t == AM_KEY_INT || t == AM_KEY_INT64 || t == AM_KEY_U64 || t == AM_KEY_MEGABYTES;
}

static void choices_rule(const am_key *k, char *buf, size_t size)
{
    size_t n = (size_t)snprintf(buf, size, "one of");
    for (int i = 0; k->choices[i] && n < size; i++)
        n += (size_t)snprintf(buf + n, size - n, "%s \"%s\"", i ? "," : "", k->choices[i]);
}

void am_key_rule(const am_key *k, char *buf, size_t size)
{
    const char *zero = (k->flags & AM_KEY_ZERO_OK) ? "0 or " : "";
    if (is_integer_type(k->type)) {
        const char *odd = (k->flags & AM_KEY_ODD) ? "an odd integer " : "";
        if (k->hi >= int_top(k->type) && k->lo == 1 && !*odd) snprintf(buf, size, "%s> 0", zero);
        else if (k->hi >= int_top(k->type)) snprintf(buf, size, "%s%s>= %.0f", zero, odd, k->lo);
        else snprintf(buf, size, "%s%sbetween %.0f and %.0f", zero, odd, k->lo, k->hi);
    } else if (k->type == AM_KEY_FLOAT) {
        int open_lo = k->flags & AM_KEY_OPEN_LO, open_hi = k->flags & AM_KEY_OPEN_HI;
        if (isinf(k->lo) && isinf(k->hi)) snprintf(buf, size, "a finite number");
        else if (isinf(k->hi)) snprintf(buf, size, "%s%s %g", zero, open_lo ? ">" : ">=", k->lo);
        else snprintf(buf, size, "%sin %c%g, %g%c", zero, open_lo ? '(' : '[', k->lo, k->hi, open_hi ? ')' : ']');
    } else if (k->type == AM_KEY_BOOL) {
        snprintf(buf, size, "true or false");
    } else if (k->type == AM_KEY_CHOICE || k->type == AM_KEY_NAME) {
        choices_rule(k, buf, size);
    } else if (k->type == AM_KEY_CUSTOM) {
        snprintf(buf, size, "%s", k->rule ? k->rule : "see its description");
    } else {
        snprintf(buf, size, "a non-empty text");
    }
}

static am_status type_error(const am_key_value *v, const char *name, const char *want)
{
    return am_error(AM_ERR_VALUE, "%s must be %s, not %s", name, want, am_value_what(v));
}

static am_status range_error(const am_key *k, const char *name, const char *shown)
{
    char rule[256];
    am_key_rule(k, rule, sizeof rule);
    return am_error(AM_ERR_VALUE, "%s = %s: must be %s", name, shown, rule);
}

static am_status set_integer(const am_key *k, void *at, const am_key_value *v, const char *name)
{
    int64_t x;
    char shown[48];
    if (v->kind == AM_VALUE_INTEGER) x = v->integer;
    else if (v->kind == AM_VALUE_FLOAT && (k->flags & AM_KEY_LOOSE) && isfinite(v->number) &&
             v->number == floor(v->number) && fabs(v->number) < 9e15)
        x = (int64_t)v->number;
    else if (v->kind == AM_VALUE_FLOAT && (k->flags & AM_KEY_LOOSE)) {
        snprintf(shown, sizeof shown, "%g", v->number);
        return range_error(k, name, shown);
    } else return type_error(v, name, "an integer");
    snprintf(shown, sizeof shown, "%" PRId64, x);
    int zero = x == 0 && (k->flags & AM_KEY_ZERO_OK);
    if (!zero && ((double)x < k->lo || ((k->flags & AM_KEY_ODD) && x % 2 == 0))) return range_error(k, name, shown);
    if (!zero && (double)x > k->hi) {
        /* a one-sided rule names its lower bound; above the top, say the top */
        if (k->hi >= int_top(k->type))
            return am_error(AM_ERR_VALUE, "%s = %s: must be <= %.0f", name, shown, int_top(k->type));
        return range_error(k, name, shown);
    }
    switch (k->type) {
    case AM_KEY_INT: *(int *)at = (int)x; break;
    case AM_KEY_INT64: *(int64_t *)at = x; break;
    case AM_KEY_U64: *(uint64_t *)at = (uint64_t)x; break;
    default: *(size_t *)at = (size_t)x << 20; break;
    }
    return AM_OK;
}

static am_status set_float(const am_key *k, double *at, const am_key_value *v, const char *name)
{
    double x;
    if (v->kind == AM_VALUE_FLOAT) x = v->number;
    else if (v->kind == AM_VALUE_INTEGER) x = (double)v->integer;
    else return type_error(v, name, "a number");
    char shown[48];
    snprintf(shown, sizeof shown, "%g", x);
    int zero = x == 0 && (k->flags & AM_KEY_ZERO_OK);
    if (!zero && (!isfinite(x) || x < k->lo || x > k->hi || ((k->flags & AM_KEY_OPEN_LO) && x == k->lo) ||
                  ((k->flags & AM_KEY_OPEN_HI) && x == k->hi)))
        return range_error(k, name, shown);
    *at = x;
    return AM_OK;
}

static am_status set_bool(const am_key *k, int *at, const am_key_value *v, const char *name)
{
    if (v->kind == AM_VALUE_BOOL) {
        *at = v->boolean != 0;
        return AM_OK;
    }
    if ((k->flags & AM_KEY_LOOSE) && (v->kind == AM_VALUE_INTEGER || v->kind == AM_VALUE_FLOAT)) {
        double x = v->kind == AM_VALUE_INTEGER ? (double)v->integer : v->number;
        if (x == 0 || x == 1) {
            *at = (int)x;
            return AM_OK;
        }
        char shown[48];
        snprintf(shown, sizeof shown, "%g", x);
        return am_error(AM_ERR_VALUE, "%s = %s: must be true or false (or 1, 0)", name, shown);
    }
    return type_error(v, name, "true or false");
}

static am_status set_text(char **at, const char *value)
{
    char *c = strdup(value);
    if (!c) return am_error(AM_ERR_NOMEM, "settings: out of memory");
    free(*at);
    *at = c;
    return AM_OK;
}

/* CHOICE and NAME: the position of v among the row's names. */
static am_status choice_index(const am_key *k, const am_key_value *v, const char *name, int *index)
{
    int n = 0;
    while (k->choices[n]) n++;
    if ((k->flags & AM_KEY_LOOSE) && (v->kind == AM_VALUE_INTEGER || v->kind == AM_VALUE_FLOAT)) {
        double x = v->kind == AM_VALUE_INTEGER ? (double)v->integer : v->number;
        if (x >= 0 && x < n && x == floor(x)) {
            *index = (int)x;
            return AM_OK;
        }
        char shown[48];
        snprintf(shown, sizeof shown, "%g", x);
        return range_error(k, name, shown);
    }
    if (v->kind != AM_VALUE_STRING) return type_error(v, name, "a string");
    for (int i = 0; i < n; i++)
        if (!strcmp(k->choices[i], v->str)) {
            *index = i;
            return AM_OK;
        }
    char shown[80];
    snprintf(shown, sizeof shown, "\"%.60s\"", v->str);
    return range_error(k, name, shown);
}

am_status am_key_set(const am_key *k, void *base, const am_key_value *v, const char *name)
{
    void *at = (char *)base + k->offset;
    am_status st = AM_OK;
    int index = 0;
    switch (k->type) {
    case AM_KEY_INT:
    case AM_KEY_INT64:
    case AM_KEY_U64:
    case AM_KEY_MEGABYTES: st = set_integer(k, at, v, name); break;
    case AM_KEY_FLOAT: st = set_float(k, at, v, name); break;
    case AM_KEY_BOOL: st = set_bool(k, at, v, name); break;
    case AM_KEY_CHOICE:
        st = choice_index(k, v, name, &index);
        if (st == AM_OK) *(int *)at = index;
        break;
    case AM_KEY_NAME:
        st = choice_index(k, v, name, &index);
        if (st == AM_OK) st = set_text(at, k->choices[index]);
        break;
    case AM_KEY_TEXT:
        if (v->kind != AM_VALUE_STRING) return type_error(v, name, "a string");
        if (!v->str[0]) return range_error(k, name, "\"\"");
        st = set_text(at, v->str);
        break;
    case AM_KEY_CUSTOM: return k->set(base, k, v, name);
    }
    if (st == AM_OK && k->set) st = k->set(base, k, v, name);
    return st;
}

void am_toml_quote(const char *text, char *buf, size_t size)
{
    size_t n = 0;
    if (size < 3) {
        if (size) buf[0] = 0;
        return;
    }
    buf[n++] = '"';
    for (const unsigned char *p = (const unsigned char *)text; *p && n + 8 < size; p++) {
        if (*p == '"' || *p == '\\') buf[n++] = '\\', buf[n++] = (char)*p;
        else if (*p < 0x20 || *p == 0x7f) n += (size_t)snprintf(buf + n, size - n, "\\u%04x", *p);
        else buf[n++] = (char)*p;
    }
    buf[n++] = '"';
    buf[n] = 0;
}

int am_key_format(const am_key *k, const void *base, char *buf, size_t size)
{
    const void *at = (const char *)base + k->offset;
    buf[0] = 0;
    switch (k->type) {
    case AM_KEY_INT:
        if ((k->flags & AM_KEY_UNSET_0) && *(const int *)at == 0) return 0;
        snprintf(buf, size, "%d", *(const int *)at);
        break;
    case AM_KEY_INT64: snprintf(buf, size, "%" PRId64, *(const int64_t *)at); break;
    case AM_KEY_U64: snprintf(buf, size, "%" PRIu64, *(const uint64_t *)at); break;
    case AM_KEY_MEGABYTES: snprintf(buf, size, "%zu", *(const size_t *)at >> 20); break;
    case AM_KEY_FLOAT: {
        /* the shortest text that reads back as the same double */
        double x = *(const double *)at;
        for (int digits = 6; digits <= 17; digits++) {
            snprintf(buf, size, "%.*g", digits, x);
            if (strtod(buf, NULL) == x) break;
        }
        if (!strpbrk(buf, ".eEn")) strncat(buf, ".0", size - strlen(buf) - 1); /* TOML: a float */
        break;
    }
    case AM_KEY_BOOL: snprintf(buf, size, "%s", *(const int *)at ? "true" : "false"); break;
    case AM_KEY_CHOICE: {
        int i = *(const int *)at, n = 0;
        while (k->choices[n]) n++;
        am_toml_quote(i >= 0 && i < n ? k->choices[i] : "?", buf, size);
        break;
    }
    case AM_KEY_NAME:
    case AM_KEY_TEXT: {
        const char *text = *(const char *const *)at;
        if (!text) return 0;
        am_toml_quote(text, buf, size);
        break;
    }
    case AM_KEY_CUSTOM: return k->format(base, k, buf, size);
    }
    return 1;
}

void am_keys_free_texts(const am_key *keys, void *base)
{
    for (const am_key *k = keys; k && k->name; k++)
        if (k->type == AM_KEY_TEXT || k->type == AM_KEY_NAME) {
            char **at = (char **)((char *)base + k->offset);
            free(*at);
            *at = NULL;
        }
}

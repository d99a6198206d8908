/* Declarative settings keys: one row per key says where its value lives in a struct, its type,
 * its range or names, and what it means. One table then drives reading (type and range checks
 * with the key's name in every message), printing the effective value, the rule shown in errors
 * and docs, and the reference documentation. The settings file and the augment module's
 * am_augment_set both read through it. Internal to the library. */
#ifndef AM_CORE_SCHEMA_H
#define AM_CORE_SCHEMA_H

#include <stddef.h>
#include <stdint.h>

#include "astromorph/status.h"

typedef enum {
    AM_KEY_INT, /* int */
    AM_KEY_INT64, /* int64_t */
    AM_KEY_U64, /* uint64_t */
    AM_KEY_MEGABYTES, /* size_t bytes, written in MiB */
    AM_KEY_FLOAT, /* double; an integer is accepted, as pydantic does */
    AM_KEY_BOOL, /* int 0/1 */
    AM_KEY_CHOICE, /* int or enum: the index of the name in choices */
    AM_KEY_NAME, /* char *: one of choices, kept as text */
    AM_KEY_TEXT, /* char *: any non-empty text */
    AM_KEY_CUSTOM /* the row's set and format do everything */
} am_key_type;

enum {
    AM_KEY_OPEN_LO = 1 << 0, /* lo itself is out of range */
    AM_KEY_OPEN_HI = 1 << 1, /* hi itself is out of range */
    AM_KEY_ZERO_OK = 1 << 2, /* 0, or a value in [lo, hi] */
    AM_KEY_ODD = 1 << 3, /* odd integers only */
    AM_KEY_LOOSE = 1 << 4, /* numbers for anything: 0/1 for a bool, an index for a choice, an
                                 integral float for an integer (am_augment_set's numeric API) */
    AM_KEY_ORIGINAL = 1 << 5, /* a key of the original package */
    AM_KEY_FREE = 1 << 6, /* does not shape a training run: a resume may change it */
    AM_KEY_REQUIRED = 1 << 7, /* a file without it is refused (the reference writes it out) */
    AM_KEY_UNSET_0 = 1 << 8 /* 0 stands for "not given" (printed as a comment) */
};

/* A value as read, independent of the file format. */
typedef enum {
    AM_VALUE_INTEGER,
    AM_VALUE_FLOAT,
    AM_VALUE_BOOL,
    AM_VALUE_STRING,
    AM_VALUE_LIST,
    AM_VALUE_OTHER
} am_value_kind;
typedef struct am_key_value {
    am_value_kind kind;
    int64_t integer;
    double number;
    int boolean;
    const char *str; /* STRING */
    const char *const *items; /* LIST: strings */
    size_t n;
    const char *what; /* OTHER: what it is ("a date-time"), for the message */
} am_key_value;

typedef struct am_key am_key;
struct am_key {
    const char *name; /* "epochs", "rotation.max_degrees"; NULL ends a table */
    am_key_type type;
    size_t offset; /* of the value in the table's struct */
    double lo, hi; /* numbers: the range */
    unsigned flags;
    const char *const *choices; /* CHOICE, NAME: NULL-terminated */
    const char *doc; /* one line for the reference */
    const char *example; /* shown in the reference when the key has no default */
    /* CUSTOM: stores the value; others: runs after the value is stored (may be NULL) */
    am_status (*set)(void *base, const am_key *k, const am_key_value *v, const char *name);
    /* CUSTOM: the value as TOML text; returns 0 when there is none */
    int (*format)(const void *base, const am_key *k, char *buf, size_t size);
    const char *rule; /* CUSTOM: the rule as the docs say it */
};

/* The offset of an enum or int field of T for a CHOICE row; refuses to compile when the field is
 * not int-sized (CHOICE stores an int). */
#define AM_KEY_ENUM_AT(T, field)                                                                                       \
    (offsetof(T, field) + 0 * sizeof(char[sizeof(((T *)0)->field) == sizeof(int) ? 1 : -1]))

/* The row named `name` of a NULL-name-terminated table, or NULL. */
const am_key *am_key_find(const am_key *keys, const char *name);

/* Stores v into base + k->offset after checking type and range. `name` is the key as the user
 * wrote it ("data_settings.nan_policy") for the messages: "NAME must be an integer, not a
 * string", "NAME = 0: must be > 0". AM_ERR_VALUE on a mistake, AM_ERR_NOMEM. */
am_status am_key_set(const am_key *k, void *base, const am_key_value *v, const char *name);

/* The value at base as TOML text ("12", "0.5", "true", "\"asinh\""); returns 0 (buf "") when
 * the key holds nothing (a NULL text, 0 with AM_KEY_UNSET_0). */
int am_key_format(const am_key *k, const void *base, char *buf, size_t size);

/* The rule a value must follow, as the messages and the docs say it: "> 0", "in (0, 1)",
 * "between 1 and 64", "one of \"zero\", \"min\", \"median\"", "true or false". */
void am_key_rule(const am_key *k, char *buf, size_t size);

/* What a value is, for messages: "an integer", "a string", ... */
const char *am_value_what(const am_key_value *v);

/* The text as a TOML basic string, quotes included. */
void am_toml_quote(const char *text, char *buf, size_t size);

/* Frees the texts (TEXT, NAME) a table's keys hold in base and sets them to NULL. */
void am_keys_free_texts(const am_key *keys, void *base);

#endif

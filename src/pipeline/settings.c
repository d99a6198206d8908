/* Settings files: TOML → am_settings, with the original package's keys and ours, every key
 * type- and range-checked, unknown keys answered with the nearest known one. */
#include "astromorph/settings.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "astromorph/fits.h"
#include "astromorph/toml.h"

/* Known keys per table; NULL-terminated. A key here that a command does not use is still
 * checked, so one file serves both training and inference (as the original's example does). */
static const char *const root_keys[] = {
    /* the original package */
    "datafile", "maskfile", "epochs", "learning_rate", "exponential_lr", "gamma", "batch_size", "core_limit",
    "network_name", "network_settings", "data_settings", "byol_settings", "trained_network_name", "export_to_csv",
    /* ours */
    "defaults", "resume", "seed", "lr_schedule", "warmup_epochs", "min_lr_ratio", "weight_decay", "batchnorm",
    "images_per_forward", "replicas", "test_fraction", "checkpoint_every", "n_clusters", "projector_sprite",
    "ema_schedule", "optimizer", "morphology", "morphology_channels", "hybrid_weight",
    "augmentation", NULL};
static const char *const network_keys[] = {"last_layer", "pretrained", NULL};
static const char *const data_keys[] = {"stacksize", "nan_policy",      "skip_bad_files",    "extra_keys", "cache_mb",
                                        "prefetch",  "min_object_size", "min_object_pixels", "mask_mode",  NULL};
static const char *const byol_keys[] = {"representation_size", "projection_size", "projection_hidden_size",
                                        "use_momentum", "moving_average_decay", "loss", "hidden_layer", NULL};

typedef struct {
    const char *name;
    const char *const *keys;
} table_keys;
static const table_keys tables[] = {{"", root_keys},
                                    {"network_settings", network_keys},
                                    {"data_settings", data_keys},
                                    {"byol_settings", byol_keys}};
enum { N_TABLES = sizeof tables / sizeof tables[0] };

const char *const *am_settings_known_keys(const char *table)
{
    for (int t = 0; t < N_TABLES; t++)
        if (!strcmp(tables[t].name, table ? table : "")) return tables[t].keys;
    return NULL;
}

typedef struct {
    const char *file;
    am_settings *s;
} loader;

int am_edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63) return INT_MAX / 2;
    int row[64];
    for (size_t j = 0; j <= lb; j++) row[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        int diag = row[0];
        row[0] = (int)i;
        for (size_t j = 1; j <= lb; j++) {
            int up = row[j];
            int best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best) best = up + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

static void qualify(char *out, size_t size, const char *table, const char *key)
{
    if (table && *table) snprintf(out, size, "%s.%s", table, key);
    else snprintf(out, size, "%s", key);
}

/* "unknown key 'epoch' (did you mean 'epochs'?)": the nearest key of the same table, or the
 * table where the key belongs when it is written in the wrong one. */
static am_status unknown_key(const loader *L, const am_toml_value *v, const char *table, const char *key)
{
    char name[160], hint[200] = "";
    qualify(name, sizeof name, table, key);
    for (int t = 0; t < N_TABLES && !hint[0]; t++)
        for (const char *const *k = tables[t].keys; *k; k++)
            if (strcmp(*k, key) == 0 && strcmp(tables[t].name, table) != 0) {
                if (*tables[t].name) snprintf(hint, sizeof hint, " (it belongs in [%s])", tables[t].name);
                else snprintf(hint, sizeof hint, " (it belongs at the top level, before any [table])");
                break;
            }
    if (!hint[0]) {
        int best = INT_MAX;
        const char *best_key = NULL, *best_table = NULL;
        for (int t = 0; t < N_TABLES; t++)
            for (const char *const *k = tables[t].keys; *k; k++) {
                /* a near miss in the same table beats one elsewhere */
                int d = am_edit_distance(key, *k) * 2 + (strcmp(tables[t].name, table) != 0);
                if (d < best) {
                    best = d;
                    best_key = *k;
                    best_table = tables[t].name;
                }
            }
        int len = (int)strlen(key);
        if (best_key && best / 2 <= (len > 6 ? len / 3 : 2)) {
            char q[160];
            qualify(q, sizeof q, best_table, best_key);
            snprintf(hint, sizeof hint, " (did you mean '%s'?)", q);
        }
    }
    return am_error(AM_ERR_NOTFOUND, "%s:%d:%d: unknown key '%s'%s", L->file, v->key_line ? v->key_line : v->line,
                    v->key_line ? v->key_column : v->column, name, hint);
}

static am_status check_known(const loader *L, const am_toml_value *t, const char *table, const char *const *keys)
{
    for (size_t i = 0; i < t->n; i++) {
        int known = 0;
        for (const char *const *k = keys; *k && !known; k++) known = strcmp(*k, t->keys[i]) == 0;
        if (!known) return unknown_key(L, t->items[i], table, t->keys[i]);
    }
    return AM_OK;
}

static am_status type_error(const loader *L, const am_toml_value *v, const char *name, const char *want)
{
    return am_error(AM_ERR_VALUE, "%s:%d:%d: %s must be %s, not a %s", L->file, v->line, v->column, name, want,
                    am_toml_type_name(v->type));
}

static am_status range_error(const loader *L, const am_toml_value *v, const char *name, const char *shown,
                             const char *rule)
{
    return am_error(AM_ERR_VALUE, "%s:%d:%d: %s = %s: must be %s", L->file, v->line, v->column, name, shown, rule);
}

/* Integer key in [lo, hi]; *present (may be NULL) says whether the file had it. */
static am_status get_int(const loader *L, const am_toml_value *tab, const char *table, const char *key, int *out,
                         int64_t lo, int64_t hi, const char *rule)
{
    const am_toml_value *v = am_toml_get(tab, key);
    if (!v) return AM_OK;
    char name[160], shown[32];
    qualify(name, sizeof name, table, key);
    if (v->type != AM_TOML_INTEGER) return type_error(L, v, name, "an integer");
    snprintf(shown, sizeof shown, "%lld", (long long)v->integer);
    if (v->integer < lo) return range_error(L, v, name, shown, rule);
    if (v->integer > hi) { /* the rule names the lower bound; above the top, say the top */
        char top[48];
        snprintf(top, sizeof top, "<= %lld", (long long)hi);
        return range_error(L, v, name, shown, top);
    }
    *out = (int)v->integer;
    return AM_OK;
}

enum { OPEN_LO = 1, OPEN_HI = 2 };

/* Float key (an integer is accepted, as pydantic does) in the interval lo..hi. */
static am_status get_float(const loader *L, const am_toml_value *tab, const char *table, const char *key,
                           double *out, double lo, double hi, int open, const char *rule)
{
    const am_toml_value *v = am_toml_get(tab, key);
    if (!v) return AM_OK;
    char name[160], shown[40];
    qualify(name, sizeof name, table, key);
    double x;
    if (v->type == AM_TOML_FLOAT) x = v->number;
    else if (v->type == AM_TOML_INTEGER) x = (double)v->integer;
    else return type_error(L, v, name, "a number");
    snprintf(shown, sizeof shown, "%g", x);
    if (!isfinite(x) || x < lo || x > hi || ((open & OPEN_LO) && x == lo) || ((open & OPEN_HI) && x == hi))
        return range_error(L, v, name, shown, rule);
    *out = x;
    return AM_OK;
}

static am_status get_bool(const loader *L, const am_toml_value *tab, const char *table, const char *key, int *out)
{
    const am_toml_value *v = am_toml_get(tab, key);
    if (!v) return AM_OK;
    char name[160];
    qualify(name, sizeof name, table, key);
    if (v->type != AM_TOML_BOOL) return type_error(L, v, name, "true or false");
    *out = v->boolean;
    return AM_OK;
}

static am_status set_string(char **dst, const char *value)
{
    char *c = strdup(value);
    if (!c) return am_error(AM_ERR_NOMEM, "settings: out of memory");
    free(*dst);
    *dst = c;
    return AM_OK;
}

static am_status get_string(const loader *L, const am_toml_value *tab, const char *table, const char *key, char **out)
{
    const am_toml_value *v = am_toml_get(tab, key);
    if (!v) return AM_OK;
    char name[160];
    qualify(name, sizeof name, table, key);
    if (v->type != AM_TOML_STRING) return type_error(L, v, name, "a string");
    if (v->len != strlen(v->str) || v->len == 0) return range_error(L, v, name, "\"\"", "a non-empty text");
    return set_string(out, v->str);
}

/* A string key that must be one of `choices` (NULL-terminated); *index receives its position. */
static am_status get_choice(const loader *L, const am_toml_value *tab, const char *table, const char *key,
                            const char *const *choices, int *index)
{
    const am_toml_value *v = am_toml_get(tab, key);
    if (!v) return AM_OK;
    char name[160], rule[200] = "one of", shown[80];
    qualify(name, sizeof name, table, key);
    if (v->type != AM_TOML_STRING) return type_error(L, v, name, "a string");
    for (int i = 0; choices[i]; i++) {
        if (strcmp(choices[i], v->str) == 0) {
            *index = i;
            return AM_OK;
        }
        size_t n = strlen(rule);
        snprintf(rule + n, sizeof rule - n, "%s \"%s\"", i ? "," : "", choices[i]);
    }
    snprintf(shown, sizeof shown, "\"%.60s\"", v->str);
    return range_error(L, v, name, shown, rule);
}

/* A sub-table such as [byol_settings]: absent is fine (NULL), anything else must be a table. */
static am_status get_table(const loader *L, const am_toml_value *root, const char *key, const am_toml_value **out)
{
    *out = am_toml_get(root, key);
    if (*out && (*out)->type != AM_TOML_TABLE) return type_error(L, *out, key, "a table");
    return AM_OK;
}

/* ---- [augmentation]: nested tables flatten to the augment module's dotted keys ---- */

/* The nearest key the augment module accepts: candidates are probed on a scratch pipeline, so
 * a suggestion is always a key that module really knows. */
static void nearest_aug_key(const char *key, char *out, size_t size)
{
    static const char *const fields[] = {"enabled", "p", "brightness", "contrast", "min_degrees", "max_degrees",
                                         "interpolation", "fill", "kernel", "sigma_min", "sigma_max"};
    int best = INT_MAX;
    out[0] = '\0';
    for (int k = -1; k < AM_AUG_COUNT; k++) {
        for (size_t f = 0; f < (k < 0 ? 3 : sizeof fields / sizeof fields[0]); f++) {
            static const char *const top[] = {"normalize", "shared", "order"};
            char cand[64];
            if (k < 0) snprintf(cand, sizeof cand, "%s", top[f]);
            else snprintf(cand, sizeof cand, "%s.%s", am_aug_name((am_aug_kind)k), fields[f]);
            int d = am_edit_distance(key, cand);
            am_augment scratch;
            am_augment_original(&scratch);
            if (d < best && am_augment_set_str(&scratch, cand, "1") != AM_ERR_NOTFOUND) {
                best = d;
                snprintf(out, size, "%s", cand);
            }
        }
    }
    if (best > 3) out[0] = '\0';
}

static am_status load_augmentation(const loader *L, const am_toml_value *t, const char *prefix)
{
    for (size_t i = 0; i < t->n; i++) {
        const am_toml_value *v = t->items[i];
        char key[160], name[200];
        if (*prefix) snprintf(key, sizeof key, "%s.%s", prefix, t->keys[i]);
        else snprintf(key, sizeof key, "%s", t->keys[i]);
        snprintf(name, sizeof name, "augmentation.%s", key);
        am_status s;
        if (v->type == AM_TOML_TABLE) {
            s = load_augmentation(L, v, key);
            if (s != AM_OK) return s;
            continue;
        }
        if (v->type == AM_TOML_INTEGER) s = am_augment_set(&L->s->augment, key, (double)v->integer);
        else if (v->type == AM_TOML_FLOAT) s = am_augment_set(&L->s->augment, key, v->number);
        else if (v->type == AM_TOML_BOOL) s = am_augment_set(&L->s->augment, key, v->boolean ? 1.0 : 0.0);
        else if (v->type == AM_TOML_STRING) s = am_augment_set_str(&L->s->augment, key, v->str);
        else if (v->type == AM_TOML_ARRAY && strcmp(key, "order") == 0) {
            /* order = ["hflip", "rotation"] reads as "hflip,rotation" */
            char list[256] = "";
            for (size_t j = 0; j < v->n; j++) {
                if (v->items[j]->type != AM_TOML_STRING) return type_error(L, v->items[j], name, "a string");
                size_t n = strlen(list);
                snprintf(list + n, sizeof list - n, "%s%s", j ? "," : "", v->items[j]->str);
            }
            s = am_augment_set_str(&L->s->augment, key, list);
        } else {
            return type_error(L, v, name, "a number, boolean or string");
        }
        if (s == AM_ERR_NOTFOUND) {
            char near[64];
            nearest_aug_key(key, near, sizeof near);
            return am_error(s, "%s:%d:%d: unknown key '%s'%s%s%s", L->file, v->key_line, v->key_column, name,
                            near[0] ? " (did you mean 'augmentation." : "", near, near[0] ? "'?)" : "");
        }
        if (s != AM_OK) return am_error_prefix(s, "%s:%d:%d", L->file, v->line, v->column);
    }
    return AM_OK;
}

/* ---- defaults ---- */

static void set_defaults(am_settings *s, int original)
{
    s->original_defaults = original;
    if (original) am_train_settings_original(&s->train);
    else am_train_settings_default(&s->train);
    am_byol_options_default(&s->byol);
    am_dataset_options_default(&s->data);
    if (original) am_augment_original(&s->augment);
    else am_augment_default(&s->augment);
    s->exponential_lr = s->train.schedule == AM_LR_EXPONENTIAL;
    s->stacksize = 1;
    s->core_limit = 0;
    s->n_clusters = 10;
    s->sprite = 1;
    s->morphology = !original;
    /* learned features beside the morphology statistics, half and half (docs/quality.md) */
    s->hybrid_weight = original ? 0.0 : 0.5;
    s->export_to_csv = 0;
    if (!original) s->byol.loss = AM_BYOL_LOSS_SYMMETRIC; /* the BYOL paper's; measured in docs/quality.md */
    if (original) {
        /* the original package's BYOL sizes */
        s->byol.projection_size = 256;
        s->byol.projection_hidden_size = 1024;
        s->byol.use_momentum = 1;
        s->byol.moving_average_decay = 0.99;
        s->byol.loss = AM_BYOL_LOSS_ONE_WAY;
    }
}

/* A path from the file: as given when it exists from the working directory (the original's
 * rule), else relative to the settings file's folder. The result is what the command opens. */
static am_status resolve_path(const loader *L, char **path)
{
    struct stat st;
    if (!*path || (*path)[0] == '/' || stat(*path, &st) == 0 || !L->file) return AM_OK;
    const char *slash = strrchr(L->file, '/');
    if (!slash) return AM_OK;
    size_t n = (size_t)(slash - L->file) + 1 + strlen(*path) + 1;
    char *alt = malloc(n);
    if (!alt) return am_error(AM_ERR_NOMEM, "settings: out of memory");
    snprintf(alt, n, "%.*s/%s", (int)(slash - L->file), L->file, *path);
    if (stat(alt, &st) == 0) {
        free(*path);
        *path = alt;
    } else {
        free(alt);
    }
    return AM_OK;
}

/* The file named by `key` must exist; `dir_ok` also accepts a folder. `where` locates the key
 * (a TOML value, or NULL when the value came from the command line as `option`). */
static am_status check_exists(const loader *L, const am_toml_value *where, const char *key, const char *option,
                              const char *path, int dir_ok)
{
    struct stat st;
    char loc[300];
    if (where) snprintf(loc, sizeof loc, "%s:%d:%d: %s", L->file, where->line, where->column, key);
    else snprintf(loc, sizeof loc, "%s %s", option, key);
    if (stat(path, &st) != 0) return am_error(AM_ERR_NOTFOUND, "%s: '%s' does not exist", loc, path);
    if (S_ISDIR(st.st_mode) && !dir_ok) return am_error(AM_ERR_VALUE, "%s: '%s' is a folder, not a file", loc, path);
    if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) return am_error(AM_ERR_VALUE, "%s: '%s' is not a file", loc, path);
    return AM_OK;
}

static am_status missing(const loader *L, const char *key, const char *how)
{
    return am_error(AM_ERR_NOTFOUND, "%s: missing required key '%s'%s", L->file ? L->file : "settings", key, how);
}

static am_status load_tables(loader *L, const am_toml_value *root, am_settings_command cmd)
{
    am_settings *s = L->s;
    const am_toml_value *net, *data, *byol, *aug;
    AM_TRY(get_table(L, root, "network_settings", &net));
    AM_TRY(get_table(L, root, "data_settings", &data));
    AM_TRY(get_table(L, root, "byol_settings", &byol));
    AM_TRY(get_table(L, root, "augmentation", &aug));
    if (net) AM_TRY(check_known(L, net, "network_settings", network_keys));
    if (data) AM_TRY(check_known(L, data, "data_settings", data_keys));
    if (byol) AM_TRY(check_known(L, byol, "byol_settings", byol_keys));

    /* the original's required keys (pydantic fields without defaults) */
    if (cmd == AM_SETTINGS_TRAINING && s->original_defaults) {
        const char *how = " (defaults = \"original\" asks for every key the original package requires)";
        if (!am_toml_get(root, "network_name")) return missing(L, "network_name", how);
        if (!net) return missing(L, "network_settings", how);
        if (!byol) return missing(L, "byol_settings", how);
        if (!am_toml_get(byol, "representation_size")) return missing(L, "byol_settings.representation_size", how);
    }

    static const char *const layers[] = {"layer1", "layer2", "layer3", "layer4", NULL};
    int layer = -1;
    AM_TRY(get_choice(L, net, "network_settings", "last_layer", layers, &layer));
    if (layer >= 0) AM_TRY(set_string(&s->last_layer, layers[layer]));
    AM_TRY(get_string(L, net, "network_settings", "pretrained", &s->pretrained));
    AM_TRY(resolve_path(L, &s->pretrained));
    if (s->pretrained)
        AM_TRY(check_exists(L, am_toml_get(net, "pretrained"), "network_settings.pretrained", NULL, s->pretrained, 0));

    AM_TRY(get_int(L, data, "data_settings", "stacksize", &s->stacksize, 1, 64, "between 1 and 64"));
    static const char *const nan_names[] = {"zero", "min", "median", NULL};
    int nan_policy = (int)s->data.fits.nan_policy;
    AM_TRY(get_choice(L, data, "data_settings", "nan_policy", nan_names, &nan_policy));
    AM_TRY(am_nan_policy_parse(nan_names[nan_policy], &s->data.fits.nan_policy));
    AM_TRY(get_bool(L, data, "data_settings", "skip_bad_files", &s->data.skip_bad_files));
    int cache_mb = (int)(s->data.cache_bytes >> 20);
    AM_TRY(get_int(L, data, "data_settings", "cache_mb", &cache_mb, 0, 1 << 20, "between 0 and 1048576"));
    s->data.cache_bytes = (size_t)cache_mb << 20;
    AM_TRY(get_int(L, data, "data_settings", "prefetch", &s->data.prefetch, 0, 1024, "between 0 and 1024"));
    AM_TRY(get_int(L, data, "data_settings", "min_object_size", &s->data.min_object_size, 1, INT_MAX, ">= 1"));
    int min_pixels = (int)s->data.min_object_pixels;
    AM_TRY(get_int(L, data, "data_settings", "min_object_pixels", &min_pixels, 1, INT_MAX, ">= 1"));
    s->data.min_object_pixels = min_pixels;
    static const char *const mask_names[] = {"auto", "binary", "labels", NULL};
    int mask_mode = (int)s->data.mask_mode;
    AM_TRY(get_choice(L, data, "data_settings", "mask_mode", mask_names, &mask_mode));
    s->data.mask_mode = (am_mask_mode)mask_mode;
    const am_toml_value *extra = am_toml_get(data, "extra_keys");
    if (extra) {
        if (extra->type != AM_TOML_ARRAY) return type_error(L, extra, "data_settings.extra_keys", "an array of strings");
        s->extra_keys = calloc(extra->n + 1, sizeof *s->extra_keys);
        if (!s->extra_keys) return am_error(AM_ERR_NOMEM, "settings: out of memory");
        for (size_t i = 0; i < extra->n; i++) {
            const am_toml_value *e = extra->items[i];
            if (e->type != AM_TOML_STRING || e->len == 0 || e->len > 8)
                return type_error(L, e, "data_settings.extra_keys[]", "a FITS keyword (1 to 8 characters)");
            AM_TRY(set_string(&s->extra_keys[i], e->str));
            s->n_extra_keys++;
        }
        s->data.fits.extra_keys = (const char *const *)s->extra_keys;
        s->data.fits.n_extra_keys = s->n_extra_keys;
    }

    AM_TRY(get_int(L, byol, "byol_settings", "representation_size", &s->representation_size, 1, 1 << 20, ">= 1"));
    AM_TRY(get_int(L, byol, "byol_settings", "projection_size", &s->byol.projection_size, 1, 1 << 20, ">= 1"));
    AM_TRY(get_int(L, byol, "byol_settings", "projection_hidden_size", &s->byol.projection_hidden_size, 1, 1 << 20,
                   ">= 1"));
    AM_TRY(get_bool(L, byol, "byol_settings", "use_momentum", &s->byol.use_momentum));
    AM_TRY(get_float(L, byol, "byol_settings", "moving_average_decay", &s->byol.moving_average_decay, 0, 1, OPEN_HI,
                     "in [0, 1)"));
    static const char *const loss_names[] = {"one_way", "symmetric", NULL};
    int loss = (int)s->byol.loss;
    AM_TRY(get_choice(L, byol, "byol_settings", "loss", loss_names, &loss));
    s->byol.loss = (am_byol_loss_kind)loss;
    AM_TRY(get_string(L, byol, "byol_settings", "hidden_layer", &s->hidden_layer));
    if (s->hidden_layer) s->byol.hidden_layer = s->hidden_layer;
    if (aug) AM_TRY(load_augmentation(L, aug, ""));
    return am_augment_check(&s->augment) == AM_OK ? AM_OK : am_error_prefix(AM_ERR_VALUE, "%s", L->file);
}

static am_status load_root(loader *L, const am_toml_value *root, am_settings_command cmd)
{
    am_settings *s = L->s;
    AM_TRY(check_known(L, root, "", root_keys));
    AM_TRY(get_string(L, root, "", "datafile", &s->datafile));
    AM_TRY(get_string(L, root, "", "maskfile", &s->maskfile));
    AM_TRY(get_string(L, root, "", "trained_network_name", &s->trained_network_name));
    AM_TRY(get_int(L, root, "", "epochs", &s->train.epochs, 1, INT_MAX, "> 0"));
    AM_TRY(get_float(L, root, "", "learning_rate", &s->train.learning_rate, 0, 10, OPEN_LO, "in (0, 10]"));
    AM_TRY(get_float(L, root, "", "gamma", &s->train.gamma, 0, 1, OPEN_LO | OPEN_HI, "in (0, 1)"));
    AM_TRY(get_int(L, root, "", "batch_size", &s->train.batch_size, 1, INT_MAX, "> 0"));
    AM_TRY(get_int(L, root, "", "core_limit", &s->core_limit, 0, 4096, ">= 0"));
    AM_TRY(get_bool(L, root, "", "export_to_csv", &s->export_to_csv));
    static const char *const net_names[] = {"n_layer_resnet", "amm", NULL};
    int net = -1;
    AM_TRY(get_choice(L, root, "", "network_name", net_names, &net));
    if (net >= 0) AM_TRY(set_string(&s->network_name, net_names[net]));

    /* schedule: exponential_lr (the original's switch) and lr_schedule (ours) must agree */
    static const char *const sched_names[] = {"constant", "exponential", "cosine", NULL};
    int sched = (int)s->train.schedule;
    AM_TRY(get_choice(L, root, "", "lr_schedule", sched_names, &sched));
    const am_toml_value *exp_v = am_toml_get(root, "exponential_lr");
    if (exp_v) {
        AM_TRY(get_bool(L, root, "", "exponential_lr", &s->exponential_lr));
        const am_toml_value *sv = am_toml_get(root, "lr_schedule");
        if (sv && (sched == AM_LR_EXPONENTIAL) != s->exponential_lr)
            return am_error(AM_ERR_VALUE, "%s:%d:%d: lr_schedule = \"%s\" contradicts exponential_lr = %s (line %d)",
                            L->file, sv->line, sv->column, sched_names[sched], s->exponential_lr ? "true" : "false",
                            exp_v->line);
        if (!sv) sched = s->exponential_lr ? AM_LR_EXPONENTIAL : AM_LR_CONSTANT;
    }
    s->train.schedule = (am_lr_schedule)sched;
    s->exponential_lr = sched == AM_LR_EXPONENTIAL;

    AM_TRY(get_bool(L, root, "", "resume", &s->resume));
    int seed = (int)(s->train.seed & 0x7FFFFFFF);
    AM_TRY(get_int(L, root, "", "seed", &seed, 0, INT_MAX, ">= 0"));
    s->train.seed = (uint64_t)seed;
    s->byol.seed = (uint64_t)seed;
    AM_TRY(get_int(L, root, "", "warmup_epochs", &s->train.warmup_epochs, 0, INT_MAX, ">= 0"));
    AM_TRY(get_float(L, root, "", "min_lr_ratio", &s->train.min_lr_ratio, 0, 1, 0, "in [0, 1]"));
    AM_TRY(get_float(L, root, "", "weight_decay", &s->train.weight_decay, 0, 1, 0, "in [0, 1]"));
    static const char *const opt_names[] = {"adam", "adamw", NULL};
    int opt = (int)s->train.optimizer;
    AM_TRY(get_choice(L, root, "", "optimizer", opt_names, &opt));
    s->train.optimizer = (am_optimizer)opt;
    static const char *const ema_names[] = {"constant", "cosine", NULL};
    int ema = (int)s->train.ema;
    AM_TRY(get_choice(L, root, "", "ema_schedule", ema_names, &ema));
    s->train.ema = (am_ema_schedule)ema;
    static const char *const norm_names[] = {"compat", "train", "frozen", NULL};
    int norm = (int)s->train.norm;
    AM_TRY(get_choice(L, root, "", "batchnorm", norm_names, &norm));
    s->train.norm = (am_norm_policy)norm;
    AM_TRY(get_int(L, root, "", "images_per_forward", &s->train.images_per_forward, 1, 1024, "between 1 and 1024"));
    AM_TRY(get_int(L, root, "", "replicas", &s->train.replicas, 0, 256, "between 0 and 256"));
    AM_TRY(get_float(L, root, "", "test_fraction", &s->train.test_fraction, 0, 1, OPEN_HI, "in [0, 1)"));
    AM_TRY(get_int(L, root, "", "checkpoint_every", &s->train.checkpoint_every, 0, INT_MAX, ">= 0"));
    AM_TRY(get_int(L, root, "", "n_clusters", &s->n_clusters, 1, 100000, "between 1 and 100000"));
    AM_TRY(get_bool(L, root, "", "projector_sprite", &s->sprite));
    AM_TRY(get_bool(L, root, "", "morphology", &s->morphology));
    static const char *const mc_names[] = {"sum", "each", NULL};
    AM_TRY(get_choice(L, root, "", "morphology_channels", mc_names, &s->morphology_each));
    AM_TRY(get_float(L, root, "", "hybrid_weight", &s->hybrid_weight, 0, 1, 0, "in [0, 1]"));

    AM_TRY(load_tables(L, root, cmd));
    if (cmd == AM_SETTINGS_TRAINING && !s->network_name) {
        if (s->original_defaults) return missing(L, "network_name", "");
        AM_TRY(set_string(&s->network_name, "amm"));
    }
    if (!s->last_layer) AM_TRY(set_string(&s->last_layer, "layer4"));
    return AM_OK;
}

am_status am_settings_load(am_settings *s, const char *path, am_settings_command cmd, const am_settings_overrides *ov)
{
    memset(s, 0, sizeof *s);
    loader L = {.file = path, .s = s};
    am_toml_value *root = NULL;
    am_status st = AM_OK;
    if (path) {
        st = am_toml_parse_file(path, &root);
        if (st != AM_OK) return st;
        AM_TRY(set_string(&s->source, path));
    }
    /* `defaults` decides the starting point, so it is read before anything else */
    static const char *const default_names[] = {"ours", "original", NULL};
    int which = 0;
    if (root) st = get_choice(&L, root, "", "defaults", default_names, &which);
    if (st == AM_OK) {
        set_defaults(s, which == 1);
        if (root) st = load_root(&L, root, cmd);
        else if (!s->last_layer) st = set_string(&s->last_layer, "layer4");
    }
    if (st == AM_OK && ov) {
        if (ov->datafile) st = set_string(&s->datafile, ov->datafile);
        if (st == AM_OK && ov->maskfile) st = set_string(&s->maskfile, ov->maskfile);
        if (st == AM_OK && ov->trained_network_name) st = set_string(&s->trained_network_name, ov->trained_network_name);
        if (ov->resume) s->resume = 1;
    }
    /* files: required ones present, every given one existing */
    struct {
        char **value;
        const char *key, *option;
        int needed, dir_ok, from_cli;
    } files[] = {
        {&s->datafile, "datafile", "--datafile", 1, 1, ov && ov->datafile},
        {&s->maskfile, "maskfile", "--maskfile", 0, 0, ov && ov->maskfile},
        {&s->trained_network_name, "trained_network_name", "--trained_network_name", cmd == AM_SETTINGS_INFERENCE, 0,
         ov && ov->trained_network_name},
    };
    for (size_t i = 0; st == AM_OK && i < sizeof files / sizeof files[0]; i++) {
        if (!*files[i].value) {
            if (files[i].needed)
                st = path ? missing(&L, files[i].key, cmd == AM_SETTINGS_INFERENCE ? (i == 0 ? " (or give -d)" : " (or give -n)") : "")
                          : am_error(AM_ERR_NOTFOUND, "no %s: give %s or a settings file with -c", files[i].key,
                                     files[i].option);
            continue;
        }
        if (cmd == AM_SETTINGS_TRAINING && i == 2) continue; /* training does not read a model file */
        if (!files[i].from_cli) st = resolve_path(&L, files[i].value);
        if (st == AM_OK)
            st = check_exists(&L, files[i].from_cli ? NULL : am_toml_get(root, files[i].key), files[i].key,
                              files[i].option, *files[i].value, files[i].dir_ok && !s->maskfile);
    }
    am_toml_free(root);
    if (st != AM_OK) am_settings_free(s);
    return st;
}

void am_settings_free(am_settings *s)
{
    free(s->source);
    free(s->datafile);
    free(s->maskfile);
    free(s->trained_network_name);
    free(s->network_name);
    free(s->last_layer);
    free(s->pretrained);
    for (int i = 0; i < s->n_extra_keys; i++) free(s->extra_keys[i]);
    free(s->extra_keys);
    free(s->hidden_layer);
    memset(s, 0, sizeof *s);
}

static const char *or_none(const char *s) { return s ? s : "(none)"; }

void am_settings_print(const am_settings *s, FILE *fp)
{
    static const char *const sched[] = {"constant", "exponential", "cosine"};
    static const char *const norm[] = {"compat", "train", "frozen"};
    fprintf(fp, "# settings file: %s\ndefaults = \"%s\"\n", or_none(s->source), s->original_defaults ? "original" : "ours");
    fprintf(fp, "datafile = \"%s\"\nmaskfile = \"%s\"\ntrained_network_name = \"%s\"\n", or_none(s->datafile),
            or_none(s->maskfile), or_none(s->trained_network_name));
    fprintf(fp, "epochs = %d\nlearning_rate = %g\nexponential_lr = %s\nlr_schedule = \"%s\"\ngamma = %g\n",
            s->train.epochs, s->train.learning_rate, s->exponential_lr ? "true" : "false", sched[s->train.schedule],
            s->train.gamma);
    fprintf(fp, "warmup_epochs = %d\nmin_lr_ratio = %g\nweight_decay = %g\nbatch_size = %d\ncore_limit = %d\n",
            s->train.warmup_epochs, s->train.min_lr_ratio, s->train.weight_decay, s->train.batch_size, s->core_limit);
    fprintf(fp, "morphology = %s\nmorphology_channels = \"%s\"\nhybrid_weight = %g\n", s->morphology ? "true" : "false",
            s->morphology_each ? "each" : "sum", s->hybrid_weight);
    fprintf(fp, "ema_schedule = \"%s\"\noptimizer = \"%s\"\n", s->train.ema == AM_EMA_COSINE ? "cosine" : "constant",
            s->train.optimizer == AM_OPT_ADAMW ? "adamw" : "adam");
    fprintf(fp, "batchnorm = \"%s\"\nimages_per_forward = %d\nreplicas = %d\ntest_fraction = %g\nseed = %llu\n",
            norm[s->train.norm], s->train.images_per_forward, s->train.replicas, s->train.test_fraction,
            (unsigned long long)s->train.seed);
    fprintf(fp, "checkpoint_every = %d\nresume = %s\nnetwork_name = \"%s\"\nexport_to_csv = %s\nn_clusters = %d\n",
            s->train.checkpoint_every, s->resume ? "true" : "false", or_none(s->network_name),
            s->export_to_csv ? "true" : "false", s->n_clusters);
    fprintf(fp, "projector_sprite = %s\n", s->sprite ? "true" : "false");
    fprintf(fp, "[network_settings]\nlast_layer = \"%s\"\npretrained = \"%s\"\n", or_none(s->last_layer),
            or_none(s->pretrained));
    static const char *const mask_modes[] = {"auto", "binary", "labels"};
    fprintf(fp, "[data_settings]\nstacksize = %d\nnan_policy = \"%s\"\nskip_bad_files = %s\ncache_mb = %zu\n",
            s->stacksize, am_nan_policy_name(s->data.fits.nan_policy), s->data.skip_bad_files ? "true" : "false",
            s->data.cache_bytes >> 20);
    fprintf(fp, "prefetch = %d\nmin_object_size = %d\nmin_object_pixels = %lld\nmask_mode = \"%s\"\nextra_keys = [",
            s->data.prefetch, s->data.min_object_size, (long long)s->data.min_object_pixels,
            mask_modes[s->data.mask_mode]);
    for (int i = 0; i < s->n_extra_keys; i++) fprintf(fp, "%s\"%s\"", i ? ", " : "", s->extra_keys[i]);
    fprintf(fp, "]\n");
    if (s->representation_size) fprintf(fp, "[byol_settings]\nrepresentation_size = %d\n", s->representation_size);
    else fprintf(fp, "[byol_settings]\n# representation_size: the network's width at the hidden layer\n");
    fprintf(fp, "projection_size = %d\nprojection_hidden_size = %d\n", s->byol.projection_size,
            s->byol.projection_hidden_size);
    fprintf(fp, "use_momentum = %s\nmoving_average_decay = %g\nloss = \"%s\"\nhidden_layer = \"%s\"\n",
            s->byol.use_momentum ? "true" : "false", s->byol.moving_average_decay,
            s->byol.loss == AM_BYOL_LOSS_SYMMETRIC ? "symmetric" : "one_way", or_none(s->byol.hidden_layer));
    fprintf(fp, "[augmentation]\nnormalize = %d\norder = \"", s->augment.normalize);
    for (int i = 0; i < s->augment.n_order; i++)
        fprintf(fp, "%s%s", i ? "," : "", am_aug_name((am_aug_kind)s->augment.order[i]));
    fprintf(fp, "\"\n");
    for (int k = 0; k < AM_AUG_COUNT; k++)
        fprintf(fp, "%s.enabled = %d\n%s.p = %g\n", am_aug_name((am_aug_kind)k), s->augment.step[k].enabled,
                am_aug_name((am_aug_kind)k), s->augment.step[k].p);
    const am_augment *a = &s->augment;
    fprintf(fp, "shared = %d\njitter.brightness = %g\njitter.contrast = %g\n", a->shared, a->jitter_brightness,
            a->jitter_contrast);
    fprintf(fp, "rotation.min_degrees = %g\nrotation.max_degrees = %g\nrotation.interpolation = \"%s\"\n",
            a->rot_min_deg, a->rot_max_deg, a->rot_interp == AM_INTERP_NEAREST ? "nearest" : "bilinear");
    fprintf(fp, "rotation.fill = %g\nblur.kernel = %d\nblur.sigma_min = %g\nblur.sigma_max = %g\n", a->rot_fill,
            a->blur_kernel, a->blur_sigma_min, a->blur_sigma_max);
    fprintf(fp, "stretch.max = %g\nnoise.sigma = %g\n", a->stretch_max, a->noise_sigma);
    fprintf(fp, "view_size = %d\nnormalization = \"%s\"\ncrop.enabled = %d\ncrop.p = %g\n", a->view_size,
            am_normalization_name(a->normalization), a->crop.enabled, a->crop.p);
    fprintf(fp, "crop.scale_min = %g\ncrop.scale_max = %g\ncrop.ratio = %g\n", a->crop_scale_min, a->crop_scale_max,
            a->crop_ratio);
}

char *am_settings_fingerprint(const am_settings *s)
{
    /* Keys that do not change the training's trajectory; every other printed key does. */
    static const char *const free_keys[] = {"#", "defaults", "datafile", "maskfile", "trained_network_name", "epochs",
                                            "core_limit", "morphology", "morphology_channels", "hybrid_weight", "checkpoint_every", "resume",
                                            "export_to_csv", "n_clusters", "projector_sprite", "skip_bad_files",
                                            "cache_mb", "prefetch", NULL};
    char *all = NULL, *out = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&all, &len);
    if (!fp) return NULL;
    am_settings_print(s, fp);
    if (fclose(fp) != 0 || !all) {
        free(all);
        return NULL;
    }
    out = malloc(len + 1);
    size_t n = 0;
    for (const char *line = all; out && *line;) {
        size_t l = strcspn(line, "\n"), k = strcspn(line, " =\n");
        int keep = line[0] != '[';
        for (const char *const *f = free_keys; keep && *f; f++)
            keep = !(strlen(*f) == k && strncmp(line, *f, k) == 0) && !(**f == '#' && line[0] == '#');
        if (keep) memcpy(out + n, line, l), n += l, out[n++] = '\n';
        line += l + (line[l] == '\n');
    }
    if (out) out[n] = 0;
    free(all);
    return out;
}

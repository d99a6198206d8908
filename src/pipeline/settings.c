/* Settings files: TOML → am_settings through the rows of settings_keys.c, every key type- and
 * range-checked, unknown keys answered with the nearest known one; then the rules between keys
 * (exponential_lr against lr_schedule, the original's required keys, files that must exist). */
#include "astromorph/settings.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "astromorph/fits.h"
#include "astromorph/morphology.h"
#include "astromorph/toml.h"
#include "settings_internal.h"

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

static const am_settings_table *table_named(const char *name)
{
    for (const am_settings_table *t = am_settings_tables(); t->name; t++)
        if (!strcmp(t->name, name)) return t;
    return NULL;
}

const char *am_settings_key_at(int i, const char **table)
{
    for (const am_settings_table *t = am_settings_tables(); t->name; t++)
        for (const am_key *k = t->keys; k->name; k++)
            if (i-- == 0) {
                if (table) *table = t->name;
                return k->name;
            }
    return NULL;
}

/* "unknown key 'epoch' (did you mean 'epochs'?)": the table where the key belongs when it is
 * written in the wrong one, else the nearest key, one of the same table beating one elsewhere. */
static am_status unknown_key(const loader *L, int line, int column, const char *table, const char *key)
{
    char name[200], hint[240] = "";
    qualify(name, sizeof name, table, key);
    for (const am_settings_table *t = am_settings_tables(); t->name && !hint[0]; t++)
        if (strcmp(t->name, table) != 0 && am_key_find(t->keys, key)) {
            if (*t->name) snprintf(hint, sizeof hint, " (it belongs in [%s])", t->name);
            else snprintf(hint, sizeof hint, " (it belongs at the top level, before any [table])");
        }
    if (!hint[0]) {
        int best = INT_MAX;
        const char *best_key = NULL, *best_table = NULL;
        for (const am_settings_table *t = am_settings_tables(); t->name; t++)
            for (const am_key *k = t->keys; k->name; k++) {
                int d = am_edit_distance(key, k->name) * 2 + (strcmp(t->name, table) != 0);
                if (d < best) best = d, best_key = k->name, best_table = t->name;
            }
        int len = (int)strlen(key);
        if (best_key && best / 2 <= (len > 6 ? len / 3 : 2)) {
            char q[200];
            qualify(q, sizeof q, best_table, best_key);
            snprintf(hint, sizeof hint, " (did you mean '%s'?)", q);
        }
    }
    return am_error(AM_ERR_NOTFOUND, "%s:%d:%d: unknown key '%s'%s", L->file, line, column, name, hint);
}

/* "a table", "an integer" */
static void what_toml(const am_toml_value *v, char *buf, size_t size)
{
    const char *t = am_toml_type_name(v->type);
    snprintf(buf, size, "%s %s", strchr("aeiou", t[0]) ? "an" : "a", t);
}

static am_status type_error(const loader *L, const am_toml_value *v, const char *name, const char *want)
{
    char what[48];
    what_toml(v, what, sizeof what);
    return am_error(AM_ERR_VALUE, "%s:%d:%d: %s must be %s, not %s", L->file, v->line, v->column, name, want, what);
}

/* One TOML value stored through its row; `name` is the key as written ("byol_settings.loss"). */
static am_status set_key(const loader *L, const am_key *k, void *base, const am_toml_value *v, const char *name)
{
    am_key_value kv = {.kind = AM_VALUE_OTHER};
    const char *items[64];
    char what[48];
    switch (v->type) {
    case AM_TOML_INTEGER: kv = (am_key_value){.kind = AM_VALUE_INTEGER, .integer = v->integer}; break;
    case AM_TOML_FLOAT: kv = (am_key_value){.kind = AM_VALUE_FLOAT, .number = v->number}; break;
    case AM_TOML_BOOL: kv = (am_key_value){.kind = AM_VALUE_BOOL, .boolean = v->boolean}; break;
    case AM_TOML_STRING:
        if (v->len != strlen(v->str))
            return am_error(AM_ERR_VALUE, "%s:%d:%d: %s holds a NUL character", L->file, v->line, v->column, name);
        kv = (am_key_value){.kind = AM_VALUE_STRING, .str = v->str};
        break;
    case AM_TOML_ARRAY:
        if (v->n > sizeof items / sizeof items[0])
            return am_error(AM_ERR_VALUE, "%s:%d:%d: %s has more than %zu items", L->file, v->line, v->column, name,
                            sizeof items / sizeof items[0]);
        for (size_t i = 0; i < v->n; i++) {
            const am_toml_value *e = v->items[i];
            if (e->type != AM_TOML_STRING || e->len != strlen(e->str)) {
                char item[220];
                snprintf(item, sizeof item, "%s[%zu]", name, i);
                return type_error(L, e, item, "a string");
            }
            items[i] = e->str;
        }
        kv = (am_key_value){.kind = AM_VALUE_LIST, .items = items, .n = v->n};
        break;
    default:
        what_toml(v, what, sizeof what);
        kv.what = what;
        break;
    }
    am_status st = am_key_set(k, base, &kv, name);
    return st == AM_OK ? st : am_error_prefix(st, "%s:%d:%d", L->file, v->line, v->column);
}

/* The keys of one table of the file; [augmentation]'s nested tables read as dotted keys
 * ("rotation.p"), as the augment module names them. */
static am_status load_table(const loader *L, const am_settings_table *t, const am_toml_value *tab, const char *prefix)
{
    void *base = (char *)L->s + t->base;
    for (size_t i = 0; i < tab->n; i++) {
        const am_toml_value *v = tab->items[i];
        char key[160], name[200];
        if (*prefix) snprintf(key, sizeof key, "%s.%s", prefix, tab->keys[i]);
        else snprintf(key, sizeof key, "%s", tab->keys[i]);
        qualify(name, sizeof name, t->name, key);
        const am_key *k = am_key_find(t->keys, key);
        if (!k && !*t->name && table_named(key) && *key) {
            if (v->type != AM_TOML_TABLE) return type_error(L, v, key, "a table");
            continue; /* read with its own rows below */
        }
        if (!k && v->type == AM_TOML_TABLE && t->base) {
            AM_TRY(load_table(L, t, v, key));
            continue;
        }
        if (!k)
            return unknown_key(L, v->key_line ? v->key_line : v->line, v->key_line ? v->key_column : v->column, t->name,
                               key);
        if (!*t->name && !strcmp(key, "defaults")) continue; /* read first, in am_settings_load */
        AM_TRY(set_key(L, k, base, v, name));
    }
    return AM_OK;
}

void am_settings_defaults(am_settings *s, int original)
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
    /* GeM: better learned features on all six labelled sets, the hybrid on five (docs/quality.md) */
    s->pooling = original ? AM_POOLING_AVERAGE : AM_POOLING_GEM;
    s->amm_width = 1; /* the original's network; a wider one measured no better (docs/quality.md) */
    /* the network sees the sum of a few bands, their colours go to the hybrid (docs/quality.md) */
    s->channels = original ? 0 : 2;
    s->core_limit = 0;
    s->n_clusters = 10;
    s->sprite = 1;
    s->morphology = !original;
    /* learned features beside the morphology statistics, half and half (docs/quality.md) */
    s->hybrid_weight = original ? 0.0 : 0.5;
    s->hybrid_learned_scale = s->hybrid_stats_scale = AM_HYBRID_COLUMNS;
    s->export_to_csv = 0;
    am_curate_options_default(&s->curation);
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

static am_status set_string(char **dst, const char *value)
{
    char *c = strdup(value);
    if (!c) return am_error(AM_ERR_NOMEM, "settings: out of memory");
    free(*dst);
    *dst = c;
    return AM_OK;
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
    if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
        return am_error(AM_ERR_VALUE, "%s: '%s' is not a file", loc, path);
    return AM_OK;
}

static am_status missing(const loader *L, const char *key, const char *how)
{
    return am_error(AM_ERR_NOTFOUND, "%s: missing required key '%s'%s", L->file ? L->file : "settings", key, how);
}

am_status am_settings_complete(am_settings *s, am_settings_command cmd)
{
    s->byol.seed = s->train.seed;
    if (!s->hidden_layer) AM_TRY(set_string(&s->hidden_layer, s->byol.hidden_layer));
    s->byol.hidden_layer = s->hidden_layer;
    if (cmd == AM_SETTINGS_TRAINING && !s->network_name && !s->original_defaults)
        AM_TRY(set_string(&s->network_name, "amm"));
    if (!s->last_layer) AM_TRY(set_string(&s->last_layer, "layer4"));
    return AM_OK;
}

/* The rules between keys, after every key of the file is stored. */
static am_status apply_rules(loader *L, const am_toml_value *root, am_settings_command cmd)
{
    am_settings *s = L->s;
    const am_toml_value *net = root ? am_toml_get(root, "network_settings") : NULL;
    const am_toml_value *byol = root ? am_toml_get(root, "byol_settings") : NULL;
    /* the original's required keys (pydantic fields without defaults) */
    if (root && cmd == AM_SETTINGS_TRAINING && s->original_defaults) {
        const char *how = " (defaults = \"original\" asks for every key the original package requires)";
        if (!am_toml_get(root, "network_name")) return missing(L, "network_name", how);
        if (!net) return missing(L, "network_settings", how);
        if (!byol) return missing(L, "byol_settings", how);
        if (!am_toml_get(byol, "representation_size")) return missing(L, "byol_settings.representation_size", how);
    }
    /* exponential_lr (the original's switch) and lr_schedule (ours) must agree */
    const am_toml_value *exp_v = root ? am_toml_get(root, "exponential_lr") : NULL;
    const am_toml_value *sv = root ? am_toml_get(root, "lr_schedule") : NULL;
    if (exp_v && sv && (s->train.schedule == AM_LR_EXPONENTIAL) != s->exponential_lr) {
        char shown[64];
        am_key_format(am_key_find(am_settings_tables()[0].keys, "lr_schedule"), s, shown, sizeof shown);
        return am_error(AM_ERR_VALUE, "%s:%d:%d: lr_schedule = %s contradicts exponential_lr = %s (line %d)", L->file,
                        sv->line, sv->column, shown, s->exponential_lr ? "true" : "false", exp_v->line);
    }
    if (exp_v && !sv) s->train.schedule = s->exponential_lr ? AM_LR_EXPONENTIAL : AM_LR_CONSTANT;
    s->exponential_lr = s->train.schedule == AM_LR_EXPONENTIAL;
    if (s->pretrained) {
        AM_TRY(resolve_path(L, &s->pretrained));
        AM_TRY(check_exists(L, am_toml_get(net, "pretrained"), "network_settings.pretrained", NULL, s->pretrained, 0));
    }
    if (cmd == AM_SETTINGS_TRAINING && !s->network_name && s->original_defaults) return missing(L, "network_name", "");
    AM_TRY(am_settings_complete(s, cmd));
    /* the ResNet's widths are torchvision's, so that ImageNet weights fit it */
    const am_toml_value *width = net ? am_toml_get(net, "amm_width") : NULL;
    if (width && s->amm_width != 1 && s->network_name && strcmp(s->network_name, "amm") != 0)
        return am_error(AM_ERR_VALUE, "%s:%d:%d: network_settings.amm_width = %d widens amm only, not %s", L->file,
                        width->line, width->column, s->amm_width, s->network_name);
    if (am_augment_check(&s->augment) != AM_OK)
        return am_error_prefix(AM_ERR_VALUE, "%s", L->file ? L->file : "settings");
    return AM_OK;
}

static am_status load_file(loader *L, const am_toml_value *root)
{
    for (const am_settings_table *t = am_settings_tables(); t->name; t++) {
        const am_toml_value *tab = *t->name ? am_toml_get(root, t->name) : root;
        if (tab && tab->type == AM_TOML_TABLE) AM_TRY(load_table(L, t, tab, ""));
    }
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
    const am_toml_value *dv = root ? am_toml_get(root, "defaults") : NULL;
    if (dv) st = set_key(&L, am_key_find(am_settings_tables()[0].keys, "defaults"), s, dv, "defaults");
    if (st == AM_OK) {
        am_settings_defaults(s, s->original_defaults);
        if (root) st = load_file(&L, root);
        if (st == AM_OK) st = apply_rules(&L, root, cmd);
    }
    if (st == AM_OK && ov) {
        if (ov->datafile) st = set_string(&s->datafile, ov->datafile);
        if (st == AM_OK && ov->maskfile) st = set_string(&s->maskfile, ov->maskfile);
        if (st == AM_OK && ov->trained_network_name)
            st = set_string(&s->trained_network_name, ov->trained_network_name);
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
                st = path ? missing(&L, files[i].key,
                                    cmd == AM_SETTINGS_INFERENCE ? (i == 0 ? " (or give -d)" : " (or give -n)") : "")
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
    for (const am_settings_table *t = am_settings_tables(); t->name; t++)
        am_keys_free_texts(t->keys, (char *)s + t->base);
    free(s->source);
    for (int i = 0; i < s->n_extra_keys; i++) free(s->extra_keys[i]);
    free(s->extra_keys);
    memset(s, 0, sizeof *s);
}

/* Every key, table by table, "key = value" (or "# key: not set"); free_too = 0 leaves out the
 * keys a resumed run may change. */
static void print_keys(const am_settings *s, FILE *fp, int free_too)
{
    for (const am_settings_table *t = am_settings_tables(); t->name; t++) {
        if (*t->name) fprintf(fp, "[%s]\n", t->name);
        for (const am_key *k = t->keys; k->name; k++) {
            if (!free_too && (k->flags & AM_KEY_FREE)) continue;
            char value[1024];
            if (am_key_format(k, (const char *)s + t->base, value, sizeof value))
                fprintf(fp, "%s = %s\n", k->name, value);
            else fprintf(fp, "# %s: not set\n", k->name);
        }
    }
}

void am_settings_print(const am_settings *s, FILE *fp)
{
    fprintf(fp, "# settings file: %s\n", s->source ? s->source : "(none)");
    print_keys(s, fp, 1);
}

char *am_settings_fingerprint(const am_settings *s)
{
    char *text = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&text, &len);
    if (!fp) return NULL;
    print_keys(s, fp, 0);
    if (fclose(fp) != 0) {
        free(text);
        return NULL;
    }
    return text;
}

char *am_settings_fingerprint_defaults(const am_settings *s)
{
    am_settings d;
    memset(&d, 0, sizeof d);
    am_settings_defaults(&d, s->original_defaults);
    char *text = am_settings_fingerprint(&d);
    am_settings_free(&d);
    return text;
}

int am_settings_channel_sum(const am_settings *s, int64_t channels)
{
    if (channels < 2) return 0;
    return s->channels == 1 || (s->channels == 2 && channels <= AM_MORPH_MAX_BANDS);
}

am_precision am_settings_precision(const am_settings *s)
{
    return s->precision == 1 ? AM_PRECISION_BF16 : s->precision == 2 ? am_precision_auto() : AM_PRECISION_FP32;
}

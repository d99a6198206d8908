/* Runs the toml-test cases listed in tests/data/toml-test/files-toml-1.0.0: every valid document
 * must parse to exactly the expected tagged JSON, every invalid one must be rejected. Nothing is
 * skipped: date/time values are read and compared too. */
#include <cjson/cJSON.h>
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "astromorph/toml.h"
#include "test_util.h"

/* cJSON strings stop at U+0000, so a TOML string holding one matches its cJSON prefix. */
static int same_text(const char *mine, size_t mine_len, const char *json)
{
    size_t jl = strlen(json);
    if (jl > mine_len || memcmp(mine, json, jl) != 0) return 0;
    return jl == mine_len || mine[jl] == '\0';
}

/* Date-times compare after normalising: upper case, 'T' separator, fraction without trailing zeros. */
static void norm_datetime(const char *in, char *out, size_t size)
{
    size_t j = 0;
    for (size_t i = 0; in[i] && j + 1 < size; i++) {
        char c = (char)toupper((unsigned char)in[i]);
        if (c == ' ') c = 'T';
        out[j++] = c;
    }
    out[j] = '\0';
    char *dot = strchr(out, '.');
    if (dot) {
        char *end = dot + 1;
        while (isdigit((unsigned char)*end)) end++;
        char *last = end;
        while (last > dot + 1 && last[-1] == '0') last--;
        if (last == dot + 1) last = dot; /* ".000" → nothing */
        memmove(last, end, strlen(end) + 1);
    }
}

static int compare(const am_toml_value *v, const cJSON *j, char *why, size_t whysize, const char *path);

static int compare_scalar(const am_toml_value *v, const char *type, const char *value, char *why, size_t ws,
                          const char *path)
{
    const char *mine = am_toml_type_name(v->type);
    if (strcmp(type, "string") == 0) {
        if (v->type != AM_TOML_STRING) goto badtype;
        if (!same_text(v->str, v->len, value)) {
            snprintf(why, ws, "%s: string '%s', expected '%s'", path, v->str, value);
            return 0;
        }
        return 1;
    }
    if (strcmp(type, "integer") == 0) {
        if (v->type != AM_TOML_INTEGER) goto badtype;
        long long want = strtoll(value, NULL, 10);
        if (v->integer != want) {
            snprintf(why, ws, "%s: integer %lld, expected %s", path, (long long)v->integer, value);
            return 0;
        }
        return 1;
    }
    if (strcmp(type, "float") == 0) {
        if (v->type != AM_TOML_FLOAT) goto badtype;
        const char *w = value;
        int neg = w[0] == '-';
        if (w[0] == '+' || w[0] == '-') w++;
        int ok;
        if (strcmp(w, "nan") == 0) ok = isnan(v->number);
        else if (strcmp(w, "inf") == 0) ok = isinf(v->number) && (v->number < 0) == neg;
        else ok = v->number == strtod(value, NULL);
        if (!ok) snprintf(why, ws, "%s: float %.17g, expected %s", path, v->number, value);
        return ok;
    }
    if (strcmp(type, "bool") == 0) {
        if (v->type != AM_TOML_BOOL) goto badtype;
        if (v->boolean != (strcmp(value, "true") == 0)) {
            snprintf(why, ws, "%s: bool %d, expected %s", path, v->boolean, value);
            return 0;
        }
        return 1;
    }
    struct {
        const char *tag;
        am_toml_type t;
    } dt[] = {{"datetime", AM_TOML_DATETIME},
              {"datetime-local", AM_TOML_DATETIME_LOCAL},
              {"date-local", AM_TOML_DATE_LOCAL},
              {"time-local", AM_TOML_TIME_LOCAL}};
    for (size_t i = 0; i < sizeof dt / sizeof dt[0]; i++) {
        if (strcmp(type, dt[i].tag) != 0) continue;
        if (v->type != dt[i].t) goto badtype;
        char a[128], b[128];
        norm_datetime(v->str, a, sizeof a);
        norm_datetime(value, b, sizeof b);
        if (strcmp(a, b) != 0) {
            snprintf(why, ws, "%s: %s %s, expected %s", path, type, v->str, value);
            return 0;
        }
        return 1;
    }
    snprintf(why, ws, "%s: unknown expected type '%s'", path, type);
    return 0;
badtype:
    snprintf(why, ws, "%s: got a %s, expected %s", path, mine, type);
    return 0;
}

static int compare(const am_toml_value *v, const cJSON *j, char *why, size_t ws, const char *path)
{
    char sub[512];
    if (cJSON_IsArray(j)) {
        if (v->type != AM_TOML_ARRAY) {
            snprintf(why, ws, "%s: got a %s, expected an array", path, am_toml_type_name(v->type));
            return 0;
        }
        size_t n = (size_t)cJSON_GetArraySize(j);
        if (n != v->n) {
            snprintf(why, ws, "%s: array of %zu, expected %zu", path, v->n, n);
            return 0;
        }
        size_t i = 0;
        for (const cJSON *e = j->child; e; e = e->next, i++) {
            snprintf(sub, sizeof sub, "%s[%zu]", path, i);
            if (!compare(v->items[i], e, why, ws, sub)) return 0;
        }
        return 1;
    }
    if (!cJSON_IsObject(j)) {
        snprintf(why, ws, "%s: unexpected JSON", path);
        return 0;
    }
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(j, "type");
    const cJSON *value = cJSON_GetObjectItemCaseSensitive(j, "value");
    if (cJSON_GetArraySize(j) == 2 && cJSON_IsString(type) && cJSON_IsString(value))
        return compare_scalar(v, type->valuestring, value->valuestring, why, ws, path);
    if (v->type != AM_TOML_TABLE) {
        snprintf(why, ws, "%s: got a %s, expected a table", path, am_toml_type_name(v->type));
        return 0;
    }
    size_t n = (size_t)cJSON_GetArraySize(j);
    if (n != v->n) {
        snprintf(why, ws, "%s: table of %zu keys, expected %zu", path, v->n, n);
        return 0;
    }
    for (const cJSON *e = j->child; e; e = e->next) {
        size_t k = 0;
        while (k < v->n && !same_text(v->keys[k], v->key_lens[k], e->string)) k++;
        if (k == v->n) {
            snprintf(why, ws, "%s: key '%s' missing", path, e->string);
            return 0;
        }
        snprintf(sub, sizeof sub, "%s.%s", path, e->string);
        if (!compare(v->items[k], e, why, ws, sub)) return 0;
    }
    return 1;
}

int main(void)
{
    const char *base = am_test_path("tests/data/toml-test");
    char list_path[1024];
    snprintf(list_path, sizeof list_path, "%s/files-toml-1.0.0", base);
    char *list = am_test_slurp(list_path, NULL);
    CHECK(list != NULL, "cannot read %s", list_path);
    if (!list) return am_test_finish();
    int valid_ok = 0, valid_n = 0, invalid_ok = 0, invalid_n = 0;
    for (char *line = strtok(list, "\n"); line; line = strtok(NULL, "\n")) {
        size_t ll = strlen(line);
        if (ll < 5 || strcmp(line + ll - 5, ".toml") != 0) continue; /* the .json files are read with their .toml */
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", base, line);
        size_t len;
        char *text = am_test_slurp(path, &len);
        CHECK(text != NULL, "cannot read %s", path);
        if (!text) continue;
        am_toml_value *root = NULL;
        am_status s = am_toml_parse(text, len, line, &root);
        if (strncmp(line, "valid/", 6) == 0) {
            valid_n++;
            char jpath[1024], why[1024] = "";
            snprintf(jpath, sizeof jpath, "%.*s.json", (int)strlen(path) - 5, path);
            char *jtext = am_test_slurp(jpath, NULL);
            cJSON *want = jtext ? cJSON_Parse(jtext) : NULL;
            CHECK(want != NULL, "cannot read expected JSON %s", jpath);
            int ok = s == AM_OK && want && compare(root, want, why, sizeof why, "");
            if (s != AM_OK) snprintf(why, sizeof why, "rejected: %s", am_errmsg());
            CHECK(ok, "%s: %s", line, why);
            valid_ok += ok;
            cJSON_Delete(want);
            free(jtext);
        } else {
            invalid_n++;
            int ok = s == AM_ERR_FORMAT && root == NULL;
            CHECK(ok, "%s: accepted an invalid document", line);
            /* a rejection must say where: "name:line:col: reason" */
            if (ok) {
                const char *msg = am_errmsg();
                int l = 0, c = 0;
                CHECK(strncmp(msg, line, ll) == 0 && sscanf(msg + ll, ":%d:%d:", &l, &c) == 2 && l > 0 && c > 0,
                      "%s: message without a position: %s", line, msg);
            }
            invalid_ok += ok;
        }
        am_toml_free(root);
        free(text);
    }
    free(list);
    printf("toml-test (TOML 1.0.0): valid %d/%d parsed as expected, invalid %d/%d rejected\n", valid_ok, valid_n,
           invalid_ok, invalid_n);
    CHECK(valid_n == 210 && invalid_n == 499, "case counts %d valid, %d invalid (list changed?)", valid_n, invalid_n);
    return am_test_finish();
}

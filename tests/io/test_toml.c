/* TOML reader: values and their positions, the lookup API, and error messages that say where. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "astromorph/toml.h"
#include "test_util.h"

static am_toml_value *parse(const char *text)
{
    am_toml_value *root = NULL;
    am_status s = am_toml_parse(text, strlen(text), "t.toml", &root);
    CHECK(s == AM_OK, "parse failed: %s", am_errmsg());
    return root;
}

static void test_settings_like(void)
{
    const char *text = "# comment\n"
                       "datafile = \"data/x.txt\"\n"
                       "epochs = 1_000\n"
                       "learning_rate = 6e-6\n"
                       "exponential_lr = true\n"
                       "[byol_settings]\n"
                       "projection_size = 0x40 # hex\n"
                       "sizes = [1, 2,\n  3,]\n"
                       "net.last_layer = 'layer4'\n";
    am_toml_value *root = parse(text);
    if (!root) return;
    const am_toml_value *v = am_toml_get(root, "datafile");
    CHECK(v && v->type == AM_TOML_STRING && strcmp(v->str, "data/x.txt") == 0, "datafile");
    CHECK(v && v->line == 2 && v->column == 12 && v->key_line == 2 && v->key_column == 1, "datafile position %d:%d",
          v ? v->line : -1, v ? v->column : -1);
    v = am_toml_get(root, "epochs");
    CHECK(v && v->type == AM_TOML_INTEGER && v->integer == 1000, "epochs with underscore");
    v = am_toml_get(root, "learning_rate");
    CHECK(v && v->type == AM_TOML_FLOAT && v->number == 6e-6, "float with exponent");
    v = am_toml_get(root, "exponential_lr");
    CHECK(v && v->type == AM_TOML_BOOL && v->boolean == 1, "bool");
    const am_toml_value *byol = am_toml_get(root, "byol_settings");
    CHECK(byol && byol->type == AM_TOML_TABLE && byol->key_line == 6, "table with its header line");
    v = am_toml_get(byol, "projection_size");
    CHECK(v && v->integer == 64 && v->line == 7, "hex integer");
    v = am_toml_get(byol, "sizes");
    CHECK(v && v->type == AM_TOML_ARRAY && v->n == 3 && v->items[2]->integer == 3 && v->items[2]->line == 9,
          "multi-line array with trailing comma");
    v = am_toml_get(am_toml_get(byol, "net"), "last_layer");
    CHECK(v && v->type == AM_TOML_STRING && strcmp(v->str, "layer4") == 0, "dotted key makes a sub-table");
    CHECK(am_toml_get(root, "missing") == NULL && am_toml_get(v, "x") == NULL, "absent key / not a table → NULL");
    CHECK(strcmp(am_toml_type_name(AM_TOML_FLOAT), "float") == 0, "type name");
    am_toml_free(root);
}

static void test_values(void)
{
    const char *text = "min = -9223372036854775808\nmax = 9223372036854775807\n"
                       "oct = 0o777\nbin = 0b1010\n"
                       "pinf = +inf\nninf = -inf\nnan = nan\n"
                       "nul = \"a\\u0000b\"\n"
                       "ml = \"\"\"\nline 1 \\\n   continued\"\"\"\n"
                       "lit = '''C:\\path'''\n"
                       "when = 1979-05-27T07:32:00.5-07:00\n"
                       "day = 1979-05-27\n"
                       "inline = { x = 1, y.z = \"deep\" }\n"
                       "[[runs]]\nid = 1\n[[runs]]\nid = 2\n";
    am_toml_value *root = parse(text);
    if (!root) return;
    CHECK(am_toml_get(root, "min")->integer == INT64_MIN, "INT64_MIN");
    CHECK(am_toml_get(root, "max")->integer == INT64_MAX, "INT64_MAX");
    CHECK(am_toml_get(root, "oct")->integer == 511 && am_toml_get(root, "bin")->integer == 10, "octal and binary");
    CHECK(isinf(am_toml_get(root, "pinf")->number) && am_toml_get(root, "ninf")->number < 0, "infinities");
    CHECK(isnan(am_toml_get(root, "nan")->number), "nan");
    const am_toml_value *v = am_toml_get(root, "nul");
    CHECK(v->len == 3 && memcmp(v->str, "a\0b", 3) == 0, "U+0000 kept, length %zu", v->len);
    v = am_toml_get(root, "ml");
    CHECK(strcmp(v->str, "line 1 continued") == 0, "multi-line basic: '%s'", v->str);
    CHECK(strcmp(am_toml_get(root, "lit")->str, "C:\\path") == 0, "multi-line literal keeps backslashes");
    v = am_toml_get(root, "when");
    CHECK(v->type == AM_TOML_DATETIME && strcmp(v->str, "1979-05-27T07:32:00.5-07:00") == 0, "offset date-time '%s'",
          v->str);
    CHECK(am_toml_get(root, "day")->type == AM_TOML_DATE_LOCAL, "local date");
    v = am_toml_get(am_toml_get(am_toml_get(root, "inline"), "y"), "z");
    CHECK(v && strcmp(v->str, "deep") == 0, "dotted key inside an inline table");
    v = am_toml_get(root, "runs");
    CHECK(v && v->type == AM_TOML_ARRAY && v->n == 2 && am_toml_get(v->items[1], "id")->integer == 2,
          "array of tables");
    am_toml_free(root);
}

/* Each bad document fails with AM_ERR_FORMAT and a message starting "t.toml:<line>:<col>:". */
static void bad(const char *text, int line, int col, const char *needle)
{
    am_toml_value *root = (am_toml_value *)1;
    am_status s = am_toml_parse(text, strlen(text), "t.toml", &root);
    char where[64];
    snprintf(where, sizeof where, "t.toml:%d:%d: ", line, col);
    const char *msg = am_errmsg();
    CHECK(s == AM_ERR_FORMAT && root == NULL, "accepted: %s", text);
    CHECK(strncmp(msg, where, strlen(where)) == 0 && strstr(msg, needle), "message '%s', expected '%s...%s'", msg,
          where, needle);
}

static void test_errors(void)
{
    bad("epochs = 5\nepochs = 6\n", 2, 1, "already defined (line 1)");
    bad("a = 1\nb = 07\n", 2, 5, "leading zeros");
    bad("x = 9223372036854775808\n", 1, 5, "64 bits");
    bad("s = \"unterminated\n", 1, 18, "newline");
    bad("[t]\nk = 1\n[t]\n", 3, 2, "already defined");
    bad("k = 1 2\n", 1, 7, "end of the line");
    bad("k = \"\\q\"\n", 1, 6, "invalid escape");
    bad("t = {a = 1,}\n", 1, 12, "trailing comma");
    bad("a.b = 1\n[a]\n", 2, 2, "already defined");
    bad("k = yes\n", 1, 5, "expected a value");
    bad("d = 2023-02-30\n", 1, 5, "does not exist");
    bad("é = 1\n", 1, 1, "expected a key");
    bad("k = \"\xff\"\n", 1, 6, "UTF-8");
}

static void test_file(void)
{
    char path[512];
    snprintf(path, sizeof path, "%s/s.toml", am_test_tmpdir());
    FILE *fp = fopen(path, "w");
    fputs("\xEF\xBB\xBFk = 'v'\r\n", fp); /* BOM and CRLF */
    fclose(fp);
    am_toml_value *root = NULL;
    CHECK_OK(am_toml_parse_file(path, &root));
    CHECK(root && am_toml_get(root, "k") && strcmp(am_toml_get(root, "k")->str, "v") == 0, "file with BOM and CRLF");
    am_toml_free(root);
    snprintf(path, sizeof path, "%s/absent.toml", am_test_tmpdir());
    CHECK_FAILS(am_toml_parse_file(path, &root), AM_ERR_IO, "absent.toml: cannot open");
    CHECK(root == NULL, "no tree on failure");
}

int main(void)
{
    test_settings_like();
    test_values();
    test_errors();
    test_file();
    return am_test_finish();
}

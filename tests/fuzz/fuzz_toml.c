/* libFuzzer target for the TOML reader (am_toml_parse): any bytes must give a tree or a clean
 * "name:line:col: reason" error, never a crash, a leak or an out-of-bounds read; an accepted
 * tree must be well formed. Build with `make fuzz` (clang), run e.g.
 *   build-fuzz/fuzz_toml -max_total_time=60 tests/data/toml-test/valid */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "astromorph/toml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Every node: tables have keys, strings their terminator, positions are 1-based. */
static void check(const am_toml_value *v, int depth)
{
    if (depth > 1000 || v->line < 1 || v->column < 1) abort();
    if ((v->type == AM_TOML_STRING || v->type >= AM_TOML_DATETIME) && (!v->str || v->str[v->len] != '\0')) abort();
    for (size_t i = 0; i < v->n; i++) {
        if (v->type == AM_TOML_TABLE && (!v->keys[i] || v->keys[i][v->key_lens[i]] != '\0')) abort();
        check(v->items[i], depth + 1);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    am_toml_value *root = NULL;
    if (am_toml_parse((const char *)data, size, "fuzz", &root) != AM_OK) {
        if (root || strncmp(am_errmsg(), "fuzz:", 5) != 0) abort();
        return 0;
    }
    if (!root || root->type != AM_TOML_TABLE) abort();
    check(root, 0);
    am_toml_free(root);
    return 0;
}

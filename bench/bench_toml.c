/* The TOML reader on large documents: one array of N items on one line, and one table of N keys,
 * each at two sizes, as time per item. Linear reading keeps the per-item time flat as N grows
 * tenfold (the quadratic reader took 10.6 s for a 160 000-item line and did not finish 800 000
 * keys in 60 s).
 *
 *   bench_toml [N (800000)] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "astromorph/toml.h"
#include "astromorph/runtime.h"

/* kind 0: `a = [0,1,...]` on one line; kind 1: `k0 = 0` ... one key per line. */
static char *document(int kind, long n, size_t *len)
{
    size_t cap = (size_t)n * 24 + 64, at = 0;
    char *s = malloc(cap);
    if (!s) return NULL;
    if (kind == 0) at += (size_t)snprintf(s + at, cap - at, "a = [");
    for (long i = 0; i < n; i++)
        at += (size_t)(kind == 0 ? snprintf(s + at, cap - at, i ? ",%ld" : "%ld", i)
                                 : snprintf(s + at, cap - at, "k%ld = %ld\n", i, i));
    if (kind == 0) at += (size_t)snprintf(s + at, cap - at, "]\n");
    *len = at;
    return s;
}

static double seconds(int kind, long n)
{
    size_t len;
    char *doc = document(kind, n, &len);
    if (!doc) return -1;
    am_toml_value *root = NULL;
    double t0 = am_monotonic_seconds();
    am_status s = am_toml_parse(doc, len, "bench", &root);
    double t = am_monotonic_seconds() - t0;
    if (s != AM_OK) fprintf(stderr, "bench_toml: %s\n", am_errmsg());
    am_toml_free(root);
    free(doc);
    return s == AM_OK ? t : -1;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 800000;
    if (n < 10) n = 10;
    static const char *const kinds[] = {"array on one line", "table of keys"};
    for (int kind = 0; kind < 2; kind++) {
        double small = seconds(kind, n / 10), large = seconds(kind, n);
        if (small < 0 || large < 0) return 1;
        printf("%-18s %8ld items %.3f s (%.0f ns/item), %8ld items %.3f s (%.0f ns/item): ratio %.2f\n", kinds[kind],
               n / 10, small, 1e9 * small / (double)(n / 10), n, large, 1e9 * large / (double)n,
               (large / (double)n) / (small / (double)(n / 10)));
    }
    return 0;
}

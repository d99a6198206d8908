/* The saved index (include/astromorph/knn_index.h) on N × D rows around C centres (0: plain
 * Gaussian; Euclidean): build time, save time and file size (fsync'd), the query time and recall@k of `index --check` against the
 * exact search, and peak RSS. One type a run, so the RSS is that type's own; with DUMP the rows
 * also go to a raw float32 file for bench/bench_index.py (Debian's python3-faiss, same index,
 * same data).
 *   bench_index [N] [D] [C] [TYPE] [QUERIES] [K] [DUMP] */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

#include "astromorph/knn_index.h"
#include "astromorph/runtime.h"
#include "astromorph/tensor.h"
#include "bench_rows.h"

int main(int argc, char **argv)
{
    int64_t n = argc > 1 ? atoll(argv[1]) : 100000, dim = argc > 2 ? atoll(argv[2]) : 128;
    int ncl = argc > 3 ? atoi(argv[3]) : 100, k = argc > 6 ? atoi(argv[6]) : 10;
    int64_t queries = argc > 5 ? atoll(argv[5]) : 1000;
    const char *type = argc > 4 ? argv[4] : "auto", *dump = argc > 7 ? argv[7] : NULL;
    am_index_options o;
    am_index_options_default(&o);
    o.metric = AM_METRIC_EUCLIDEAN;
    if (n <= k || dim < 1 || k < 1 || ncl < 0 || queries < 1 || am_index_type_parse(type, "TYPE", &o.type) != AM_OK) {
        fprintf(stderr, "usage: bench_index [N > K] [D] [C] [auto|flat|ivf|ivfpq|hnsw] [QUERIES] [K] [DUMP]\n");
        return 2;
    }
    float *x = bench_rows(n, dim, ncl);
    if (!x) {
        fprintf(stderr, "bench_index: out of memory\n");
        return 1;
    }
    if (dump) {
        FILE *fp = fopen(dump, "wb");
        if (!fp || fwrite(x, sizeof *x, (size_t)(n * dim), fp) != (size_t)(n * dim) || fclose(fp) != 0) {
            fprintf(stderr, "bench_index: %s: cannot write\n", dump);
            return 1;
        }
    }
    double t = am_monotonic_seconds();
    am_knn_index *ix = NULL;
    am_index_check ck;
    const char *path = "bench_index.faiss";
    am_status s = am_knn_index_build(x, n, dim, &o, &ix);
    double build = am_monotonic_seconds() - t;
    t = am_monotonic_seconds();
    if (s == AM_OK) s = am_knn_index_save(ix, path);
    double save = am_monotonic_seconds() - t;
    if (s != AM_OK) {
        fprintf(stderr, "bench_index: %s\n", am_errmsg());
        return 1;
    }
    FILE *fp = fopen(path, "rb");
    long bytes = fp && fseek(fp, 0, SEEK_END) == 0 ? ftell(fp) : -1;
    if (fp) fclose(fp);
    remove(path);
    if (am_knn_index_check(ix, x, queries, k, 0, &ck) != AM_OK) {
        fprintf(stderr, "bench_index: %s\n", am_errmsg());
        return 1;
    }
    const am_knn_index_info *f = am_knn_index_get_info(ix);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("astromorph %-5s n %lld d %lld C %d nlist %lld nprobe %lld pq_m %lld threads %d: build %.2f s, save %.2f s "
           "(%.1f MB), "
           "%lld queries %.3f s (exact %.3f s), recall@%d %.4f (FAISS alone %.4f), peak RSS %.0f MB\n",
           am_index_type_name(f->type), (long long)n, (long long)dim, ncl, (long long)f->nlist, (long long)f->nprobe,
           (long long)f->pq_m, am_get_threads(), build, save, bytes / 1e6, (long long)ck.queries, ck.index_seconds,
           ck.exact_seconds, k, ck.recall, ck.recall_raw, ru.ru_maxrss / 1024.0);
    am_knn_index_free(ix);
    am_free(x);
    return 0;
}

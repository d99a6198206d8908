/* The saved index (include/astromorph/knn_index.h) on clustered data: flat finds exactly what
 * the exact search finds (recall 1, similar and the kNN graph identical to brute force), IVF
 * probing every list likewise, IVF with few lists probed stays above a bound its clusters
 * imply; a save/load round trip searches identically; IVF's bytes do not depend on the thread
 * count; a stale fingerprint and a truncated, changed or foreign file are refused with a
 * message. Skips (77) in a build without FAISS, after checking that it says so. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "analysis/faiss_shim.h"
#include "analysis/knn.h"
#include "astromorph/knn_index.h"
#include "astromorph/outliers.h"
#include "synth.h"
#include "test_util.h"

/* 16 clusters of 250: 4000 / 39 = 102 lists (4·√4000 = 253 capped), about 6 to a cluster. */
enum { N = 4000, DIM = 32, NCL = 16, K = 10, QUERIES = 500 };

static am_knn_index *build(const float *x, int64_t n, am_index_type type, am_metric metric, int64_t nlist,
                           int64_t nprobe)
{
    am_index_options o;
    am_index_options_default(&o);
    o.type = type, o.metric = metric, o.nlist = nlist, o.nprobe = nprobe;
    am_knn_index *ix = NULL;
    CHECK_OK(am_knn_index_build(x, n, DIM, &o, &ix));
    return ix;
}

static double recall(const am_knn_index *ix, const float *x)
{
    am_index_check r;
    CHECK_OK(am_knn_index_check(ix, x, QUERIES, K, 5, &r));
    CHECK(r.queries == QUERIES && r.k == K, "check ran %lld queries at k %d", (long long)r.queries, r.k);
    return r.recall;
}

static char *path_in_tmp(const char *name)
{
    static char p[4][1024];
    static int i;
    i = (i + 1) % 4;
    snprintf(p[i], sizeof p[i], "%s/%s", am_test_tmpdir(), name);
    return p[i];
}

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    fseek(fp, 0, SEEK_END);
    *len = (size_t)ftell(fp);
    fseek(fp, 0, SEEK_SET);
    uint8_t *b = malloc(*len);
    CHECK(fread(b, 1, *len, fp) == *len, "%s: short read", path);
    fclose(fp);
    return b;
}

static void spit(const char *path, const uint8_t *b, size_t len)
{
    FILE *fp = fopen(path, "wb");
    fwrite(b, 1, len, fp);
    fclose(fp);
}

/* Flat is exhaustive: recall 1, and similar / the kNN graph / outlier scores through it are
 * bit for bit the exact ones (the same exact re-score, ties to the lower row). */
static void flat_is_exact(const float *x)
{
    for (int mi = 0; mi < 2; mi++) {
        am_metric m = mi ? AM_METRIC_EUCLIDEAN : AM_METRIC_COSINE;
        am_knn_index *ix = build(x, N, AM_INDEX_FLAT, m, 0, 0);
        CHECK(recall(ix, x) == 1.0, "flat %s: recall %.4f", am_metric_name(m), recall(ix, x));
        uint8_t *ex = calloc(N, 1);
        for (int64_t q = 0; q < N; q += 397) {
            am_neighbor a[K], b[K];
            int fa = 0, fb = 0;
            memset(ex, 0, N);
            ex[q] = ex[(q + NCL) % N] = 1; /* the query and a row of its cluster left out */
            CHECK_OK(am_knn_index_similar(ix, x, x + q * DIM, K, ex, a, &fa));
            CHECK_OK(am_similar(x, N, DIM, NULL, x + q * DIM, m, K, ex, b, &fb));
            int same = fa == K && fb == K;
            for (int j = 0; j < K && same; j++) same = a[j].index == b[j].index && a[j].score == b[j].score;
            CHECK(same, "flat %s: similar to row %lld differs from exact", am_metric_name(m), (long long)q);
            for (int j = 0; j < K; j++) CHECK(!ex[a[j].index], "row %lld excluded but returned", (long long)a[j].index);
        }
        free(ex);
        int64_t *i1 = malloc(N * K * sizeof *i1), *i2 = malloc(N * K * sizeof *i2);
        float *s1 = malloc(N * K * sizeof *s1), *s2 = malloc(N * K * sizeof *s2);
        am_knn_options o;
        am_knn_options_default(&o);
        o.method = AM_KNN_EXACT;
        CHECK_OK(am_knn_search(x, N, DIM, m, K, &o, i1, s1));
        o.index = ix;
        CHECK_OK(am_knn_search(x, N, DIM, m, K, &o, i2, s2));
        CHECK(!memcmp(i1, i2, N * K * sizeof *i1) && !memcmp(s1, s2, N * K * sizeof *s1),
              "flat %s: kNN graph differs from exact", am_metric_name(m));
        /* an index of the other metric is not used: still the exact graph */
        am_knn_index *other = build(x, N, AM_INDEX_FLAT, mi ? AM_METRIC_COSINE : AM_METRIC_EUCLIDEAN, 0, 0);
        o.index = other;
        CHECK_OK(am_knn_search(x, N, DIM, m, K, &o, i2, s2));
        CHECK(!memcmp(i1, i2, N * K * sizeof *i1), "an index of the other metric changed the graph");
        o.index = ix;
        CHECK_FAILS(am_knn_search(x, N - 1, DIM, m, K, &o, i2, s2), AM_ERR_VALUE, "index holds");
        double k1[N], l1[N], k2[N], l2[N];
        setenv("AM_KNN_METHOD", "exact", 1);
        CHECK_OK(am_outlier_scores(x, N, DIM, m, K, k1, l1));
        unsetenv("AM_KNN_METHOD");
        CHECK_OK(am_outlier_scores_indexed(x, N, DIM, m, K, ix, k2, l2));
        CHECK(!memcmp(k1, k2, sizeof k1) && !memcmp(l1, l2, sizeof l1), "flat %s: outlier scores differ",
              am_metric_name(m));
        free(i1), free(i2), free(s1), free(s2);
        am_knn_index_free(ix);
        am_knn_index_free(other);
    }
}

static void ivf_recall(const float *x)
{
    /* every list probed: IVF is exhaustive too */
    am_knn_index *all = build(x, N, AM_INDEX_IVF, AM_METRIC_COSINE, 64, 64);
    CHECK(recall(all, x) == 1.0, "ivf, all 64 lists probed: recall %.4f", recall(all, x));
    am_knn_index_free(all);
    /* 32 of 102 lists: the clusters lie 4·√(2·32) ≈ 32 apart against a spread of √32 ≈ 5.7,
     * so k-means keeps each list inside one cluster (~6 lists each) and the 32 lists nearest a
     * query hold its whole cluster: recall 1 expected; 0.98 allows a cluster split into more
     * lists than are probed for 2 % of the queries' neighbours. */
    am_knn_index *ix = build(x, N, AM_INDEX_IVF, AM_METRIC_EUCLIDEAN, 0, 0);
    const am_knn_index_info *f = am_knn_index_get_info(ix);
    CHECK(f->nlist == 102 && f->nprobe == 32, "default lists %lld, probed %lld", (long long)f->nlist,
          (long long)f->nprobe);
    am_index_check r;
    CHECK_OK(am_knn_index_check(ix, x, QUERIES, K, 5, &r));
    CHECK(r.recall >= 0.98 && r.recall >= r.recall_raw, "ivf: recall %.4f (FAISS alone %.4f)", r.recall, r.recall_raw);
    /* all but 3 rows excluded: too few for the index to find, the exact search's 3 */
    uint8_t *ex = malloc(N);
    memset(ex, 1, N);
    ex[10] = ex[2000] = ex[3999] = 0;
    am_neighbor nb[5], want[5];
    int found = 0, wf = 0;
    CHECK_OK(am_knn_index_similar(ix, x, x, 5, ex, nb, &found));
    CHECK_OK(am_similar(x, N, DIM, NULL, x, AM_METRIC_EUCLIDEAN, 5, ex, want, &wf));
    CHECK(found == 3 && wf == 3 && nb[0].index == want[0].index && nb[2].index == want[2].index,
          "3 rows left: found %d, exact %d", found, wf);
    free(ex);
    am_knn_index_free(ix);
    /* IVF-PQ: 8-byte codes a row, candidates re-scored exactly; the same clusters argument */
    am_knn_index *pq = build(x, N, AM_INDEX_IVFPQ, AM_METRIC_EUCLIDEAN, 0, 0);
    CHECK(am_knn_index_get_info(pq)->pq_m == 8, "default pq_m %lld", (long long)am_knn_index_get_info(pq)->pq_m);
    CHECK(recall(pq, x) >= 0.98, "ivfpq: recall %.4f", recall(pq, x));
    am_knn_index_free(pq);
}

/* The kNN graph through an IVF or IVF-PQ index: our lists split by the index's own centres (the
 * report says so, with its nlist), nprobe tuned as for any lists, so the recall over every row
 * is the lists' (>= 0.95 against the exact graph), with exact scores; the same graph on one
 * thread as on two; the outlier scores through the index are the scores of that graph. */
static void ivf_graph(const float *x)
{
    int64_t *want = malloc(N * K * sizeof *want), *idx = malloc(N * K * sizeof *idx),
            *idx1 = malloc(N * K * sizeof *idx1);
    float *wsc = malloc(N * K * sizeof *wsc), *sc = malloc(N * K * sizeof *sc), *sc1 = malloc(N * K * sizeof *sc1);
    const am_index_type types[] = {AM_INDEX_IVF, AM_INDEX_IVFPQ};
    for (int t = 0; t < 2; t++) {
        const am_metric m = t ? AM_METRIC_EUCLIDEAN : AM_METRIC_COSINE;
        const char *tn = am_index_type_name(types[t]);
        am_knn_index *ix = build(x, N, types[t], m, 0, 0);
        am_knn_options o;
        am_knn_options_default(&o);
        o.method = AM_KNN_EXACT;
        CHECK_OK(am_knn_search(x, N, DIM, m, K, &o, want, wsc));
        am_knn_report rep;
        o.index = ix, o.report = &rep;
#ifdef _OPENMP
        const int nt = omp_get_max_threads();
        omp_set_num_threads(2);
#endif
        CHECK_OK(am_knn_search(x, N, DIM, m, K, &o, idx, sc));
        CHECK(rep.method == AM_KNN_LISTS && rep.nlist == am_knn_index_get_info(ix)->nlist && rep.recall >= 0.96,
              "%s: graph by method %d, %lld lists (the index has %lld), check's recall %.4f", tn, (int)rep.method,
              (long long)rep.nlist, (long long)am_knn_index_get_info(ix)->nlist, rep.recall);
        int64_t hits = 0, worse = 0;
        for (int64_t i = 0; i < N; i++)
            for (int a = 0; a < K; a++) {
                /* a row whose exact score ties the true k-th counts as found */
                const float f = sc[i * K + a], kth = wsc[i * K + K - 1];
                hits += m == AM_METRIC_EUCLIDEAN ? f <= kth : f >= kth;
                worse += m == AM_METRIC_EUCLIDEAN ? f < wsc[i * K + a] : f > wsc[i * K + a];
            }
        const double rec = (double)hits / (N * K);
        CHECK(rec >= 0.95 && worse == 0, "%s: graph recall %.4f, %lld scores better than exact", tn, rec,
              (long long)worse);
#ifdef _OPENMP
        omp_set_num_threads(1);
        CHECK_OK(am_knn_search(x, N, DIM, m, K, &o, idx1, sc1));
        omp_set_num_threads(nt);
        CHECK(!memcmp(idx, idx1, N * K * sizeof *idx) && !memcmp(sc, sc1, N * K * sizeof *sc),
              "%s: graph on 1 thread differs from 2", tn);
#endif
        static double k1[N], l1[N];
        CHECK_OK(am_outlier_scores_indexed(x, N, DIM, m, K, ix, k1, l1));
        double mean = 0;
        for (int64_t i = 0; i < N; i++) {
            double d = 0;
            for (int j = 0; j < K; j++) d += m == AM_METRIC_EUCLIDEAN ? sc[i * K + j] : 1 - (double)sc[i * K + j];
            mean += fabs(k1[i] - d / K) / N;
        }
        CHECK(mean < 1e-6, "%s: outlier kNN distances differ from the graph's by %.3g on average", tn, mean);
        am_knn_index_free(ix);
    }
    free(want), free(idx), free(idx1), free(wsc), free(sc), free(sc1);
}

/* Saved and loaded: the same info and the same labels for every query. */
static void round_trip(const float *x)
{
    const am_index_type types[] = {AM_INDEX_FLAT, AM_INDEX_IVF, AM_INDEX_IVFPQ, AM_INDEX_HNSW};
    int64_t *a = malloc(N * (K + 1) * sizeof *a), *b = malloc(N * (K + 1) * sizeof *b);
    for (int t = 0; t < 4; t++) {
        am_knn_index *ix = build(x, N, types[t], AM_METRIC_COSINE, 0, 0), *back = NULL;
        const char *p = path_in_tmp("round.faiss");
        CHECK_OK(am_knn_index_save(ix, p));
        CHECK_OK(am_knn_index_load(p, &back));
        if (!back) continue;
        CHECK(!memcmp(am_knn_index_get_info(ix), am_knn_index_get_info(back), sizeof(am_knn_index_info)),
              "%s: info changed by the round trip", am_index_type_name(types[t]));
        CHECK_OK(am_knn_index_search(ix, x, N, K + 1, a));
        CHECK_OK(am_knn_index_search(back, x, N, K + 1, b));
        CHECK(!memcmp(a, b, N * (K + 1) * sizeof *a), "%s: loaded index searches differently",
              am_index_type_name(types[t]));
        CHECK_OK(am_knn_index_fresh(back, x, N, DIM));
        am_knn_index_free(ix);
        am_knn_index_free(back);
    }
    free(a), free(b);
}

/* The same bytes at 1 and 2 threads for flat, IVF and IVF-PQ (HNSW is documented as not). */
static void thread_independent(const float *x)
{
#ifdef _OPENMP
    const am_index_type types[] = {AM_INDEX_FLAT, AM_INDEX_IVF, AM_INDEX_IVFPQ};
    for (int t = 0; t < 3; t++) {
        size_t len[2];
        uint8_t *bytes[2];
        for (int th = 0; th < 2; th++) {
            omp_set_num_threads(th + 1);
            am_knn_index *ix = build(x, N, types[t], AM_METRIC_COSINE, 0, 0);
            const char *p = path_in_tmp(th ? "t2.faiss" : "t1.faiss");
            CHECK_OK(am_knn_index_save(ix, p));
            am_knn_index_free(ix);
            bytes[th] = slurp(p, &len[th]);
        }
        omp_set_num_threads(2);
        CHECK(len[0] == len[1] && !memcmp(bytes[0], bytes[1], len[0]), "%s: the index differs at 1 and 2 threads",
              am_index_type_name(types[t]));
        free(bytes[0]), free(bytes[1]);
    }
#else
    (void)x;
#endif
}

static void refusals(float *x)
{
    am_knn_index *ix = build(x, N, AM_INDEX_IVF, AM_METRIC_COSINE, 0, 0), *back = NULL;
    CHECK_OK(am_knn_index_fresh(ix, x, N, DIM));
    CHECK_FAILS(am_knn_index_fresh(ix, x, N - 1, DIM), AM_ERR_VALUE, "stale index");
    x[1234] += 1e-3f; /* one value of one row re-exported */
    CHECK_FAILS(am_knn_index_fresh(ix, x, N, DIM), AM_ERR_VALUE, "stale index");
    x[1234] -= 1e-3f;
    const char *p = path_in_tmp("good.faiss"), *bad = path_in_tmp("bad.faiss");
    CHECK_OK(am_knn_index_save(ix, p));
    size_t len;
    uint8_t *b = slurp(p, &len);
    spit(bad, b, len - 100);
    CHECK_FAILS(am_knn_index_load(bad, &back), AM_ERR_FORMAT, "truncated");
    spit(bad, b, 50);
    CHECK_FAILS(am_knn_index_load(bad, &back), AM_ERR_FORMAT, "not an astromorph index");
    b[len / 2] ^= 0x40;
    spit(bad, b, len);
    CHECK_FAILS(am_knn_index_load(bad, &back), AM_ERR_FORMAT, "corrupt");
    CHECK(strstr(am_errmsg(), bad) && !strchr(am_errmsg(), '\n'), "message names the file on one line: %s",
          am_errmsg());
    b[len / 2] ^= 0x40;
    spit(bad, b, len);
    CHECK_OK(am_knn_index_load(bad, &back));
    am_knn_index_free(back);
    back = NULL;
    CHECK_FAILS(am_knn_index_load(path_in_tmp("absent.faiss"), &back), AM_ERR_NOTFOUND, "absent.faiss");
    /* FAISS's own reader on bytes it cannot parse (past our checksum): its exception contained.
     * FAISS 1.7.3's read_index leaks the index it was filling when it throws (our side holds
     * nothing: RAII), which LeakSanitizer reports under frames of FAISS's static library that
     * a suppression cannot name; so the sanitizer build (make test-sanitize) leaves this out. */
    am_faiss_index *fx = NULL;
    if (!getenv("AM_SANITIZE")) {
        CHECK_FAILS(am_faiss_deserialize(b + 96, (len - 96) / 2, N, DIM, &fx), AM_ERR_BACKEND, "FAISS");
        CHECK(fx == NULL && !strchr(am_errmsg(), '\n'), "FAISS's failure: %s", am_errmsg());
        static const uint8_t junk[64] = "IwFlnot an index at all, only some bytes to read";
        CHECK_FAILS(am_faiss_deserialize(junk, sizeof junk, N, DIM, &fx), AM_ERR_BACKEND, "FAISS");
    } else {
        fprintf(stderr, "note: FAISS's reader on malformed bytes not run under the sanitizers (FAISS leaks there)\n");
    }
    free(b);
    /* bad options */
    am_index_options o;
    am_index_options_default(&o);
    o.type = AM_INDEX_IVFPQ, o.pq_m = 5;
    am_knn_index *none = NULL;
    CHECK_FAILS(am_knn_index_build(x, N, DIM, &o, &none), AM_ERR_VALUE, "does not divide");
    o.pq_m = 0;
    CHECK_FAILS(am_knn_index_build(x, 100, DIM, &o, &none), AM_ERR_VALUE, "at least 256");
    o.type = AM_INDEX_IVF, o.nlist = N + 1;
    CHECK_FAILS(am_knn_index_build(x, N, DIM, &o, &none), AM_ERR_VALUE, "nlist");
    am_index_type t;
    CHECK_FAILS(am_index_type_parse("lsh", "--type", &t), AM_ERR_VALUE, "--type");
    x[7 * DIM + 3] = 1.0f / 0.0f;
    o.type = AM_INDEX_FLAT;
    CHECK_FAILS(am_knn_index_build(x, N, DIM, &o, &none), AM_ERR_NUMERIC, "row 7");
    x[7 * DIM + 3] = 0;
    CHECK(none == NULL, "a failed build left an index");
    am_knn_index_free(ix);
}

int main(void)
{
    float *x = synth_clusters(N, DIM, NCL, 4.0, 11, NULL);
    /* ties: a few exact copies of row 40, which must come back lowest row first */
    for (int i = 1; i <= 3; i++) memcpy(x + (int64_t)(40 + NCL * i) * DIM, x + 40 * DIM, DIM * sizeof *x);
    CHECK(am_index_type_for(1000, 128, 1ULL << 34) == AM_INDEX_FLAT, "auto: flat for 1000 rows");
    CHECK(am_index_type_for(1000000, 128, 1ULL << 34) == AM_INDEX_IVF, "auto: ivf for 10^6 x 128 in 16 GiB");
    CHECK(am_index_type_for(1000000, 128, 1ULL << 29) == AM_INDEX_IVFPQ, "auto: ivfpq when the floats do not fit");
    CHECK(am_index_type_for(10000000, 128, 1ULL << 40) == AM_INDEX_IVFPQ, "auto: ivfpq for 10^7");
    if (!am_index_available()) {
        am_knn_index *ix = NULL;
        CHECK_FAILS(am_knn_index_build(x, N, DIM, NULL, &ix), AM_ERR_VALUE, "FAISS");
        am_free(x);
        return am_test_skip("built without FAISS (libfaiss-dev): only the refusal was tested");
    }
    flat_is_exact(x);
    ivf_recall(x);
    ivf_graph(x);
    round_trip(x);
    thread_independent(x);
    refusals(x);
    am_free(x);
    return am_test_finish();
}

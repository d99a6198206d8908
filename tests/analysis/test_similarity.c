/* Similarity search against brute force in double precision; exclusions; all-rows kNN. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "astromorph/similarity.h"
#include "synth.h"
#include "test_util.h"

typedef struct {
    double bad;
    int64_t i;
} pair;

static int cmp_pair(const void *a, const void *b)
{
    const pair *x = a, *y = b;
    if (x->bad != y->bad) return x->bad < y->bad ? -1 : 1;
    return (x->i > y->i) - (x->i < y->i);
}

/* Brute force: every row scored in double, sorted. */
static int brute(const float *x, int64_t n, int64_t dim, const float *q, am_metric m, const uint8_t *ex, pair *out)
{
    int cnt = 0;
    for (int64_t i = 0; i < n; i++) {
        if (ex && ex[i]) continue;
        double ab = 0, aa = 0, bb = 0, dd = 0;
        for (int64_t d = 0; d < dim; d++) {
            ab += (double)x[i * dim + d] * q[d];
            aa += (double)x[i * dim + d] * x[i * dim + d];
            bb += (double)q[d] * q[d];
            dd += ((double)x[i * dim + d] - q[d]) * ((double)x[i * dim + d] - q[d]);
        }
        out[cnt].bad = m == AM_METRIC_EUCLIDEAN ? sqrt(dd) : -ab / sqrt(aa * bb);
        out[cnt++].i = i;
    }
    qsort(out, (size_t)cnt, sizeof *out, cmp_pair);
    return cnt;
}

int main(void)
{
    const int64_t n = 3000, dim = 64;
    float *x = synth_clusters(n, dim, 20, 1.0, 7, NULL);
    float *sqn = malloc((size_t)n * sizeof *sqn);
    CHECK_OK(am_row_sqnorms(x, n, dim, sqn));
    pair *ref = malloc((size_t)n * sizeof *ref);
    am_neighbor got[10];
    int found;
    for (int mi = 0; mi < 2; mi++) {
        am_metric m = mi ? AM_METRIC_EUCLIDEAN : AM_METRIC_COSINE;
        for (int qi = 0; qi < 6; qi++) {
            const float *q = x + (int64_t)(qi * 479) * dim;
            CHECK_OK(am_similar(x, n, dim, qi % 2 ? sqn : NULL, q, m, 10, NULL, got, &found));
            brute(x, n, dim, q, m, NULL, ref);
            CHECK(found == 10, "found %d", found);
            for (int j = 0; j < found; j++) {
                CHECK(got[j].index == ref[j].i, "%s query %d rank %d: index %lld, brute force %lld", am_metric_name(m),
                      qi, j, (long long)got[j].index, (long long)ref[j].i);
                double want = m == AM_METRIC_EUCLIDEAN ? ref[j].bad : -ref[j].bad;
                CHECK(fabs(got[j].score - want) <= 1e-5 * fmax(1, fabs(want)), "score %g vs %g", got[j].score, want);
            }
        }
    }
    /* The query itself is the best cosine match (score 1) until excluded. */
    CHECK_OK(am_similar(x, n, dim, sqn, x + 5 * dim, AM_METRIC_COSINE, 1, NULL, got, &found));
    CHECK(found == 1 && got[0].index == 5 && fabs(got[0].score - 1) < 1e-6, "self match %lld %g",
          (long long)got[0].index, got[0].score);

    /* Same-OBJECT exclusion: rows 0..9 share the query's object and must not appear. */
    am_embeddings e;
    CHECK_OK(am_embeddings_alloc(&e, 200, 8));
    float *y = synth_clusters(200, 8, 2, 0.5, 3, NULL);
    memcpy(e.data, y, 200 * 8 * sizeof(float));
    for (int i = 0; i < 10; i++) strcpy(e.meta[i * 2].object, "Orion KL");
    uint8_t *ex = malloc(200);
    CHECK_OK(am_similar_exclusions(&e, 0, 0, ex));
    int excluded = 0;
    for (int i = 0; i < 200; i++) excluded += ex[i];
    CHECK(excluded == 10, "excluded %d rows, want 10", excluded);
    am_neighbor nb[50];
    CHECK_OK(am_similar(e.data, 200, 8, NULL, e.data, AM_METRIC_EUCLIDEAN, 50, ex, nb, &found));
    for (int j = 0; j < found; j++)
        CHECK(strcmp(e.meta[nb[j].index].object, "Orion KL") != 0, "row %lld of the same object returned",
              (long long)nb[j].index);
    CHECK_OK(am_similar_exclusions(&e, 0, 1, ex));
    excluded = 0;
    for (int i = 0; i < 200; i++) excluded += ex[i];
    CHECK(excluded == 1 && ex[0], "keep-same-object excludes %d rows", excluded);
    /* Unknown objects ("N/A") are never treated as the same object. */
    CHECK_OK(am_similar_exclusions(&e, 1, 0, ex));
    excluded = 0;
    for (int i = 0; i < 200; i++) excluded += ex[i];
    CHECK(excluded == 1, "N/A query excluded %d rows", excluded);
    CHECK_FAILS(am_similar_exclusions(&e, 200, 0, ex), AM_ERR_VALUE, "query row 200");
    /* Fewer candidates than k. */
    memset(ex, 1, 200);
    ex[3] = ex[4] = 0;
    CHECK_OK(am_similar(e.data, 200, 8, NULL, e.data, AM_METRIC_COSINE, 6, ex, nb, &found));
    CHECK(found == 2, "found %d of 2 allowed rows", found);

    /* All-rows kNN matches brute force. */
    const int64_t m = 400;
    const int k = 7;
    int64_t *idx = malloc((size_t)m * k * sizeof *idx);
    float *sc = malloc((size_t)m * k * sizeof *sc);
    CHECK_OK(am_knn_all(x, m, dim, AM_METRIC_EUCLIDEAN, k, idx, sc));
    int bad = 0;
    uint8_t self[400];
    for (int64_t i = 0; i < m; i++) {
        memset(self, 0, sizeof self);
        self[i] = 1;
        brute(x, m, dim, x + i * dim, AM_METRIC_EUCLIDEAN, self, ref);
        for (int j = 0; j < k; j++)
            if (idx[i * k + j] != ref[j].i || fabs(sc[i * k + j] - ref[j].bad) > 1e-5 * ref[j].bad) bad++;
    }
    CHECK(bad == 0, "%d of %lld kNN entries differ from brute force", bad, (long long)(m * k));
    CHECK_FAILS(am_knn_all(x, 5, dim, AM_METRIC_COSINE, 5, idx, sc), AM_ERR_VALUE, "n > k");
    am_metric mt;
    CHECK_FAILS(am_metric_parse("manhattan", "--metric", &mt), AM_ERR_VALUE, "--metric");

    free(idx);
    free(sc);
    free(ex);
    am_free(y);
    am_embeddings_free(&e);
    free(ref);
    free(sqn);
    am_free(x);
    return am_test_finish();
}

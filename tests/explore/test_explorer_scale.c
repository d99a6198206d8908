/* The explorer beyond the old 20 000-object limit: 30 000 synthetic embeddings (no FITS files, so
 * no thumbnails: the page draws points) through `astromorph explore` with a saved flat cosine
 * index beside them (when the build has FAISS). Checks that the map is t-SNE, that the page
 * loads in Chromium within 20 s and lists, for probed objects, exactly the look-alikes a
 * brute-force cosine search in double finds here, and that the index was used. Skipped (77)
 * without chromium or node. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "astromorph/embeddings.h"
#include "astromorph/knn_index.h"
#include "browser.h"
#include "test_util.h"

enum { N = 30000, DIM = 16, K = 10, CLUSTERS = 20, NPROBE = 3 };

/* Row q's K nearest by cosine, best first, ties to the lower row: as am_knn_all orders them. */
static void brute_force(const float *x, int64_t q, int64_t *best)
{
    double bs[K], nq = 0;
    for (int d = 0; d < DIM; d++) nq += (double)x[q * DIM + d] * x[q * DIM + d];
    for (int j = 0; j < K; j++) bs[j] = -INFINITY, best[j] = -1;
    for (int64_t i = 0; i < N; i++) {
        if (i == q) continue;
        double dot = 0, ni = 0;
        for (int d = 0; d < DIM; d++)
            dot += (double)x[q * DIM + d] * x[i * DIM + d], ni += (double)x[i * DIM + d] * x[i * DIM + d];
        double c = dot / sqrt(nq * ni);
        if (c <= bs[K - 1]) continue; /* a tie keeps the lower row, already in */
        int j = K - 1;
        while (j > 0 && c > bs[j - 1]) bs[j] = bs[j - 1], best[j] = best[j - 1], j--;
        bs[j] = c, best[j] = i;
    }
}

int main(void)
{
    const char *chrome, *node, *cli;
    int rc;
    if (!browser_test_start(&chrome, &node, &cli, &rc)) return rc;
    /* 20 clusters: a centre per cluster, each row its centre plus noise (a fixed LCG: reproducible) */
    uint64_t state = 12345;
    float centre[CLUSTERS][DIM];
    for (int c = 0; c < CLUSTERS; c++)
        for (int d = 0; d < DIM; d++) {
            state = state * 6364136223846793005ULL + 1442695040888963407ULL;
            centre[c][d] = (float)((double)(state >> 11) / 9007199254740992.0 * 4 - 2);
        }
    const char *dir = am_test_tmpdir();
    am_embeddings e;
    CHECK_OK(am_embeddings_alloc(&e, N, DIM));
    for (int64_t i = 0; i < N; i++) {
        for (int d = 0; d < DIM; d++) {
            state = state * 6364136223846793005ULL + 1442695040888963407ULL;
            e.data[i * DIM + d] = centre[i % CLUSTERS][d] + (float)((double)(state >> 11) / 9007199254740992.0 - 0.5);
        }
        snprintf(e.meta[i].object, sizeof e.meta[i].object, "obj_%05lld", (long long)i);
        char path[64];
        snprintf(path, sizeof path, "absent/obj_%05lld.fits", (long long)i);
        e.meta[i].filepath = strdup(path);
    }
    char emb[600];
    snprintf(emb, sizeof emb, "%s/emb.safetensors", dir);
    CHECK_OK(am_embeddings_write(&e, emb));
    /* the expected look-alikes of a few objects, from a search independent of the explorer */
    static const int64_t probes[NPROBE] = {5, 12345, N - 1};
    char expect[8192];
    size_t len = (size_t)snprintf(expect, sizeof expect,
                                  "{\"count\":%d,\"map\":\"t-SNE\",\"loadMs\":20000,\"noThumbNote\":\"0 of %d have "
                                  "one\",\"search\":\"obj_00007\",\"probes\":[",
                                  N, N);
    char first[1024] = "";
    for (int p = 0; p < NPROBE; p++) {
        int64_t best[K];
        brute_force(e.data, probes[p], best);
        char list[1024];
        size_t m = 0;
        for (int j = 0; j < K; j++)
            m += (size_t)snprintf(list + m, sizeof list - m, "%s\"obj_%05lld\"", j ? "," : "", (long long)best[j]);
        if (p == 0) snprintf(first, sizeof first, "%s", list);
        len += (size_t)snprintf(expect + len, sizeof expect - len, "%s{\"query\":\"obj_%05lld\",\"neighbours\":[%s]}",
                                p ? "," : "", (long long)probes[p], list);
    }
    snprintf(expect + len, sizeof expect - len, "],\"query\":\"obj_%05lld\",\"neighbours\":[%s]}", (long long)probes[0],
             first);
    am_embeddings_free(&e);

    char cmd[4096];
    const int indexed = am_index_available();
    if (indexed) {
        snprintf(cmd, sizeof cmd,
                 "cd '%s' && '%s' index --embeddings emb.safetensors --metric cosine --type flat >index.out 2>&1", dir,
                 cli);
        CHECK(system(cmd) == 0, "astromorph index");
    }
    /* 300 iterations (250 exaggerated) keep the test short, the map's kind is what is checked;
     * 2 000 thumbnails offered (a spread sample; none exist): each missing file costs a search */
    snprintf(cmd, sizeof cmd,
             "cd '%s' && '%s' explore --embeddings emb.safetensors -o page --iterations 300 --max-thumbs 2000 "
             ">explore.out 2>&1",
             dir, cli);
    CHECK(system(cmd) == 0, "astromorph explore");
    char out[700];
    snprintf(out, sizeof out, "%s/explore.out", dir);
    char *log = am_test_slurp(out, NULL);
    if (log) fputs(log, stderr);
    CHECK(!indexed || (log && strstr(log, "using the flat index")), "explore did not use the saved cosine index");
    free(log);
    char page[700];
    snprintf(page, sizeof page, "%s/page", dir);
    drive_page(chrome, node, page, "explorer-scale-test", expect);
    return am_test_finish();
}

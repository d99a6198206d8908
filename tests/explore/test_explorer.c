/* The explorer page in a real browser: `astromorph explore` on embeddings of generated FITS
 * images, then Debian's Chromium (headless, driven by tests/explore/drive_explorer.mjs over the
 * DevTools protocol) checks that the page opens from file:// with no network request, shows every
 * object, lists the look-alikes am_knn_all finds, finds an object by name, and downloads a box
 * selection. Skipped (77) without chromium or node: scripts/install-deps --browser installs them. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "astromorph/embeddings.h"
#include "astromorph/fits.h"
#include "astromorph/similarity.h"
#include "browser.h"
#include "test_util.h"

enum { N = 40, DIM = 8, K = 10 };

int main(void)
{
    const char *chrome, *node, *cli;
    int rc;
    if (!browser_test_start(&chrome, &node, &cli, &rc)) return rc;
    const char *dir = am_test_tmpdir();
    /* 40 images in 4 kinds (blob, ring, bar, two blobs), embeddings that group them */
    am_embeddings e;
    CHECK_OK(am_embeddings_alloc(&e, N, DIM));
    int32_t labels[N];
    for (int i = 0; i < N; i++) {
        int kind = i % 4;
        am_tensor t;
        CHECK_OK(am_tensor_alloc2(&t, 32, 32));
        for (int y = 0; y < 32; y++)
            for (int x = 0; x < 32; x++) {
                double r = hypot(x - 16, y - 16),
                       v = kind == 0   ? exp(-r * r / 18)
                           : kind == 1 ? exp(-(r - 9) * (r - 9) / 3)
                           : kind == 2 ? (fabs(y - 16.0) < 2 ? 1 : 0.02)
                                       : exp(-(hypot(x - 10, y - 16) * hypot(x - 10, y - 16)) / 6) +
                                             exp(-(hypot(x - 22, y - 16) * hypot(x - 22, y - 16)) / 6);
                t.data[y * 32 + x] = (float)(v + 0.01 * ((x * 7 + y * 3 + i) % 5));
            }
        char path[600];
        snprintf(path, sizeof path, "%s/obj_%02d.fits", dir, i);
        CHECK_OK(am_fits_write(path, &t, NULL));
        am_tensor_free(&t);
        for (int d = 0; d < DIM; d++) e.data[i * DIM + d] = (float)((d == kind ? 3.0 : 0.0) + 0.3 * sin(1.7 * i + d));
        snprintf(e.meta[i].object, sizeof e.meta[i].object, "obj_%02d", i);
        e.meta[i].filepath = strdup(path);
        e.meta[i].ra_deg = 150 + 0.01 * i, e.meta[i].dec_deg = 2, strcpy(e.meta[i].radec_from, "wcs");
        labels[i] = kind;
    }
    CHECK_OK(am_embeddings_set_labels(&e, labels));
    char emb[600];
    snprintf(emb, sizeof emb, "%s/emb.safetensors", dir);
    CHECK_OK(am_embeddings_write(&e, emb));
    /* the look-alikes the page must list for obj_05, computed here independently of the page */
    int64_t idx[N * K];
    float score[N * K];
    CHECK_OK(am_knn_all(e.data, N, DIM, AM_METRIC_COSINE, K, idx, score));
    char expect[2048];
    size_t n = (size_t)snprintf(expect, sizeof expect,
                                "{\"count\":%d,\"query\":\"obj_05\",\"search\":\"obj_07\",\"neighbours\":[", N);
    for (int j = 0; j < K; j++)
        n += (size_t)snprintf(expect + n, sizeof expect - n, "%s\"obj_%02lld\"", j ? "," : "",
                              (long long)idx[5 * K + j]);
    snprintf(expect + n, sizeof expect - n, "]}");
    am_embeddings_free(&e);

    char cmd[4096];
    snprintf(cmd, sizeof cmd, "cd '%s' && '%s' explore --embeddings emb.safetensors -o page >explore.out 2>&1", dir,
             cli);
    CHECK(system(cmd) == 0, "astromorph explore");
    char page[700];
    snprintf(page, sizeof page, "%s/page", dir);
    drive_page(chrome, node, page, "explorer-test", expect);
    return am_test_finish();
}

/* DBSCAN (Ester et al. 1996) on the positions of above-threshold pixels, as the paper grouped its
 * ALMA maps: a pixel is a core pixel when at least min_samples above-threshold pixels (itself
 * included, as scikit-learn counts) lie within eps of it; a group is everything reachable from a
 * core pixel through core pixels, with the non-core pixels it touches. On a pixel grid the
 * neighbours within eps are a fixed stencil, so no search structure is needed. */
#include <math.h>
#include <stdlib.h>

#include "curate/curate_internal.h"

am_status am_dbscan_pixels(const unsigned char *above, int w, int h, double eps, int min_samples, int *label,
                           int *ngroups)
{
    *ngroups = 0;
    const int r = (int)floor(eps);
    int nst = 0;
    int(*st)[2] = malloc(sizeof(int[2]) * (size_t)((2 * r + 1) * (2 * r + 1)));
    size_t npx = (size_t)w * (size_t)h;
    unsigned char *core = calloc(npx, 1);
    size_t *queue = malloc(npx * sizeof *queue);
    if (!st || !core || !queue) {
        free(st), free(core), free(queue);
        return am_error(AM_ERR_NOMEM, "curate: out of memory grouping %d x %d pixels", w, h);
    }
    for (int dy = -r; dy <= r; dy++)
        for (int dx = -r; dx <= r; dx++)
            if (dx * dx + dy * dy <= eps * eps) st[nst][0] = dx, st[nst][1] = dy, nst++;
    for (size_t p = 0; p < npx; p++) label[p] = -1;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            if (!above[(size_t)y * w + x]) continue;
            int count = 0;
            for (int k = 0; k < nst; k++) {
                int u = x + st[k][0], v = y + st[k][1];
                count += u >= 0 && u < w && v >= 0 && v < h && above[(size_t)v * w + u];
            }
            core[(size_t)y * w + x] = count >= min_samples;
        }
    /* groups in raster order of their first core pixel: the labels do not depend on anything else */
    for (size_t seed = 0; seed < npx; seed++) {
        if (!core[seed] || label[seed] >= 0) continue;
        int g = (*ngroups)++;
        size_t head = 0, tail = 0;
        label[seed] = g;
        queue[tail++] = seed;
        while (head < tail) {
            size_t p = queue[head++];
            if (!core[p]) continue; /* a border pixel joins but does not extend */
            int x = (int)(p % (size_t)w), y = (int)(p / (size_t)w);
            for (int k = 0; k < nst; k++) {
                int u = x + st[k][0], v = y + st[k][1];
                if (u < 0 || u >= w || v < 0 || v >= h) continue;
                size_t q = (size_t)v * w + u;
                if (!above[q] || label[q] >= 0) continue;
                label[q] = g;
                queue[tail++] = q;
            }
        }
    }
    free(st), free(core), free(queue);
    return AM_OK;
}

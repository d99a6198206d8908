/* For the t-SNE tests: how well a 2-D or 3-D map keeps the structure of its input, and whether
 * a run gives the same map at 1 and 2 threads. */
#ifndef AM_TEST_MAP_QUALITY_H
#define AM_TEST_MAP_QUALITY_H

#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "astromorph/similarity.h"
#include "astromorph/tsne.h"

/* Leave-one-out 10-NN majority-vote accuracy of the labels (0..ncl-1, ncl <= 32) in the map y
 * (n × dims); -1 when the search fails. */
static inline double map_knn_accuracy(const float *y, int64_t n, int dims, const int32_t *lab, int ncl)
{
    int64_t *idx = malloc((size_t)n * 10 * sizeof *idx);
    float *sc = malloc((size_t)n * 10 * sizeof *sc);
    double acc = -1;
    if (idx && sc && am_knn_all(y, n, dims, AM_METRIC_EUCLIDEAN, 10, idx, sc) == AM_OK) {
        int64_t good = 0;
        for (int64_t i = 0; i < n; i++) {
            int votes[32] = {0}, best = 0;
            for (int j = 0; j < 10; j++) votes[lab[idx[i * 10 + j]]]++;
            for (int c = 1; c < ncl; c++)
                if (votes[c] > votes[best]) best = c;
            good += best == lab[i];
        }
        acc = (double)good / (double)n;
    }
    free(idx);
    free(sc);
    return acc;
}

/* Mean fraction of each point's 10 nearest input neighbours (x: n × dim) that are among its 10
 * nearest in the map (y: n × dims); -1 when a search fails. */
static inline double map_preservation(const float *x, int64_t dim, const float *y, int64_t n, int dims)
{
    int64_t *ix = malloc((size_t)n * 10 * sizeof *ix), *iy = malloc((size_t)n * 10 * sizeof *iy);
    float *sc = malloc((size_t)n * 10 * sizeof *sc);
    double kept = -1;
    if (ix && iy && sc && am_knn_all(x, n, dim, AM_METRIC_EUCLIDEAN, 10, ix, sc) == AM_OK &&
        am_knn_all(y, n, dims, AM_METRIC_EUCLIDEAN, 10, iy, sc) == AM_OK) {
        int64_t hits = 0;
        for (int64_t i = 0; i < n; i++)
            for (int a = 0; a < 10; a++)
                for (int b = 0; b < 10; b++) hits += ix[i * 10 + a] == iy[i * 10 + b];
        kept = (double)hits / (10.0 * (double)n);
    }
    free(ix);
    free(iy);
    free(sc);
    return kept;
}

/* t-SNE at 2 threads into y and at 1 thread into y2 (n × o->dims each), leaving 2 threads set:
 * 1 when the maps are bit-identical, 0 when they differ, -1 when a run failed (am_errmsg). */
static inline int tsne_thread_invariant(const float *x, int64_t n, int64_t dim, const am_tsne_options *o, float *y,
                                        float *y2)
{
    omp_set_num_threads(2);
    if (am_tsne(x, n, dim, o, y, NULL) != AM_OK) return -1;
    omp_set_num_threads(1);
    am_status s = am_tsne(x, n, dim, o, y2, NULL);
    omp_set_num_threads(2);
    if (s != AM_OK) return -1;
    return memcmp(y, y2, (size_t)n * (size_t)o->dims * sizeof *y) == 0;
}

#endif

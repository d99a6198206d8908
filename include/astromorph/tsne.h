/* Barnes–Hut t-SNE (van der Maaten 2014) in 2 or 3 dimensions.
 *  - input affinities from the 3×perplexity nearest neighbours (exact, or from our inverted
 *    lists above 50 000 points, or a saved index's candidates, re-scored exactly), each point's Gaussian bandwidth found by
 *    bisection to match the perplexity, then symmetrised;
 *  - gradient descent with early exaggeration (12 for the first 250 iterations), momentum 0.5
 *    then 0.8, per-coordinate gains (+0.2 / ×0.8, floor 0.01);
 *  - repulsion by a quadtree/octree with opening angle theta (Barnes–Hut), or in 2-D by
 *    interpolation on an equispaced grid and FFT convolution (Linderman et al. 2019, FIt-SNE's
 *    scheme: 3 nodes per box per axis, boxes at most 1 unit wide, 50 to 256 boxes per axis);
 *  - initial map: the first PCA coordinates scaled to a standard deviation of 1e-4.
 * Every reduction is done in a fixed order, so a seed gives the same map at any thread count. */
#ifndef ASTROMORPH_TSNE_H
#define ASTROMORPH_TSNE_H

#include <stdint.h>

#include "astromorph/knn_index.h"
#include "astromorph/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    AM_TSNE_AUTO = 0, /* FFT in 2-D from AM_TSNE_FFT_MIN_POINTS points (with FFTW), Barnes–Hut otherwise */
    AM_TSNE_BARNES_HUT,
    AM_TSNE_FFT /* 2-D only; fails in a build without FFTW */
} am_tsne_method;

/* Where the FFT repulsion gets faster than Barnes–Hut at theta 0.5 (docs/analysis.md). */
enum { AM_TSNE_FFT_MIN_POINTS = 5000 };

/* Seconds spent in each phase of one am_tsne call (wall clock), for benchmarks. */
typedef struct am_tsne_timing {
    double knn; /* the kNN graph */
    double affinities; /* bandwidths, symmetrisation */
    double init; /* the initial map (and, for FFT, renumbering the points for locality) */
    double attraction; /* all iterations */
    double repulsion; /* all iterations */
    double update; /* gradient steps (and KL logging when verbose) */
} am_tsne_timing;

typedef struct am_tsne_options {
    int dims; /* 2 or 3 (default 2) */
    double perplexity; /* default 30; lowered to (n-1)/3 for tiny inputs */
    int iterations; /* total (default 1000) */
    int exaggeration_iters; /* default 250 */
    double exaggeration; /* default 12 */
    double learning_rate; /* <= 0: automatic, max(n / exaggeration / 4, 50) (default 0) */
    double theta; /* Barnes–Hut opening angle (default 0.5; 0 = exact, O(n²)) */
    int pca_init; /* 1: PCA initialisation (default); 0: seeded Gaussian */
    uint64_t seed; /* default 0 */
    int verbose; /* log KL divergence every 50 iterations at AM_LOG_INFO */
    /* A saved Euclidean index over x (knn_index.h, checked fresh by the caller) for the kNN
     * graph; NULL (default): exact below 50 000 rows, an IVF index built for the run above */
    const am_knn_index *index;
    am_tsne_method method; /* repulsion (default AM_TSNE_AUTO); after the older fields, which keep their places */
    am_tsne_timing *timing; /* filled in when not NULL (default NULL) */
} am_tsne_options;

void am_tsne_options_default(am_tsne_options *o);
/* Parses auto, bh (barnes-hut) or fft; `what` names the setting in the error message. */
am_status am_tsne_method_parse(const char *s, const char *what, am_tsne_method *m);
/* Whether this build has FFTW, which AM_TSNE_FFT needs. */
int am_tsne_have_fft(void);

/* x: n × dim (n >= 4); y: n × dims output. kl (optional): final KL divergence estimate. */
am_status am_tsne(const float *x, int64_t n, int64_t dim, const am_tsne_options *o, float *y, double *kl);

#ifdef __cplusplus
}
#endif
#endif

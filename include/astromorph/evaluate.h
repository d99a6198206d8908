/* How well embeddings group like with like, measured against labels the training never saw:
 * leave-one-out k-nearest-neighbour accuracy and a cross-validated linear probe (multinomial
 * logistic regression), per-class accuracy and a confusion table. Behind `astromorph evaluate`
 * and the quality benchmarks (docs/quality.md gives the protocol).
 *
 * Features are n × d float32 rows with class labels 0..nclass-1. Everything is deterministic
 * and independent of the thread count: distances are accumulated in double precision, ties are
 * broken by row index, folds come from a seeded counter-based stream. */
#ifndef ASTROMORPH_EVALUATE_H
#define ASTROMORPH_EVALUATE_H

#include <stdint.h>

#include "astromorph/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { AM_EVAL_COSINE = 0, AM_EVAL_EUCLIDEAN } am_eval_distance;

typedef enum {
    AM_EVAL_RAW = 0, /* the features as they are */
    AM_EVAL_CENTRED, /* minus the mean row */
    AM_EVAL_WHITENED /* centred, rotated onto the principal axes and each axis divided by
                         sqrt(variance + 0.1 · mean variance): whitening with shrinkage, since
                         with fewer rows than dimensions a full whitening makes every pair of
                         points equidistant */
} am_eval_variant;

const char *am_eval_distance_name(am_eval_distance d); /* "cosine", "euclidean" */
const char *am_eval_variant_name(am_eval_variant v); /* "raw", "centred", "whitened" */

/* out (n × *dout, new, free with free()) = x prepared as variant v. Whitening keeps the
 * min(d, n-1) principal axes. */
am_status am_eval_prepare(const float *x, int64_t n, int64_t d, am_eval_variant v, float **out, int64_t *dout);

/* Leave-one-out k-NN: pred[i] is the majority class among the k rows nearest to row i (row i
 * itself excluded; equal distances go to the lower row index). A tie between classes goes to
 * the one whose member is nearest. 1 <= k < n. */
am_status am_eval_knn(const float *x, int64_t n, int64_t d, const int32_t *label, int nclass, int k,
                      am_eval_distance dist, int32_t *pred);

typedef struct am_probe_options {
    int folds; /* stratified folds (5); fewer when a class has fewer rows */
    double l2; /* weight of ½‖W‖² per row (1e-2), on z-scored features */
    int iterations; /* accelerated gradient steps (500) */
    uint64_t seed; /* fold assignment (42) */
} am_probe_options;

void am_probe_options_default(am_probe_options *o);

/* Cross-validated linear probe: for each fold, features z-scored with the other folds' mean and
 * standard deviation, a multinomial logistic regression fitted to them (L2-regularised, convex,
 * solved by Nesterov-accelerated gradient descent with the step 1/L of its Lipschitz bound), and
 * the held-out rows predicted. pred[i] is row i's prediction from the fold that held it out. */
am_status am_eval_linear_probe(const float *x, int64_t n, int64_t d, const int32_t *label, int nclass,
                               const am_probe_options *o, int32_t *pred);

/* The probe's classifier on rows as they are (no z-scoring): w ((d+1) × nclass, row d the
 * biases) minimises mean cross-entropy + ½·l2·‖W‖² over the n rows (biases not penalised). */
am_status am_eval_probe_fit(const float *x, int64_t n, int64_t d, const int32_t *label, int nclass, double l2,
                            int iterations, double *w);

/* Fraction of rows with pred == label; per_class[c] (may be NULL) the same within class c
 * (NaN for an empty class); confusion (may be NULL) nclass × nclass counts, row = true class. */
double am_eval_accuracy(const int32_t *label, const int32_t *pred, int64_t n, int nclass, double *per_class,
                        int64_t *confusion);

/* Collapse monitors of n embeddings of d values: *spread = sqrt(d) times the mean over
 * dimensions of the standard deviation of the L2-normalised rows (about 1 for rows spread
 * evenly over the sphere, 0 when every row is the same: BYOL's collapse); *erank = the
 * effective rank exp(H(p)), p the covariance's eigenvalues over their sum (Roy & Vetterli 2007),
 * between 1 and min(n - 1, d). n >= 2. */
am_status am_embedding_spread(const float *x, int64_t n, int64_t d, double *spread, double *erank);

/* Pearson's r of columns a (stride sa) and b (stride sb) over the n rows where both are finite
 * (*used, may be NULL, says how many); NaN with fewer than 3 such rows or a constant column. */
double am_pearson(const float *a, int64_t sa, const float *b, int64_t sb, int64_t n, int64_t *used);

/* A table as a heat map (PNG or PDF by extension): rows × cols cells shaded by shade (in [-1, 1];
 * positive blue, negative red, the diagonal green when green_diagonal) with text (may be NULL)
 * written in them, names along both axes. */
am_status am_figure_heatmap(const char *path, const double *shade, const char *const *text, int rows, int cols,
                            const char *const *row_names, const char *const *col_names, const char *row_title,
                            const char *col_title, const char *title, int green_diagonal);

/* A confusion-table figure (PNG or PDF by extension): counts and row fractions as a heat map,
 * class names on both axes, the overall accuracy in the title. */
am_status am_figure_confusion(const char *path, const int64_t *confusion, int nclass, const char *const *names,
                              const char *title);

#ifdef __cplusplus
}
#endif
#endif

/* t-SNE's repulsive forces in 2-D by polynomial interpolation on an equispaced grid and FFT
 * convolution (Linderman et al. 2019, "Fast interpolation-based t-SNE"), internal to
 * src/analysis. The map's bounding square is cut into boxes × boxes boxes with p × p
 * interpolation nodes each; every point spreads its charges (1, y - c) onto its box's nodes
 * with Lagrange weights, the kernels 1/(1+d²) and 1/(1+d²)² are convolved with the node charges
 * by FFTW (double precision, FFTW_ESTIMATE plans, made once per grid size), and the node
 * potentials are interpolated back with the same weights. O(n p² + (boxes p)² log(boxes p)).
 * Every sum has a fixed order (points in index order within a box, one serial transform per
 * grid), so the result is the same at any thread count. */
#ifndef AM_ANALYSIS_TSNE_FFT_H
#define AM_ANALYSIS_TSNE_FFT_H

#include <stdint.h>

#include "astromorph/status.h"

typedef struct tsne_fft {
    /* settings (tsne_fft_init sets openTSNE's defaults) */
    int p; /* interpolation nodes per box per axis (1..8) */
    double box_width; /* a box is at most this wide (map units) unless max_boxes caps it */
    int min_boxes, max_boxes; /* boxes per axis */
    /* last grid made (boxes per axis, 0 = none) and its buffers and plans */
    int boxes;
    double *real[5]; /* real grids of m × m, m = 2 · boxes · p (zero-padded): charges, kernels */
    void *spec[6]; /* their spectra (m × (m/2 + 1) complex) and one product */
    void *fwd, *inv; /* fftw_plan r2c and c2r */
    /* per point (grown as needed) */
    int64_t cap;
    int32_t *box; /* the point's box, row-major */
    double *w; /* the point's 2p Lagrange weights (x axis, then y) */
    int64_t *order; /* points sorted by box, index order within a box */
    int64_t *start; /* boxes² + 1 offsets into order */
    double *zpart; /* the point's Σ_j q_ij, summed in point order for Z */
} tsne_fft;

void tsne_fft_init(tsne_fft *f);
void tsne_fft_free(tsne_fft *f);

/* For each point of y (n × 2): neg[2i..2i+2) = Σ_j q_ij² (y_i - y_j), and *z = Σ_{i≠j} q_ij,
 * q_ij = 1 / (1 + |y_i - y_j|²), as the Barnes–Hut walk gives them (bhtree.h). */
am_status tsne_fft_repulsion(tsne_fft *f, const double *y, int64_t n, double *neg, double *z);

/* Smallest 2^a 3^b 5^c >= b: transform lengths FFTW handles with its fastest codelets. */
int tsne_fft_smooth_up(int b);

#endif

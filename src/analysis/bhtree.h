/* Barnes–Hut space-partitioning tree (quadtree in 2-D, octree in 3-D) for the repulsive forces
 * of t-SNE (internal to src/analysis). */
#ifndef AM_ANALYSIS_BHTREE_H
#define AM_ANALYSIS_BHTREE_H

#include <stdint.h>

#include "astromorph/status.h"

/* 48 bytes, all the force walk reads; cell centres are only needed while building and are
 * tracked on the way down instead of stored. */
typedef struct bh_node {
    double com[3]; /* centre of mass (sums while building) */
    double hw; /* half the cell's side */
    double count; /* points in the cell (exact in a double) */
    int32_t child; /* index of the first of 2^dims contiguous children, -1 for a leaf */
    int32_t point; /* a leaf's point (duplicates share it), -1 when none */
} bh_node;

typedef struct bh_tree {
    int dims;
    bh_node *nodes;
    int32_t count, cap;
} bh_tree;

/* Builds the tree of n points y (n × dims, dims 2 or 3), reusing the tree's memory. The build
 * is serial and depends only on y, so forces computed from it are reproducible. */
am_status am_bh_build(bh_tree *t, const double *y, int64_t n, int dims);
void am_bh_free(bh_tree *t);

/* Repulsion on point i: adds Σ q²(yi - yj) into neg[0..dims) and returns Σ q over j ≠ i, with
 * q = 1 / (1 + |yi - yj|²), cells far enough (side² < theta² · distance²) taken as one. */
double am_bh_repulsion(const bh_tree *t, const double *y, int64_t i, double theta, double *neg);

#endif

/* Barnes–Hut tree: insertion with subdivision, and the far-field repulsion walk. */
#include "bhtree.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { BH_MAX_DEPTH = 48 }; /* deeper cells are below double resolution: keep points together */

void am_bh_free(bh_tree *t)
{
    free(t->nodes);
    memset(t, 0, sizeof *t);
}

static am_status grow(bh_tree *t, int32_t more)
{
    if (t->count + more <= t->cap) return AM_OK;
    int64_t nc = t->cap ? 2 * (int64_t)t->cap : 1024;
    while (nc < t->count + more) nc *= 2;
    if (nc > INT32_MAX) return am_error(AM_ERR_NOMEM, "t-SNE: Barnes-Hut tree too large");
    bh_node *nn = realloc(t->nodes, (size_t)nc * sizeof *nn);
    if (!nn) return am_error(AM_ERR_NOMEM, "t-SNE: out of memory for the Barnes-Hut tree");
    t->nodes = nn;
    t->cap = (int32_t)nc;
    return AM_OK;
}

static void init_node(bh_node *nd, double hw)
{
    memset(nd, 0, sizeof *nd);
    nd->hw = hw;
    nd->child = -1;
    nd->point = -1;
}

static int which_child(const double *c, const double *p, int dims)
{
    int q = 0;
    for (int d = 0; d < dims; d++)
        if (p[d] > c[d]) q |= 1 << d;
    return q;
}

/* Turns leaf ni (centre c) into a parent of 2^dims empty children, moving its points down. */
static am_status split(bh_tree *t, int32_t ni, const double *c, const double *y)
{
    int dims = t->dims, nch = 1 << dims;
    AM_TRY(grow(t, nch));
    bh_node *nd = &t->nodes[ni];
    int32_t first = t->count;
    for (int q = 0; q < nch; q++) init_node(&t->nodes[first + q], nd->hw / 2);
    t->count += nch;
    /* The leaf's points (one position, possibly repeated) move down together. */
    bh_node *ch = &t->nodes[first + which_child(c, y + (int64_t)nd->point * dims, dims)];
    ch->point = nd->point;
    ch->count = nd->count;
    memcpy(ch->com, nd->com, sizeof ch->com);
    nd->point = -1;
    nd->child = first;
    return AM_OK;
}

am_status am_bh_build(bh_tree *t, const double *y, int64_t n, int dims)
{
    t->dims = dims;
    t->count = 0;
    double lo[3] = {DBL_MAX, DBL_MAX, DBL_MAX}, hi[3] = {-DBL_MAX, -DBL_MAX, -DBL_MAX}, c[3] = {0, 0, 0}, hw = 0;
    for (int64_t i = 0; i < n; i++)
        for (int d = 0; d < dims; d++) {
            double v = y[i * dims + d];
            if (!isfinite(v)) return am_error(AM_ERR_NUMERIC, "t-SNE: the map diverged (non-finite coordinate)");
            lo[d] = v < lo[d] ? v : lo[d];
            hi[d] = v > hi[d] ? v : hi[d];
        }
    for (int d = 0; d < dims; d++) {
        c[d] = 0.5 * (lo[d] + hi[d]);
        hw = fmax(hw, 0.5 * (hi[d] - lo[d]));
    }
    hw = hw * (1 + 1e-6) + 1e-12;
    AM_TRY(grow(t, 1));
    init_node(&t->nodes[0], hw);
    t->count = 1;
    for (int64_t i = 0; i < n; i++) {
        const double *p = y + i * dims;
        int32_t ni = 0;
        double cc[3] = {c[0], c[1], c[2]}; /* centre of the cell being visited */
        for (int depth = 0;; depth++) {
            bh_node *nd = &t->nodes[ni];
            if (nd->child < 0) {
                if (nd->count == 0) {
                    nd->point = (int32_t)i;
                    nd->count = 1;
                    for (int d = 0; d < dims; d++) nd->com[d] = p[d];
                    break;
                }
                const double *q = y + (int64_t)nd->point * dims;
                int same = 1;
                for (int d = 0; d < dims; d++) same &= q[d] == p[d];
                if (same || depth >= BH_MAX_DEPTH) {
                    nd->count++;
                    for (int d = 0; d < dims; d++) nd->com[d] += p[d];
                    break;
                }
                AM_TRY(split(t, ni, cc, y));
                nd = &t->nodes[ni]; /* split may move the node array */
            }
            nd->count++;
            for (int d = 0; d < dims; d++) nd->com[d] += p[d];
            int q = which_child(cc, p, dims);
            double h = nd->hw / 2;
            for (int d = 0; d < dims; d++) cc[d] += (q >> d) & 1 ? h : -h;
            ni = nd->child + q;
        }
    }
    for (int32_t k = 0; k < t->count; k++) {
        bh_node *nd = &t->nodes[k];
        if (nd->count > 0)
            for (int d = 0; d < dims; d++) nd->com[d] /= nd->count;
    }
    return AM_OK;
}

double am_bh_repulsion(const bh_tree *t, const double *y, int64_t i, double theta, double *neg)
{
    int dims = t->dims, nch = 1 << dims;
    const double *p = y + i * dims;
    double sq = 0, th2 = theta * theta;
    int32_t stack[BH_MAX_DEPTH * 8 + 16];
    int top = 0;
    stack[top++] = 0;
    while (top > 0) {
        const bh_node *nd = &t->nodes[stack[--top]];
        if (nd->count == 0) continue;
        double diff[3] = {0, 0, 0}, d2 = 0;
        for (int d = 0; d < dims; d++) {
            diff[d] = p[d] - nd->com[d];
            d2 += diff[d] * diff[d];
        }
        if (nd->child < 0 || 4 * nd->hw * nd->hw < th2 * d2) {
            double cnt = nd->count;
            if (nd->child < 0 && d2 == 0) cnt -= 1; /* the leaf holding point i (and its duplicates) */
            double q = 1.0 / (1.0 + d2);
            sq += cnt * q;
            for (int d = 0; d < dims; d++) neg[d] += cnt * q * q * diff[d];
        } else {
            for (int c = nch - 1; c >= 0; c--)
                if (t->nodes[nd->child + c].count > 0) stack[top++] = nd->child + c;
        }
    }
    return sq;
}

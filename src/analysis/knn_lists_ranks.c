/* Our inverted-list k-NN graph (knn_lists.c) over MPI ranks, each holding a share of the rows.
 * One process finds, for every row, the best candidates by the sgemm's approximate distance
 * among the rows of the lists it probes, then re-scores them exactly. Here every rank builds
 * the same centres (k-means on the same seeded sample, gathered from the shares), lists its
 * own rows, and the shares' lists go round the ring: each rank scans its own rows' probed lists
 * in the visiting share, keeping for every row the best candidates by the same approximate
 * distance and ties (so the union over shares holds what one process keeps), each with its exact
 * badness computed while its row is at hand. nprobe is tuned on the same seeded queries as one
 * process tunes it, their candidates merged over the ranks. Rows left with under k (a tie that
 * may go on past the candidates) and sets whose recall needs over half the lists are searched
 * exactly over the ranks (am_knn_ranks_rows). No rank holds more than two shares' lists. */
#include <stdlib.h>
#include <string.h>

#include "astromorph/kmeans.h"
#include "astromorph/tensor.h"
#include "dist/dist_internal.h"
#include "distance.h"
#include "knn.h"
#include "knn_lists_internal.h"
#include "search_internal.h"

/* A candidate: the approximate badness and row that rank it (as the scan's heap does), and its
 * exact badness. */
typedef struct {
    double approx, exact;
    int64_t row;
} cand;

static int cand_worse(const cand *a, const cand *b)
{
    return a->approx > b->approx || (a->approx == b->approx && a->row > b->row);
}

AM_BOUNDED_HEAP_PUSH(cand_push, cand, cand_worse)

/* As am_knn_rescore finishes: the candidates by exact badness (ties to the lower row), the best
 * k into idx/bad; how many, 0 where the k-th ties with the last candidate. */
static int finish(const cand *h, int size, int k, am_cand *tmp, int64_t *idx, double *bad)
{
    for (int j = 0; j < size; j++) tmp[j] = (am_cand){h[j].exact, h[j].row};
    qsort(tmp, (size_t)size, sizeof *tmp, am_cand_cmp);
    const int m = size < k ? size : k;
    const int count = m == k && size > k && tmp[k - 1].bad == tmp[size - 1].bad ? 0 : m;
    for (int j = 0; j < count; j++) idx[j] = tmp[j].index, bad[j] = tmp[j].bad;
    return count;
}

/* A share's lists as they travel: list starts (nlist + 1), the global row of each listed row,
 * then the rows themselves (x, not unit rows), sorted by list. */
static int64_t pack_bytes(int64_t rows, int64_t nlist, int64_t dim)
{
    return (nlist + 1) * 8 + rows * 8 + rows * dim * (int64_t)sizeof(float);
}

static void pack(const kl_lists *L, const float *x, int64_t row0, uint8_t *buf)
{
    int64_t *start = (int64_t *)buf, *grow = start + L->nlist + 1;
    float *xo = (float *)(grow + L->n);
    memcpy(start, L->start, (size_t)(L->nlist + 1) * sizeof *start);
    for (int64_t p = 0; p < L->n; p++) {
        grow[p] = row0 + L->xrow[p];
        memcpy(xo + p * L->dim, x + L->xrow[p] * L->dim, (size_t)L->dim * sizeof *xo);
    }
}

/* The visiting share as kl_scan_unit reads lists: views into buf, the searched rows (unit rows for
 * cosine) and their norms made here, as the owner's lists made them; xo the rows themselves and
 * pos the place of each global row first.. in them. */
typedef struct {
    kl_lists V;
    const float *xo;
    float *own_xs;
    int64_t *pos, first;
} visit;

static void visit_free(visit *v)
{
    am_free(v->own_xs), am_free(v->V.xn);
    free(v->pos);
    memset(v, 0, sizeof *v);
}

static am_status visit_open(visit *v, const kl_lists *C, uint8_t *buf, int64_t rows, int64_t first, am_metric metric)
{
    memset(v, 0, sizeof *v);
    const int64_t dim = C->dim, nl = C->nlist;
    v->V = (kl_lists){.n = rows, .dim = dim, .nlist = nl, .cent = C->cent, .cn = C->cn};
    v->V.start = (int64_t *)buf, v->V.xrow = v->V.start + nl + 1;
    v->xo = (const float *)(v->V.xrow + rows);
    v->first = first;
    const int64_t r1 = rows ? rows : 1;
    if (metric == AM_METRIC_COSINE) v->own_xs = am_unit_rows(v->xo, rows, dim);
    v->V.xs = metric == AM_METRIC_COSINE ? v->own_xs : (float *)v->xo;
    v->V.xn = am_malloc((size_t)r1 * sizeof *v->V.xn);
    v->pos = malloc((size_t)r1 * sizeof *v->pos);
    if ((rows && !v->V.xs) || !v->V.xn || !v->pos) {
        visit_free(v);
        return am_error(AM_ERR_NOMEM, "k nearest neighbours: out of memory for a share of %lld rows", (long long)rows);
    }
    am_sqnorms(v->V.xs, rows, dim, v->V.xn);
    for (int64_t p = 0; p < rows; p++) v->pos[v->V.xrow[p] - first] = p;
    return AM_OK;
}

/* Queries p0 .. p0 + nu − 1 (vectors qv, norms qvn, global rows self, rows themselves qx[i] and
 * probes probe) scanned against the visiting share, their candidates pushed into best/bsize. */
static void scan_into(const visit *v, const float *qv, const float *qvn, const int64_t *self, const float *const *qx,
                      int nu, const int32_t *probe, int np, int cap, am_metric metric, kl_scratch *s, cand *best,
                      int *bsize)
{
    kl_scan_unit(&v->V, qv, qvn, self, nu, probe, np, cap, s);
    const int64_t dim = v->V.dim;
    for (int i = 0; i < nu; i++) {
        cand *h = best + (int64_t)i * cap;
        for (int j = 0; j < s->size[i]; j++) {
            const am_cand c = s->heap[(int64_t)i * cap + j];
            cand e = {c.bad, 0, c.index};
            /* most lose to the kept ones: no exact score for those */
            if (bsize[i] == cap && !cand_worse(&h[0], &e)) continue;
            e.exact = am_exact_bad(v->xo + v->pos[c.index - v->first] * dim, qx[i], dim, metric);
            cand_push(h, &bsize[i], cap, e);
        }
    }
}

/* The seeded rows of every share (global rows pick[0 .. m), ascending), gathered in order at
 * every rank into out (m × dim) from src (this share's rows, x or unit rows). */
static am_status gather_picked(const float *src, int64_t n, int64_t row0, int64_t dim, const int64_t *pick, int64_t m,
                               const int64_t *count, const int64_t *first, float *out)
{
    const int size = am_dist_size();
    int64_t *bytes = calloc((size_t)size, sizeof *bytes), lo = 0, hi = 0;
    float *mine = NULL;
    am_status s = bytes ? AM_OK : am_error(AM_ERR_NOMEM, "k nearest neighbours: out of memory");
    for (int64_t i = 0, r = 0; s == AM_OK && i < m; i++) {
        while (pick[i] >= first[r] + count[r]) r++;
        bytes[r] += dim * (int64_t)sizeof(float);
    }
    while (lo < m && pick[lo] < row0) lo++;
    for (hi = lo; hi < m && pick[hi] < row0 + n;) hi++;
    if (s == AM_OK && !(mine = am_malloc((size_t)(hi > lo ? hi - lo : 1) * (size_t)dim * sizeof *mine)))
        s = am_error(AM_ERR_NOMEM, "k nearest neighbours: out of memory");
    for (int64_t i = lo; s == AM_OK && i < hi; i++)
        memcpy(mine + (i - lo) * dim, src + (pick[i] - row0) * dim, (size_t)dim * sizeof *mine);
    s = am_dist_agree(s);
    if (s == AM_OK) s = am_dist_gatherv(mine, (hi - lo) * dim * (int64_t)sizeof *mine, out, bytes, 0);
    if (s == AM_OK) s = am_dist_bcast(out, m * dim * (int64_t)sizeof *out, 0);
    free(bytes);
    am_free(mine);
    return s;
}

/* The recall check's queries: their rows and vectors, every rank's best candidates merged. */
typedef struct {
    int64_t nq, *rows;
    float *xq, *qv, *qvn;
    double *kth; /* each query's exact k-th badness over every row, itself left out */
} recall_set;

static void recall_free(recall_set *r)
{
    free(r->rows), free(r->kth);
    am_free(r->xq), am_free(r->qv), am_free(r->qvn);
}

static am_status recall_prepare(const float *x, const float *w, int64_t n, int64_t row0, int64_t total, int64_t dim,
                                am_metric metric, int k, const int64_t *count, const int64_t *first, recall_set *r)
{
    memset(r, 0, sizeof *r);
    const int size = am_dist_size();
    const int64_t nq = total < KL_RECALL_QUERIES ? total : KL_RECALL_QUERIES, k1 = k + 1;
    r->nq = nq;
    int64_t *all = malloc((size_t)total * sizeof *all);
    r->rows = malloc((size_t)nq * sizeof *r->rows), r->kth = malloc((size_t)nq * sizeof *r->kth);
    r->xq = am_malloc((size_t)nq * (size_t)dim * sizeof *r->xq),
    r->qv = am_malloc((size_t)nq * (size_t)dim * sizeof *r->qv);
    r->qvn = am_malloc((size_t)nq * sizeof *r->qvn);
    /* per query k + 1 (badness, row) pairs and a count, from each rank */
    const int64_t w1 = nq * (2 * k1 + 1);
    double *mine = malloc((size_t)w1 * sizeof *mine), *every = malloc((size_t)w1 * (size_t)size * sizeof *every);
    int64_t *ex = malloc((size_t)nq * (size_t)k1 * sizeof *ex);
    double *exb = malloc((size_t)nq * (size_t)k1 * sizeof *exb);
    int *exc = calloc((size_t)nq, sizeof *exc);
    am_status s = all && r->rows && r->kth && r->xq && r->qv && r->qvn && mine && every && ex && exb && exc
                      ? AM_OK
                      : am_error(AM_ERR_NOMEM, "k nearest neighbours: out of memory for the recall check");
    s = am_dist_agree(s);
    if (s == AM_OK) {
        am_silhouette_sample(total, nq, 1, all);
        memcpy(r->rows, all, (size_t)nq * sizeof *r->rows);
        s = gather_picked(x, n, row0, dim, r->rows, nq, count, first, r->xq);
    }
    if (s == AM_OK) s = gather_picked(w, n, row0, dim, r->rows, nq, count, first, r->qv);
    if (s == AM_OK) {
        am_sqnorms(r->qv, nq, dim, r->qvn);
        /* numbered from −nq, the queries keep themselves among the k + 1, dropped below */
        s = am_knn_block(r->xq, nq, -nq, x, n, row0, dim, metric, (int)k1, ex, exb, exc);
    }
    s = am_dist_agree(s);
    for (int64_t i = 0; s == AM_OK && i < nq; i++) {
        double *m = mine + i * (2 * k1 + 1);
        m[0] = exc[i];
        for (int j = 0; j < exc[i]; j++) m[1 + 2 * j] = exb[i * k1 + j], m[2 + 2 * j] = (double)ex[i * k1 + j];
    }
    if (s == AM_OK) s = am_dist_allgather(mine, w1 * (int64_t)sizeof *mine, every);
    /* each query's k + 1 best over all shares, merged as one process's search orders them */
    am_cand *h = s == AM_OK ? malloc((size_t)size * (size_t)k1 * sizeof *h) : NULL;
    if (s == AM_OK && !h) s = am_error(AM_ERR_NOMEM, "k nearest neighbours: out of memory for the recall check");
    for (int64_t i = 0; s == AM_OK && i < nq; i++) {
        int got = 0;
        for (int q = 0; q < size; q++) {
            const double *m = every + (int64_t)q * w1 + i * (2 * k1 + 1);
            for (int j = 0; j < (int)m[0]; j++) h[got++] = (am_cand){m[1 + 2 * j], (int64_t)m[2 + 2 * j]};
        }
        qsort(h, (size_t)got, sizeof *h, am_cand_cmp);
        r->kth[i] = 0;
        for (int j = 0, kept = 0; j < got && kept < k; j++)
            if (h[j].index != r->rows[i]) r->kth[i] = h[j].bad, kept++;
    }
    free(h), free(all), free(mine), free(every), free(ex), free(exb), free(exc);
    if (s != AM_OK) recall_free(r);
    return s;
}

/* The check's recall with np lists probed: each query scanned against this share's lists, the
 * candidates of every share merged (the best cap by approximate badness, as one process keeps
 * them), then scored as knn_lists.c scores its check. The same value on every rank. */
static am_status recall_at(const visit *own, const kl_lists *C, am_metric metric, int k, int cap, int np,
                           const recall_set *r, double *recall)
{
    const int size = am_dist_size();
    const int64_t nq = r->nq, w1 = nq * (1 + 3 * (int64_t)cap);
    int32_t *probe = malloc((size_t)nq * (size_t)np * sizeof *probe);
    cand *best = malloc((size_t)nq * (size_t)cap * sizeof *best);
    int *bsize = calloc((size_t)nq, sizeof *bsize);
    double *mine = malloc((size_t)w1 * sizeof *mine), *every = malloc((size_t)w1 * (size_t)size * sizeof *every);
    cand *merged = malloc((size_t)cap * sizeof *merged);
    am_cand *tmp = malloc((size_t)cap * sizeof *tmp);
    int64_t *idx = malloc((size_t)k * sizeof *idx);
    double *bad = malloc((size_t)k * sizeof *bad);
    kl_scratch sc;
    const int have_scratch = kl_scratch_alloc(&sc, C, np, cap, k);
    am_status s = probe && best && bsize && mine && every && merged && tmp && idx && bad && have_scratch
                      ? AM_OK
                      : am_error(AM_ERR_NOMEM, "k nearest neighbours: out of memory for the recall check");
    s = am_dist_agree(s);
    if (s == AM_OK) s = kl_nearest_lists(C, r->qv, nq, np, probe);
    for (int64_t i = 0; s == AM_OK && i < nq; i++) {
        const float *qx = r->xq + i * C->dim;
        scan_into(own, r->qv + i * C->dim, r->qvn + i, r->rows + i, &qx, 1, probe + i * np, np, cap, metric, &sc,
                  best + i * cap, bsize + i);
        double *m = mine + i * (1 + 3 * (int64_t)cap);
        m[0] = bsize[i];
        for (int j = 0; j < bsize[i]; j++) {
            const cand *c = &best[i * cap + j];
            m[1 + 3 * j] = c->approx, m[2 + 3 * j] = c->exact, m[3 + 3 * j] = (double)c->row;
        }
    }
    s = am_dist_agree(s);
    if (s == AM_OK) s = am_dist_allgather(mine, w1 * (int64_t)sizeof *mine, every);
    int64_t hits = 0;
    for (int64_t i = 0; s == AM_OK && i < nq; i++) {
        int msize = 0;
        for (int q = 0; q < size; q++) {
            const double *m = every + (int64_t)q * w1 + i * (1 + 3 * (int64_t)cap);
            for (int j = 0; j < (int)m[0]; j++)
                cand_push(merged, &msize, cap, (cand){m[1 + 3 * j], m[2 + 3 * j], (int64_t)m[3 + 3 * j]});
        }
        const int count = finish(merged, msize, k, tmp, idx, bad);
        if (count < k) hits += k;
        for (int j = 0; count == k && j < k; j++) hits += bad[j] <= r->kth[i];
    }
    *recall = nq ? (double)hits / ((double)nq * k) : 1;
    if (have_scratch) kl_scratch_free(&sc);
    free(probe), free(best), free(bsize), free(mine), free(every), free(merged), free(tmp), free(idx), free(bad);
    return s;
}

/* Every own row's candidates from every share (the ring), then its best k; rows left with under
 * k are listed in *left (local rows) for the exact search. cur (room for the largest share's
 * lists, freed here) holds this share's, opened as own. */
static am_status search_ring(const kl_lists *L, const visit *own, uint8_t *cur, int64_t most, const float *x,
                             int64_t row0, const int64_t *count, const int64_t *first, am_metric metric, int k, int cap,
                             int np, int64_t *idx, float *score, int64_t *left, int64_t *nleft)
{
    const int size = am_dist_size(), rank = am_dist_rank();
    const int64_t n = L->n, dim = L->dim, nl = L->nlist;
    int64_t nunits = 0;
    const int64_t n1 = n ? n : 1;
    int64_t *ufirst = kl_units(L, &nunits), *self = malloc((size_t)n1 * sizeof *self);
    int32_t *probe = malloc((size_t)n1 * (size_t)np * sizeof *probe);
    const float **qx = malloc((size_t)n1 * sizeof *qx);
    cand *best = malloc((size_t)n1 * (size_t)cap * sizeof *best);
    int *bsize = calloc((size_t)n1, sizeof *bsize);
    uint8_t *next = am_malloc((size_t)pack_bytes(most, nl, dim));
    am_status s = ufirst && self && probe && qx && best && bsize && next
                      ? AM_OK
                      : am_error(AM_ERR_NOMEM, "k nearest neighbours: out of memory for %lld rows", (long long)n);
    s = am_dist_agree(s);
    if (s == AM_OK) {
        for (int64_t p = 0; p < n; p++) self[p] = row0 + L->xrow[p], qx[p] = x + L->xrow[p] * dim;
        s = kl_nearest_lists(L, L->xs, n, np, probe);
    }
    s = am_dist_agree(s);
    /* round t holds the lists of rank − t's share; they move on to rank + 1 while the next arrive */
    for (int t = 0; s == AM_OK && t < size; t++) {
        const int owner = (rank - t + size) % size;
        visit v = {0};
        if (t > 0) s = visit_open(&v, L, cur, count[owner], first[owner], metric);
        const visit *at = t > 0 ? &v : own;
        int failed = 0;
        if (s == AM_OK) {
#pragma omp parallel reduction(| : failed)
            {
                kl_scratch sc;
                const int ok = kl_scratch_alloc(&sc, L, np, cap, k);
                failed |= !ok;
#pragma omp for schedule(dynamic, 1)
                for (int64_t u = 0; u < nunits; u++) {
                    if (!ok) continue;
                    const int64_t p0 = ufirst[u];
                    scan_into(at, L->xs + p0 * dim, L->xn + p0, self + p0, qx + p0, (int)(ufirst[u + 1] - p0),
                              probe + p0 * np, np, cap, metric, &sc, best + p0 * cap, bsize + p0);
                }
                if (ok) kl_scratch_free(&sc);
            }
            visit_free(&v);
            if (failed) s = am_error(AM_ERR_NOMEM, "k nearest neighbours: out of memory for the list search");
        }
        s = am_dist_agree(s);
        if (s != AM_OK || t == size - 1) break;
        const int from = (owner - 1 + size) % size;
        s = am_dist_ring_shift(cur, pack_bytes(count[owner], nl, dim), next, pack_bytes(count[from], nl, dim));
        uint8_t *tmp = cur;
        cur = next, next = tmp;
    }
    am_free(cur), am_free(next);
    cur = next = NULL;
    *nleft = 0;
    am_cand *tmp = s == AM_OK ? malloc((size_t)cap * sizeof *tmp) : NULL;
    double *bad = s == AM_OK ? malloc((size_t)k * sizeof *bad) : NULL;
    if (s == AM_OK && (!tmp || !bad)) s = am_error(AM_ERR_NOMEM, "k nearest neighbours: out of memory");
    for (int64_t p = 0; s == AM_OK && p < n; p++) {
        const int64_t i = L->xrow[p];
        if (finish(best + p * cap, bsize[p], k, tmp, idx + i * k, bad) < k) {
            left[(*nleft)++] = i;
            continue;
        }
        for (int j = 0; j < k; j++) score[i * k + j] = am_bad_to_score(bad[j], metric);
    }
    free(tmp), free(bad), free(ufirst), free(self), free(probe), free(qx), free(best), free(bsize);
    return s;
}

am_status am_knn_lists_ranks(const float *x, int64_t n, int64_t row0, int64_t dim, am_metric metric, int k,
                             const am_knn_options *o, int64_t *idx, float *score)
{
    const int size = am_dist_size();
    int64_t *count = NULL, *first = NULL;
    AM_TRY(am_search_shares(n, row0, &count, &first));
    int64_t total = 0, fewest = n, most = 0;
    for (int r = 0; r < size; r++)
        total += count[r], fewest = count[r] < fewest ? count[r] : fewest, most = count[r] > most ? count[r] : most;
    const int64_t nlist = o && o->nlist ? o->nlist : kl_default_nlist(total);
    am_status s = AM_OK;
    if (k < 1 || total <= k)
        s = am_error(AM_ERR_VALUE, "k nearest neighbours: need n > k >= 1 (n = %lld, k = %d)", (long long)total, k);
    else if (nlist > total)
        s = am_error(AM_ERR_VALUE, "k nearest neighbours: nlist %lld is more than the %lld rows", (long long)nlist,
                     (long long)total);
    else if (total > INT32_MAX) s = am_error(AM_ERR_VALUE, "k nearest neighbours: too many rows");
    /* a rank without rows has no lists to scan or lend: the exact search handles it */
    if (s != AM_OK || fewest == 0) {
        free(count), free(first);
        return s != AM_OK ? s : am_knn_ranks(x, n, row0, dim, metric, k, idx, score);
    }
    const int cap = kl_cap(k, total);
    float *unit = metric == AM_METRIC_COSINE ? am_unit_rows(x, n, dim) : NULL;
    if (metric == AM_METRIC_COSINE && !unit) s = am_error(AM_ERR_NOMEM, "k nearest neighbours: out of memory");
    const float *w = unit ? unit : x;
    /* the centres one process makes: k-means, on rank 0, on the same seeded sample */
    const int64_t m = total < KL_SAMPLE_PER_LIST * nlist ? total : KL_SAMPLE_PER_LIST * nlist;
    int64_t *pick = malloc((size_t)total * sizeof *pick);
    float *sample = am_malloc((size_t)m * (size_t)dim * sizeof *sample), *cent = NULL;
    if (s == AM_OK && (!pick || !sample)) s = am_error(AM_ERR_NOMEM, "k nearest neighbours: out of memory");
    s = am_dist_agree(s);
    if (s == AM_OK) {
        am_silhouette_sample(total, m, 0, pick);
        s = gather_picked(w, n, row0, dim, pick, m, count, first, sample);
    }
    free(pick);
    if (s == AM_OK && am_dist_rank() == 0) s = kl_centres_of(sample, m, dim, nlist, &cent);
    else if (s == AM_OK && !(cent = am_malloc((size_t)nlist * (size_t)dim * sizeof *cent)))
        s = am_error(AM_ERR_NOMEM, "k nearest neighbours: out of memory for %lld centres", (long long)nlist);
    am_free(sample);
    s = am_dist_agree(s);
    if (s == AM_OK) s = am_dist_bcast(cent, nlist * dim * (int64_t)sizeof *cent, 0);
    kl_lists L;
    memset(&L, 0, sizeof L);
    if (s == AM_OK) s = kl_lists_build(w, n, dim, nlist, cent, &L);
    am_free(cent);
    s = am_dist_agree(s);
    /* nprobe as one process picks it: raised until the check's recall reaches KL_RECALL */
    const int64_t fixed = o ? o->nprobe : 0;
    int np = kl_first_nprobe(fixed, nlist);
    recall_set r;
    memset(&r, 0, sizeof r);
    int prepared = 0;
    if (s == AM_OK) prepared = (s = recall_prepare(x, w, n, row0, total, dim, metric, k, count, first, &r)) == AM_OK;
    /* this share's lists, packed once: scanned for the check, then the ring's first round */
    uint8_t *own = prepared ? am_malloc((size_t)pack_bytes(most, nlist, dim)) : NULL;
    if (prepared && !own) s = am_error(AM_ERR_NOMEM, "k nearest neighbours: out of memory");
    s = am_dist_agree(s);
    visit ov;
    memset(&ov, 0, sizeof ov);
    if (s == AM_OK) {
        pack(&L, x, row0, own);
        s = visit_open(&ov, &L, own, n, row0, metric);
    }
    s = am_dist_agree(s);
    double recall = -1;
    while (s == AM_OK) {
        s = recall_at(&ov, &L, metric, k, cap, np, &r, &recall);
        if (s != AM_OK || fixed || recall >= KL_RECALL || np == nlist) break;
        np = kl_next_nprobe(np, nlist);
    }
    if (prepared) recall_free(&r);
    const int exact = s == AM_OK && kl_exact_cheaper(fixed, np, nlist);
    int64_t *left = s == AM_OK && !exact ? malloc((size_t)n * sizeof *left) : NULL, nleft = 0;
    if (s == AM_OK && !exact && !left) s = am_error(AM_ERR_NOMEM, "k nearest neighbours: out of memory");
    s = am_dist_agree(s);
    if (s == AM_OK && !exact) {
        s = search_ring(&L, &ov, own, most, x, row0, count, first, metric, k, cap, np, idx, score, left, &nleft);
        own = NULL; /* the ring's now, and freed there */
    }
    visit_free(&ov);
    am_free(own);
    kl_lists_free(&L);
    am_free(unit);
    s = am_dist_agree(s);
    if (s == AM_OK && exact) s = am_knn_ranks(x, n, row0, dim, metric, k, idx, score);
    /* rows left to the exact search: rare, but every rank takes part while any has some */
    if (s == AM_OK && !exact && am_dist_any(nleft > 0)) {
        int64_t *li = malloc((size_t)(nleft ? nleft : 1) * (size_t)k * sizeof *li);
        float *ls = malloc((size_t)(nleft ? nleft : 1) * (size_t)k * sizeof *ls);
        s = am_dist_agree(li && ls ? AM_OK : am_error(AM_ERR_NOMEM, "k nearest neighbours: out of memory"));
        if (s == AM_OK) s = am_knn_ranks_rows(x, n, row0, dim, metric, k, left, nleft, li, ls);
        for (int64_t j = 0; s == AM_OK && j < nleft; j++) {
            memcpy(idx + left[j] * k, li + j * k, (size_t)k * sizeof *idx);
            memcpy(score + left[j] * k, ls + j * k, (size_t)k * sizeof *score);
        }
        free(li), free(ls);
    }
    free(left), free(count), free(first);
    return s;
}

/* The k-NN graph of every row through our own inverted lists (knn.h, AM_KNN_LISTS): coarse
 * centres by k-means on a sample, every row in the list of its nearest centre, every row
 * searching the nprobe lists nearest it. The rows of one list are searched as one unit, and
 * within a unit each probed list is one sgemm of the unit's queries that probe it (of all the
 * unit's rows when most of them do) against the list's rows (the distance as |q|² + |x|² −
 * 2 q·x), the nearest lists first, each query keeping its best candidates in a
 * bounded heap; the candidates are then re-scored exactly (am_knn_rescore). nprobe is raised
 * until the recall on a seeded sample of queries, against the exact search, reaches
 * KL_RECALL. Units, sgemm shapes and heaps depend on the data alone, never on the threads.
 * The centres may instead be a saved IVF index's (knn.c): its lists, our scan. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "astromorph/kmeans.h"
#include "astromorph/runtime.h"
#include "astromorph/tensor.h"
#include "distance.h"
#include "knn.h"
#include "knn_lists_internal.h"
#include "search_internal.h"

void kl_lists_free(kl_lists *L)
{
    am_free(L->cent), am_free(L->cn), am_free(L->xs), am_free(L->xn);
    free(L->xrow), free(L->start);
}

/* The np nearest centres of each of the nq rows q (ties to the lower centre), nearest first. */
am_status kl_nearest_lists(const kl_lists *L, const float *q, int64_t nq, int np, int32_t *out)
{
    const int64_t nl = L->nlist, dim = L->dim;
    float *qn = am_malloc(KL_QBLK * sizeof *qn), *d = am_malloc((size_t)KL_QBLK * (size_t)nl * sizeof *d);
    am_cand *heaps = malloc((size_t)KL_QBLK * (size_t)np * sizeof *heaps);
    if (!qn || !d || !heaps) {
        am_free(qn), am_free(d), free(heaps);
        return am_error(AM_ERR_NOMEM, "k nearest neighbours: out of memory for %lld lists", (long long)nl);
    }
    for (int64_t b0 = 0; b0 < nq; b0 += KL_QBLK) {
        const int64_t nb = nq - b0 < KL_QBLK ? nq - b0 : KL_QBLK;
        am_sqnorms(q + b0 * dim, nb, dim, qn);
        am_sqdist_block(q + b0 * dim, nb, qn, L->cent, nl, L->cn, dim, d, nl);
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < nb; i++) {
            am_cand *h = heaps + i * np;
            int size = 0;
            for (int64_t c = 0; c < nl; c++) am_cand_push(h, &size, np, (am_cand){d[i * nl + c], c});
            qsort(h, (size_t)size, sizeof *h, am_cand_cmp);
            for (int j = 0; j < np; j++) out[(b0 + i) * np + j] = (int32_t)h[j].index;
        }
    }
    am_free(qn), am_free(d), free(heaps);
    return AM_OK;
}

am_status kl_centres_of(const float *sample, int64_t m, int64_t dim, int64_t nlist, float **cent)
{
    am_kmeans_options ko;
    am_kmeans_options_default(&ko);
    ko.k = (int)nlist, ko.restarts = 1, ko.max_iter = KL_KM_ITERS;
    am_kmeans_result km;
    AM_TRY(am_kmeans(sample, m, dim, &ko, &km));
    *cent = km.centroids, km.centroids = NULL;
    am_kmeans_result_free(&km);
    return AM_OK;
}

/* Centres from k-means on a seeded sample of w's rows (into *cent, am_malloc'd). */
am_status kl_sample_centres(const float *w, int64_t n, int64_t dim, int64_t nlist, float **cent)
{
    const int64_t m = n < KL_SAMPLE_PER_LIST * nlist ? n : KL_SAMPLE_PER_LIST * nlist;
    int64_t *pick = malloc((size_t)n * sizeof *pick); /* the draw needs room for all n */
    float *sample = am_malloc((size_t)m * (size_t)dim * sizeof *sample);
    am_status s = pick && sample ? AM_OK
                                 : am_error(AM_ERR_NOMEM, "k nearest neighbours: out of memory for lists of %lld rows",
                                            (long long)n);
    if (s == AM_OK) {
        am_silhouette_sample(n, m, 0, pick);
        for (int64_t i = 0; i < m; i++) memcpy(sample + i * dim, w + pick[i] * dim, (size_t)dim * sizeof *w);
        s = kl_centres_of(sample, m, dim, nlist, cent);
    }
    free(pick);
    am_free(sample);
    return s;
}

/* Every row of w in the list of its nearest centre: the centres given (nlist × dim, as a saved
 * index's), or k-means ones when NULL. */
am_status kl_lists_build(const float *w, int64_t n, int64_t dim, int64_t nlist, const float *centres, kl_lists *L)
{
    memset(L, 0, sizeof *L);
    L->n = n, L->dim = dim, L->nlist = nlist;
    int64_t *pick = malloc((size_t)n * sizeof *pick);
    int32_t *own = malloc((size_t)n * sizeof *own);
    L->cn = am_malloc((size_t)nlist * sizeof *L->cn);
    L->xs = am_malloc((size_t)n * (size_t)dim * sizeof *L->xs);
    L->xn = am_malloc((size_t)n * sizeof *L->xn);
    L->xrow = malloc((size_t)n * sizeof *L->xrow);
    L->start = calloc((size_t)nlist + 1, sizeof *L->start);
    am_status s =
        pick && own && L->cn && L->xs && L->xn && L->xrow && L->start
            ? AM_OK
            : am_error(AM_ERR_NOMEM, "k nearest neighbours: out of memory for lists of %lld rows", (long long)n);
    if (s == AM_OK && centres) {
        L->cent = am_malloc((size_t)nlist * (size_t)dim * sizeof *L->cent);
        if (L->cent) memcpy(L->cent, centres, (size_t)nlist * (size_t)dim * sizeof *L->cent);
        else s = am_error(AM_ERR_NOMEM, "k nearest neighbours: out of memory for %lld centres", (long long)nlist);
    } else if (s == AM_OK) s = kl_sample_centres(w, n, dim, nlist, &L->cent);
    if (s == AM_OK) {
        am_sqnorms(L->cent, nlist, dim, L->cn);
        s = kl_nearest_lists(L, w, n, 1, own);
    }
    if (s == AM_OK) {
        /* counting sort by list, rows ascending within a list */
        for (int64_t i = 0; i < n; i++) L->start[own[i] + 1]++;
        for (int64_t c = 0; c < nlist; c++) L->start[c + 1] += L->start[c];
        memcpy(pick, L->start, (size_t)nlist * sizeof *pick); /* nlist <= n */
        for (int64_t i = 0; i < n; i++) L->xrow[pick[own[i]]++] = i;
#pragma omp parallel for schedule(static)
        for (int64_t p = 0; p < n; p++) memcpy(L->xs + p * dim, w + L->xrow[p] * dim, (size_t)dim * sizeof *w);
        am_sqnorms(L->xs, n, dim, L->xn);
    }
    free(pick), free(own);
    if (s != AM_OK) kl_lists_free(L);
    return s;
}

void kl_scratch_free(kl_scratch *s)
{
    am_free(s->q), am_free(s->qn), am_free(s->d);
    free(s->heap), free(s->size), free(s->count), free(s->slot), free(s->touched), free(s->first), free(s->member);
    free(s->labels), free(s->idx), free(s->bad);
}

int kl_scratch_alloc(kl_scratch *s, const kl_lists *L, int np, int cap, int k)
{
    const size_t g = KL_GROUP, pairs = g * (size_t)np;
    memset(s, 0, sizeof *s);
    s->q = am_malloc(g * (size_t)L->dim * sizeof *s->q), s->qn = am_malloc(g * sizeof *s->qn);
    s->d = am_malloc(g * KL_XBLK * sizeof *s->d);
    s->heap = malloc(g * (size_t)cap * sizeof *s->heap);
    s->size = malloc(g * sizeof *s->size), s->count = malloc(g * sizeof *s->count);
    s->slot = malloc((size_t)L->nlist * sizeof *s->slot);
    s->touched = malloc(pairs * sizeof *s->touched), s->first = malloc((pairs + 1) * sizeof *s->first);
    s->member = malloc(pairs * sizeof *s->member);
    s->labels = malloc(g * (size_t)cap * sizeof *s->labels), s->idx = malloc(g * (size_t)k * sizeof *s->idx);
    s->bad = malloc(g * (size_t)k * sizeof *s->bad);
    if (!s->q || !s->qn || !s->d || !s->heap || !s->size || !s->count || !s->slot || !s->touched || !s->first ||
        !s->member || !s->labels || !s->idx || !s->bad) {
        kl_scratch_free(s);
        return 0;
    }
    for (int64_t c = 0; c < L->nlist; c++) s->slot[c] = -1;
    return 1;
}

/* The best cap candidates (rows of x, −1 for none) of nu queries qv (norms qvn; rows self of x,
 * never their own candidates), query i searching the lists probe[i·np ..]: into s->labels. */
void kl_scan_unit(const kl_lists *L, const float *qv, const float *qvn, const int64_t *self, int nu,
                  const int32_t *probe, int np, int cap, kl_scratch *s)
{
    const int64_t dim = L->dim;
    int nt = 0;
    /* the lists nearest the queries first, so that the heaps soon hold good candidates and turn
     * most rows away at one compare: by the best rank any query gives a list, then by list */
    for (int j = 0; j < np; j++)
        for (int i = 0; i < nu; i++) {
            const int32_t c = probe[i * np + j];
            if (s->slot[c] < 0) s->slot[c] = 0, s->touched[nt++] = c;
        }
    for (int t = 0; t <= nt; t++) s->first[t] = 0;
    for (int t = 0; t < nt; t++) s->slot[s->touched[t]] = t;
    for (int i = 0; i < nu * np; i++) s->first[s->slot[probe[i]] + 1]++;
    for (int t = 0; t < nt; t++) s->first[t + 1] += s->first[t];
    for (int i = 0; i < nu * np; i++) s->member[s->first[s->slot[probe[i]]]++] = i / np; /* ascending */
    for (int t = nt; t > 0; t--) s->first[t] = s->first[t - 1];
    s->first[0] = 0;
    for (int i = 0; i < nu; i++) s->size[i] = 0;
    for (int t = 0; t < nt; t++) {
        const int64_t c = s->touched[t], m = s->first[t + 1] - s->first[t];
        const int32_t *mem = s->member + s->first[t];
        /* the unit's rows that probe c: gathered when few, else all of them in one larger
         * sgemm (small sgemm shapes run at a fraction of the speed), the others' distances unused */
        const int gather = 3 * m < nu;
        for (int64_t a = 0; gather && a < m; a++) {
            memcpy(s->q + a * dim, qv + mem[a] * dim, (size_t)dim * sizeof *qv);
            s->qn[a] = qvn[mem[a]];
        }
        for (int64_t b0 = L->start[c]; b0 < L->start[c + 1]; b0 += KL_XBLK) {
            const int64_t nb = L->start[c + 1] - b0 < KL_XBLK ? L->start[c + 1] - b0 : KL_XBLK;
            /* −2 q·x by sgemm; the norms are added only where a query probes the list */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)(gather ? m : nu), (int)nb, (int)dim, -2.0f,
                        gather ? s->q : qv, (int)dim, L->xs + b0 * dim, (int)dim, 0.0f, s->d, (int)nb);
            for (int64_t a = 0; a < m; a++) {
                am_cand *h = s->heap + (int64_t)mem[a] * cap;
                int *size = s->size + mem[a];
                const float *da = s->d + (gather ? a : mem[a]) * nb, *xn = L->xn + b0;
                const float qn = gather ? s->qn[a] : qvn[mem[a]];
                const int64_t me = self[mem[a]];
                for (int64_t j = 0; j < nb; j++) {
                    const float bad = qn + xn[j] + da[j];
                    /* most rows lose to the heap's worst: one compare before the push */
                    if (*size == cap && bad > h[0].bad) continue;
                    const int64_t r = L->xrow[b0 + j];
                    if (r != me) am_cand_push(h, size, cap, (am_cand){bad, r});
                }
            }
        }
        s->slot[c] = -1;
    }
    for (int i = 0; i < nu; i++)
        for (int j = 0; j < cap; j++)
            s->labels[(int64_t)i * cap + j] = j < s->size[i] ? s->heap[i * cap + j].index : -1;
}

/* The queries at positions ufirst[u] .. ufirst[u + 1] − 1 (at most KL_GROUP) form unit u; query p
 * is row qrow[p] of x, its searched vector qv[p·dim ..] (norm qvn[p]), its lists probe[p·np ..].
 * Its re-scored best go to output row opos[p] (p when opos is NULL): idx/score (and bad when not
 * NULL) [·k ..], count (under k: left to the exact search). */
static am_status run_units(const kl_lists *L, const float *x, am_metric metric, int k, int cap, int np, int64_t nunits,
                           const int64_t *ufirst, const float *qv, const float *qvn, const int64_t *qrow,
                           const int32_t *probe, const int64_t *opos, int64_t *idx, float *score, double *bad,
                           int *count)
{
    int failed = 0;
#pragma omp parallel reduction(| : failed)
    {
        kl_scratch s;
        const int ok = kl_scratch_alloc(&s, L, np, cap, k);
        failed |= !ok;
#pragma omp for schedule(dynamic, 1)
        for (int64_t u = 0; u < nunits; u++) {
            if (!ok) continue;
            const int64_t p0 = ufirst[u];
            const int nu = (int)(ufirst[u + 1] - p0);
            kl_scan_unit(L, qv + p0 * L->dim, qvn + p0, qrow + p0, nu, probe + p0 * np, np, cap, &s);
            /* a single-threaded region inside this one: its buffers come from malloc */
            if (am_knn_rescore(x, L->dim, 0, qrow + p0, nu, metric, k, s.labels, cap, s.idx, s.bad, s.count) != AM_OK) {
                failed = 1;
                continue;
            }
            for (int i = 0; i < nu; i++) {
                const int64_t o = opos ? opos[p0 + i] : p0 + i;
                count[o] = s.count[i];
                for (int j = 0; j < s.count[i]; j++) {
                    idx[o * k + j] = s.idx[i * k + j];
                    score[o * k + j] = am_bad_to_score(s.bad[i * k + j], metric);
                    if (bad) bad[o * k + j] = s.bad[i * k + j];
                }
            }
        }
        if (ok) kl_scratch_free(&s);
    }
    return failed ? am_error(AM_ERR_NOMEM, "k nearest neighbours: out of memory for the list search") : AM_OK;
}

/* 2·√n lists (measured: docs/analysis.md), at most n / 16 so that lists keep some rows. */
int64_t kl_default_nlist(int64_t n)
{
    int64_t nl = llround(2 * sqrt((double)n)), most = n / 16;
    nl = nl > most ? most : nl;
    return nl < 1 ? 1 : nl;
}

int64_t *kl_units(const kl_lists *L, int64_t *nunits)
{
    *nunits = 0;
    for (int64_t c = 0; c < L->nlist; c++) *nunits += (L->start[c + 1] - L->start[c] + KL_GROUP - 1) / KL_GROUP;
    int64_t *ufirst = malloc((size_t)(*nunits + 1) * sizeof *ufirst), u = 0;
    for (int64_t c = 0; ufirst && c < L->nlist; c++)
        for (int64_t p = L->start[c]; p < L->start[c + 1]; p += KL_GROUP) ufirst[u++] = p;
    if (ufirst) ufirst[*nunits] = L->n;
    return ufirst;
}

int kl_cap(int k, int64_t n) { return (int64_t)k + KL_MARGIN < n - 1 ? k + KL_MARGIN : (int)(n - 1); }

int kl_first_nprobe(int64_t fixed, int64_t nlist)
{
    return (int)(fixed ? (fixed < nlist ? fixed : nlist) : (KL_NPROBE_START < nlist ? KL_NPROBE_START : nlist));
}

/* √2 at a time: doubling overshoots by up to twice the work */
int kl_next_nprobe(int np, int64_t nlist)
{
    const int64_t next = (int64_t)ceil(np * M_SQRT2);
    return (int)(next < nlist ? next : nlist);
}

/* probing over half the lists costs more than the exact search, whose sgemm is one large block
 * and whose result is the exact one */
int kl_exact_cheaper(int64_t fixed, int np, int64_t nlist) { return !fixed && 2 * (int64_t)np > nlist && nlist > 1; }

/* Recall of KL_RECALL_QUERIES seeded rows against the exact search, with np lists probed: the
 * share of each one's k found whose exact badness is within its true k-th's (so a tie counts as
 * found), a row the search leaves to the exact search counting as k. */
typedef struct {
    int64_t nq, *rows, *ridx, *ufirst;
    float *qv, *qvn, *rscore;
    double *kth, *rbad;
    int *rcount;
} recall_set;

static void recall_free(recall_set *r)
{
    free(r->rows), free(r->ridx), free(r->ufirst), free(r->kth), free(r->rbad), free(r->rcount), free(r->rscore);
    am_free(r->qv), am_free(r->qvn);
}

static am_status recall_prepare(const float *x, const float *w, int64_t n, int64_t dim, am_metric metric, int k,
                                recall_set *r)
{
    memset(r, 0, sizeof *r);
    const int64_t nq = n < KL_RECALL_QUERIES ? n : KL_RECALL_QUERIES;
    r->nq = nq;
    int64_t *all = malloc((size_t)n * sizeof *all), *ex = malloc((size_t)nq * (k + 1) * sizeof *ex);
    double *exb = malloc((size_t)nq * (k + 1) * sizeof *exb);
    int *exc = calloc((size_t)nq, sizeof *exc);
    float *xq = am_malloc((size_t)nq * (size_t)dim * sizeof *xq);
    r->rows = malloc((size_t)nq * sizeof *r->rows), r->ufirst = malloc((size_t)(nq + 1) * sizeof *r->ufirst);
    r->ridx = malloc((size_t)nq * k * sizeof *r->ridx), r->rscore = malloc((size_t)nq * k * sizeof *r->rscore);
    r->kth = malloc((size_t)nq * sizeof *r->kth), r->rbad = malloc((size_t)nq * k * sizeof *r->rbad);
    r->rcount = malloc((size_t)nq * sizeof *r->rcount);
    r->qv = am_malloc((size_t)nq * (size_t)dim * sizeof *r->qv), r->qvn = am_malloc((size_t)nq * sizeof *r->qvn);
    am_status s = all && ex && exb && exc && xq && r->rows && r->ufirst && r->ridx && r->rscore && r->kth && r->rbad &&
                          r->rcount && r->qv && r->qvn
                      ? AM_OK
                      : am_error(AM_ERR_NOMEM, "k nearest neighbours: out of memory for the recall check");
    if (s == AM_OK) {
        am_silhouette_sample(n, nq, 1, all);
        for (int64_t i = 0; i < nq; i++) {
            r->rows[i] = all[i], r->ufirst[i] = i;
            memcpy(xq + i * dim, x + all[i] * dim, (size_t)dim * sizeof *x);
            memcpy(r->qv + i * dim, w + all[i] * dim, (size_t)dim * sizeof *w);
        }
        r->ufirst[nq] = nq;
        am_sqnorms(r->qv, nq, dim, r->qvn);
        /* numbered from −nq, the queries keep themselves among the k + 1 and are dropped here */
        s = am_knn_block(xq, nq, -nq, x, n, 0, dim, metric, k + 1, ex, exb, exc);
    }
    for (int64_t i = 0; s == AM_OK && i < nq; i++)
        for (int j = 0, m = 0; j <= k && m < k; j++)
            if (ex[i * (k + 1) + j] != r->rows[i]) r->kth[i] = exb[i * (k + 1) + j], m++;
    free(all), free(ex), free(exb), free(exc);
    am_free(xq);
    if (s != AM_OK) recall_free(r);
    return s;
}

static am_status recall_at(const kl_lists *L, const float *x, am_metric metric, int k, int cap, int np, recall_set *r,
                           double *recall)
{
    int32_t *probe = malloc((size_t)r->nq * (size_t)np * sizeof *probe);
    if (!probe) return am_error(AM_ERR_NOMEM, "k nearest neighbours: out of memory for the recall check");
    am_status s = kl_nearest_lists(L, r->qv, r->nq, np, probe);
    if (s == AM_OK)
        s = run_units(L, x, metric, k, cap, np, r->nq, r->ufirst, r->qv, r->qvn, r->rows, probe, NULL, r->ridx,
                      r->rscore, r->rbad, r->rcount);
    int64_t hits = 0;
    for (int64_t i = 0; s == AM_OK && i < r->nq; i++) {
        if (r->rcount[i] < k) hits += k;
        for (int j = 0; r->rcount[i] == k && j < k; j++) hits += r->rbad[i * k + j] <= r->kth[i];
    }
    *recall = (double)hits / ((double)r->nq * k);
    free(probe);
    return s;
}

enum { BATCH = 65536 }; /* rows whose lists are found at once: bounds the probe table */

/* Every row's search, a batch of whole units at a time; rows left with under k go to the exact search. */
static am_status search_all(const kl_lists *L, const float *x, am_metric metric, int k, int cap, int np, int64_t *idx,
                            float *score)
{
    const int64_t n = L->n, dim = L->dim;
    int64_t nunits = 0;
    int64_t *ufirst = kl_units(L, &nunits), *rel = malloc((size_t)(nunits + 1) * sizeof *rel);
    int32_t *probe = malloc((size_t)BATCH * (size_t)np * sizeof *probe);
    int *count = malloc((size_t)n * sizeof *count);
    double *bad = malloc((size_t)k * sizeof *bad);
    am_status s = ufirst && rel && probe && count && bad
                      ? AM_OK
                      : am_error(AM_ERR_NOMEM, "k nearest neighbours: out of memory for %lld rows", (long long)n);
    for (int64_t u0 = 0, u1; s == AM_OK && u0 < nunits; u0 = u1) {
        const int64_t p0 = ufirst[u0];
        for (u1 = u0 + 1; u1 < nunits && ufirst[u1 + 1] - p0 <= BATCH;) u1++;
        for (int64_t v = u0; v <= u1; v++) rel[v - u0] = ufirst[v] - p0;
        s = kl_nearest_lists(L, L->xs + p0 * dim, ufirst[u1] - p0, np, probe);
        if (s == AM_OK)
            s = run_units(L, x, metric, k, cap, np, u1 - u0, rel, L->xs + p0 * dim, L->xn + p0, L->xrow + p0, probe,
                          L->xrow + p0, idx, score, NULL, count);
    }
    for (int64_t i = 0; s == AM_OK && i < n; i++) {
        if (count[i] == k) continue;
        /* too few candidates, or a tie that may go on past them: rare, so a row at a time */
        int found = 0;
        s = am_knn_block(x + i * dim, 1, i, x, n, 0, dim, metric, k, idx + i * k, bad, &found);
        for (int j = 0; s == AM_OK && j < k; j++) score[i * k + j] = am_bad_to_score(bad[j], metric);
    }
    free(ufirst), free(rel), free(probe), free(count), free(bad);
    return s;
}

am_status am_knn_lists(const float *x, int64_t n, int64_t dim, am_metric metric, int k, const am_knn_options *o,
                       int64_t *idx, float *score)
{
    const int64_t nlist = o->nlist ? o->nlist : kl_default_nlist(n);
    if (nlist > n)
        return am_error(AM_ERR_VALUE, "k nearest neighbours: nlist %lld is more than the %lld rows", (long long)nlist,
                        (long long)n);
    if (n > INT32_MAX || nlist > INT32_MAX) return am_error(AM_ERR_VALUE, "k nearest neighbours: too many rows");
    /* cosine ranks unit rows as Euclidean distance does; the re-score uses x itself */
    float *unit = metric == AM_METRIC_COSINE ? am_unit_rows(x, n, dim) : NULL;
    if (metric == AM_METRIC_COSINE && !unit)
        return am_error(AM_ERR_NOMEM, "k nearest neighbours: out of memory for %lld rows", (long long)n);
    const float *w = unit ? unit : x;
    const int cap = kl_cap(k, n);
    kl_lists L;
    recall_set r;
    double recall = -1;
    int64_t nq = 0;
    int exact = 0;
    int np = kl_first_nprobe(o->nprobe, nlist);
    double t0 = am_monotonic_seconds(), t1 = t0, t2 = t0;
    am_status s = kl_lists_build(w, n, dim, nlist, o->centres, &L);
    if (s == AM_OK) {
        t1 = am_monotonic_seconds();
        s = recall_prepare(x, w, n, dim, metric, k, &r);
        const int prepared = s == AM_OK;
        /* nprobe raised until the sample's recall reaches KL_RECALL (or every list is probed) */
        while (s == AM_OK) {
            s = recall_at(&L, x, metric, k, cap, np, &r, &recall);
            if (s != AM_OK || o->nprobe || recall >= KL_RECALL || np == nlist) break;
            np = kl_next_nprobe(np, nlist);
        }
        if (prepared) nq = r.nq, recall_free(&r);
        t2 = am_monotonic_seconds();
        exact = s == AM_OK && kl_exact_cheaper(o->nprobe, np, nlist);
        if (s == AM_OK && !exact) s = search_all(&L, x, metric, k, cap, np, idx, score);
        kl_lists_free(&L);
    }
    am_free(unit);
    if (s == AM_OK && exact) s = am_knn_all(x, n, dim, metric, k, idx, score);
    if (s == AM_OK && o->report) {
        o->report->method = exact ? AM_KNN_EXACT : AM_KNN_LISTS;
        o->report->nlist = nlist, o->report->nprobe = np;
        o->report->recall = recall, o->report->recall_queries = nq;
        o->report->lists_s = t1 - t0, o->report->tune_s = t2 - t1, o->report->search_s = am_monotonic_seconds() - t2;
    }
    return s;
}

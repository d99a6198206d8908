/* k-means: k-means++ seeding (greedy, 2 + ln k candidates per step), Lloyd iterations with
 * distances from BLAS, seeded restarts; and the silhouette score. */
#include "astromorph/kmeans.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "astromorph/rng.h"
#include "astromorph/tensor.h"
#include "dist/dist_internal.h"
#include "distance.h"

enum { KM_BLOCK = 2048 }; /* rows per distance block: bounds the scratch to KM_BLOCK × k floats */
enum { KM_TRIALS = 8 }; /* most k-means++ candidates per step (2 + ln k, capped) */
enum { KM_CHUNK = 64 }; /* rows summed in float before joining a centroid's double sum */
enum { KM_SLICE = 128 }; /* features per thread task when summing */

void am_kmeans_options_default(am_kmeans_options *o)
{
    o->k = 10;
    o->restarts = 10;
    o->max_iter = 300;
    o->tol = 1e-4;
    o->seed = 0;
    o->algorithm = AM_KMEANS_AUTO;
    o->batch = 4096;
    o->passes = 20;
}

void am_kmeans_result_free(am_kmeans_result *r)
{
    if (!r) return;
    free(r->labels);
    am_free(r->centroids);
    free(r->sizes);
    memset(r, 0, sizeof *r);
}

typedef struct {
    const float *x, *xn;
    int64_t n, dim;
    int k;
    /* Over MPI ranks (am_kmeans_ranks): x holds global rows row0 .. row0 + n − 1 of ntot; every
     * sum over rows is carried through the ranks in row order (am_dist_ordered_f64), so it is
     * one process's sum. One process: row0 = 0, ntot = n, ranks = 0. */
    int ranks;
    int64_t row0, ntot;
    int64_t *first; /* ranks + 1: each rank's first global row */
    /* over ranks, accumulate() logs each chunk's float sums instead of adding them: chunk c's
     * touched clusters log_c[c·T ..], their count log_n[c], their sums log_p[(c·T + t)·dim ..] */
    float *log_p;
    int32_t *log_c, *log_n;
    am_status err; /* the first failure of a collective step */
    int trials; /* seeding: the trial centres whose potentials are summed */
    const double *means; /* the columns' means, for their variances */
    float *c, *cn; /* k × dim centroids and their squared norms */
    float *scratch; /* KM_BLOCK × k */
    double *mind; /* n: squared distance to the nearest chosen centre (seeding) */
    int32_t *lab;
    double *sum; /* k × dim */
    float *part; /* k × dim: float sums over a chunk of rows */
    int64_t *cnt;
    int64_t *stamp; /* feature slices × k: chunk in which a cluster's float sum was last reset */
    float *cand, *candn; /* seeding: trial centres (KM_TRIALS × dim) and their squared norms */
    float *cd; /* seeding: n × KM_TRIALS squared distances to the trial centres */
} km_work;

/* Adds the rows [b0, b0 + nb) into their clusters' sums. Threads split the features into
 * fixed slices and each slice goes through the rows in order, so the sums do not depend on the
 * thread count. Rows are summed in float over chunks of KM_CHUNK (4 lanes per SSE add, no
 * conversions) and each touched cluster's chunk sum then goes into its double total. */
static void accumulate(km_work *w, int64_t b0, int64_t nb)
{
    int64_t dim = w->dim, nslices = (dim + KM_SLICE - 1) / KM_SLICE;
#pragma omp parallel for schedule(static)
    for (int64_t sl = 0; sl < nslices; sl++) {
        int64_t d0 = sl * KM_SLICE, d1 = d0 + KM_SLICE < dim ? d0 + KM_SLICE : dim;
        int64_t *stamp = w->stamp + sl * w->k;
        int touched[KM_CHUNK];
        for (int64_t q0 = 0; q0 < nb; q0 += KM_CHUNK) {
            int64_t q1 = q0 + KM_CHUNK < nb ? q0 + KM_CHUNK : nb;
            int nt = 0;
            for (int64_t q = q0; q < q1; q++) {
                int c = w->lab[b0 + q];
                float *part = w->part + (int64_t)c * dim;
                if (stamp[c] != b0 + q0) { /* first row of cluster c in this chunk */
                    stamp[c] = b0 + q0;
                    touched[nt++] = c;
                    for (int64_t d = d0; d < d1; d++) part[d] = 0;
                }
                const float *r = w->x + (b0 + q) * dim;
                for (int64_t d = d0; d < d1; d++) part[d] += r[d];
            }
            if (w->log_p) { /* the sums wait for the running totals of the ranks before */
                int64_t chunk = (b0 + q0) / KM_CHUNK, T = w->k < KM_CHUNK ? w->k : KM_CHUNK;
                if (sl == 0) w->log_n[chunk] = nt;
                for (int t = 0; t < nt; t++) {
                    if (sl == 0) w->log_c[chunk * T + t] = touched[t];
                    memcpy(w->log_p + (chunk * T + t) * dim + d0, w->part + (int64_t)touched[t] * dim + d0,
                           (size_t)(d1 - d0) * sizeof(float));
                }
                continue;
            }
            for (int t = 0; t < nt; t++) {
                double *sum = w->sum + (int64_t)touched[t] * dim;
                const float *part = w->part + (int64_t)touched[t] * dim;
                for (int64_t d = d0; d < d1; d++) sum[d] += part[d];
            }
        }
    }
}

/* ---- sums over every row, in row order, on one process or carried through the ranks ---- */

/* acc (m doubles) += this process's terms, in row order, by add; over ranks the running sum
 * goes rank to rank (am_dist_ordered_f64). A failure is kept in w->err. */
static void ordered(km_work *w, double *acc, int64_t m, void (*add)(void *w, double *acc))
{
    if (!w->ranks) {
        add(w, acc);
        return;
    }
    am_status s = am_dist_ordered_f64(acc, m, add, w);
    if (s != AM_OK && w->err == AM_OK) w->err = s;
}

/* Integer counts summed over ranks (exact in any order). */
static void count_over_ranks(km_work *w, int64_t *v, int m)
{
    if (!w->ranks) return;
    const int size = am_dist_size();
    int64_t *all = calloc((size_t)size * (size_t)m, sizeof *all);
    am_status s =
        all ? am_dist_allgather(v, m * (int64_t)sizeof *v, all) : am_error(AM_ERR_NOMEM, "k-means: out of memory");
    for (int j = 0; s == AM_OK && j < m; j++) {
        v[j] = 0;
        for (int r = 0; r < size; r++) v[j] += all[(int64_t)r * m + j];
    }
    free(all);
    if (s != AM_OK && w->err == AM_OK) w->err = s;
}

/* The rank holding global row g. */
static int owner_of(const km_work *w, int64_t g)
{
    int r = 0;
    while (w->ranks && r + 1 < am_dist_size() && w->first[r + 1] <= g) r++;
    return r;
}

/* Global row g's values into dst, from the rank that holds it. */
static void row_values(km_work *w, int64_t g, float *dst)
{
    int from = owner_of(w, g);
    if (!w->ranks || from == am_dist_rank()) memcpy(dst, w->x + (g - w->row0) * w->dim, (size_t)w->dim * sizeof(float));
    if (!w->ranks) return;
    am_status s = am_dist_bcast(dst, w->dim * (int64_t)sizeof(float), from);
    if (s != AM_OK && w->err == AM_OK) w->err = s;
}

/* The logged chunk sums of this rank, in chunk order, into the centroids' double sums. */
static void replay_chunks(void *user, double *sum)
{
    km_work *w = user;
    const int64_t dim = w->dim, T = w->k < KM_CHUNK ? w->k : KM_CHUNK;
    for (int64_t c = 0; c < (w->n + KM_CHUNK - 1) / KM_CHUNK; c++)
        for (int t = 0; t < w->log_n[c]; t++) {
            double *dst = sum + (int64_t)w->log_c[c * T + t] * dim;
            const float *part = w->log_p + (c * T + t) * dim;
            for (int64_t d = 0; d < dim; d++) dst[d] += part[d];
        }
}

/* Nearest centroid of every row (ties keep the current cluster, so a relocated centre keeps
 * its point). With sums, also adds each row into its new cluster's sum and count, in the same
 * pass while the block is in cache: one Lloyd iteration reads the data once. */
static void assign(km_work *w, int64_t *changed, int sums)
{
    int64_t ch = 0;
    if (sums) {
        memset(w->sum, 0, (size_t)w->k * (size_t)w->dim * sizeof *w->sum);
        memset(w->cnt, 0, (size_t)w->k * sizeof *w->cnt);
        for (int64_t i = 0; i < ((w->dim + KM_SLICE - 1) / KM_SLICE) * w->k; i++) w->stamp[i] = -1;
    }
    for (int64_t b0 = 0; b0 < w->n; b0 += KM_BLOCK) {
        int64_t nb = w->n - b0 < KM_BLOCK ? w->n - b0 : KM_BLOCK;
        am_sqdist_block(w->x + b0 * w->dim, nb, w->xn + b0, w->c, w->k, w->cn, w->dim, w->scratch, w->k);
        for (int64_t i = 0; i < nb; i++) {
            const float *d = w->scratch + i * w->k;
            int cur = w->lab[b0 + i], best = cur >= 0 ? cur : 0;
            for (int j = 0; j < w->k; j++)
                if (d[j] < d[best]) best = j;
            if (cur != best) ch++;
            w->lab[b0 + i] = best;
            if (sums) w->cnt[best]++;
        }
        if (sums) accumulate(w, b0, nb);
    }
    if (sums && w->ranks) {
        ordered(w, w->sum, (int64_t)w->k * w->dim, replay_chunks);
        count_over_ranks(w, w->cnt, w->k);
    }
    if (changed) {
        count_over_ranks(w, &ch, 1);
        *changed = ch;
    }
}

/* The row farthest from its centroid among clusters of more than one row (the first such row
 * when several are as far; row 0 when none): over ranks, each rank's candidate, the farthest and
 * then the lowest row winning. */
static int64_t farthest_row(km_work *w)
{
    int64_t far = 0;
    double fd = -1;
    for (int64_t i = 0; i < w->n; i++) {
        double dd = am_sqdist_exact(w->x + i * w->dim, w->c + (int64_t)w->lab[i] * w->dim, w->dim);
        if (dd > fd && w->cnt[w->lab[i]] > 1) {
            fd = dd;
            far = w->row0 + i;
        }
    }
    if (!w->ranks) return far;
    /* every rank's farthest: (distance, row), the row exact in double */
    const int size = am_dist_size();
    double *v = calloc((size_t)size * 2, sizeof *v);
    am_status s = v ? am_dist_allgather((double[2]){fd, (double)far}, 2 * sizeof(double), v)
                    : am_error(AM_ERR_NOMEM, "k-means: out of memory");
    double best = -1;
    far = 0;
    for (int r = 0; s == AM_OK && r < size; r++)
        if (v[2 * r] > best) best = v[2 * r], far = (int64_t)v[2 * r + 1];
    free(v);
    if (s != AM_OK && w->err == AM_OK) w->err = s;
    return far;
}

/* New centroids from the sums of the last assign(); an empty cluster first takes the row
 * farthest from its centroid. Returns the squared shift of the centroids. */
static double update(km_work *w)
{
    int64_t dim = w->dim;
    for (int j = 0; j < w->k; j++) {
        if (w->cnt[j] > 0) continue;
        int64_t far = farthest_row(w);
        int mine = !w->ranks || owner_of(w, far) == am_dist_rank();
        /* the row's values and its cluster, from its rank */
        float *xf = w->cand; /* free between seedings */
        row_values(w, far, xf);
        int64_t old = mine ? w->lab[far - w->row0] : 0;
        if (w->ranks) {
            am_status s = am_dist_bcast(&old, sizeof old, owner_of(w, far));
            if (s != AM_OK && w->err == AM_OK) w->err = s;
        }
        for (int64_t d = 0; d < dim; d++) {
            w->sum[old * dim + d] -= xf[d];
            w->sum[(int64_t)j * dim + d] = xf[d];
        }
        w->cnt[old]--;
        w->cnt[j] = 1;
        if (mine) w->lab[far - w->row0] = j;
    }
    double shift = 0;
    for (int j = 0; j < w->k; j++) {
        float *c = w->c + (int64_t)j * dim;
        for (int64_t d = 0; d < dim; d++) {
            float v = (float)(w->sum[(int64_t)j * dim + d] / (double)w->cnt[j]);
            double t = (double)v - c[d];
            shift += t * t;
            c[d] = v;
        }
    }
    am_sqnorms(w->c, w->k, dim, w->cn);
    return shift;
}

/* ---- seeding ---- */

/* The walk of sample_d2 through this rank's rows: acc[0] the running sum, acc[1] the chosen
 * global row + 1 (0: not yet), acc[2] the last row with a positive distance, acc[3] the target. */
static void walk_d2(void *user, double *acc)
{
    km_work *w = user;
    for (int64_t i = 0; i < w->n && acc[1] == 0; i++) {
        if (w->mind[i] <= 0) continue;
        acc[0] += w->mind[i];
        acc[2] = (double)(w->row0 + i);
        if (acc[0] > acc[3]) acc[1] = (double)(w->row0 + i) + 1;
    }
}

/* Samples a row with probability proportional to mind. */
static int64_t sample_d2(km_work *w, double total, am_rng *r)
{
    double acc[4] = {0, 0, 0, am_rng_uniform(r) * total};
    ordered(w, acc, 4, walk_d2);
    return acc[1] > 0 ? (int64_t)acc[1] - 1 : (int64_t)acc[2];
}

/* Squared distances (float, from BLAS) of every row to the m trial centres in w->cand. */
static void trial_distances(km_work *w, int m)
{
    am_sqnorms(w->cand, m, w->dim, w->candn);
    for (int64_t b0 = 0; b0 < w->n; b0 += KM_BLOCK) {
        int64_t nb = w->n - b0 < KM_BLOCK ? w->n - b0 : KM_BLOCK;
        am_sqdist_block(w->x + b0 * w->dim, nb, w->xn + b0, w->cand, m, w->candn, w->dim, w->cd + b0 * KM_TRIALS,
                        KM_TRIALS);
    }
}

static void first_distances(void *user, double *pot)
{
    km_work *w = user;
    for (int64_t i = 0; i < w->n; i++) {
        w->mind[i] = w->cd[i * KM_TRIALS];
        pot[0] += w->mind[i];
    }
}

static void potentials(void *user, double *p)
{
    km_work *w = user;
    for (int t = 0; t < w->trials; t++)
        for (int64_t i = 0; i < w->n; i++) {
            double d = w->cd[i * KM_TRIALS + t];
            p[t] += d < w->mind[i] ? d : w->mind[i];
        }
}

/* Greedy k-means++: each new centre is the best (lowest potential) of a few rows sampled with
 * probability proportional to their squared distance to the nearest chosen centre. Sums run in
 * row order, so the choice does not depend on the thread count, nor on the rank count. */
static void seed_plusplus(km_work *w, am_rng *r)
{
    int64_t dim = w->dim, n = w->n;
    int64_t first = (int64_t)am_rng_below(r, (uint32_t)w->ntot);
    row_values(w, first, w->c);
    memcpy(w->cand, w->c, (size_t)dim * sizeof(float));
    trial_distances(w, 1);
    double pot = 0;
    ordered(w, &pot, 1, first_distances);
    int trials = 2 + (int)log((double)w->k);
    if (trials > KM_TRIALS) trials = KM_TRIALS;
    for (int j = 1; j < w->k; j++) {
        for (int t = 0; t < trials; t++) {
            /* All rows coincide with chosen centres: any row will do. */
            int64_t pick = pot > 0 ? sample_d2(w, pot, r) : (int64_t)am_rng_below(r, (uint32_t)w->ntot);
            row_values(w, pick, w->cand + t * dim);
        }
        trial_distances(w, trials);
        double p[KM_TRIALS] = {0};
        w->trials = trials;
        ordered(w, p, trials, potentials);
        int best = 0;
        double best_pot = INFINITY;
        for (int t = 0; t < trials; t++)
            if (p[t] < best_pot) {
                best_pot = p[t];
                best = t;
            }
        for (int64_t i = 0; i < n; i++) {
            double d = w->cd[i * KM_TRIALS + best];
            if (d < w->mind[i]) w->mind[i] = d;
        }
        pot = best_pot;
        memcpy(w->c + (int64_t)j * dim, w->cand + best * dim, (size_t)dim * sizeof(float));
    }
    am_sqnorms(w->c, w->k, dim, w->cn);
}

/* ---- the whole run ---- */

static void column_sums(void *user, double *m)
{
    km_work *w = user;
    for (int64_t d = 0; d < w->dim; d++)
        for (int64_t i = 0; i < w->n; i++) m[d] += w->x[i * w->dim + d];
}

static void column_squares(void *user, double *m2)
{
    km_work *w = user;
    for (int64_t d = 0; d < w->dim; d++)
        for (int64_t i = 0; i < w->n; i++)
            m2[d] += (w->x[i * w->dim + d] - w->means[d]) * (w->x[i * w->dim + d] - w->means[d]);
}

static void inertia_sum(void *user, double *acc)
{
    km_work *w = user;
    for (int64_t i = 0; i < w->n; i++)
        acc[0] += am_sqdist_exact(w->x + i * w->dim, w->c + (int64_t)w->lab[i] * w->dim, w->dim);
}

static am_status run(km_work *w, const am_kmeans_options *o, am_kmeans_result *res)
{
    memset(res, 0, sizeof *res);
    const int64_t n = w->n, dim = w->dim, ntot = w->ntot;
    if (o->k < 1) return am_error(AM_ERR_VALUE, "k-means: k = %d, must be at least 1", o->k);
    if (ntot < o->k)
        return am_error(AM_ERR_VALUE, "k-means: %lld points cannot form k = %d clusters", (long long)ntot, o->k);
    if (ntot > UINT32_MAX) return am_error(AM_ERR_VALUE, "k-means: too many points (%lld)", (long long)ntot);
    if (o->restarts < 1 || o->max_iter < 1 || !(o->tol >= 0))
        return am_error(AM_ERR_VALUE, "k-means: restarts and max_iter must be >= 1 and tol >= 0");
    int k = o->k;
    const int64_t nchunk = (n + KM_CHUNK - 1) / KM_CHUNK, T = k < KM_CHUNK ? k : KM_CHUNK;
    float *xn = am_malloc((size_t)(n ? n : 1) * sizeof(float));
    w->c = am_malloc((size_t)k * (size_t)dim * sizeof(float));
    w->cn = am_malloc((size_t)k * sizeof(float));
    w->scratch = am_malloc((size_t)KM_BLOCK * (size_t)k * sizeof(float));
    w->mind = malloc((size_t)(n ? n : 1) * sizeof(double));
    w->stamp = malloc((size_t)((dim + KM_SLICE - 1) / KM_SLICE) * (size_t)k * sizeof(int64_t));
    w->cand = am_malloc((size_t)KM_TRIALS * (size_t)dim * sizeof(float));
    w->candn = am_malloc((size_t)KM_TRIALS * sizeof(float));
    w->cd = am_malloc((size_t)(n ? n : 1) * KM_TRIALS * sizeof(float));
    w->lab = malloc((size_t)(n ? n : 1) * sizeof(int32_t));
    w->sum = malloc((size_t)k * (size_t)dim * sizeof(double));
    w->part = am_malloc((size_t)k * (size_t)dim * sizeof(float));
    w->cnt = malloc((size_t)k * sizeof(int64_t));
    if (w->ranks) {
        w->log_p = am_malloc((size_t)(nchunk ? nchunk : 1) * (size_t)T * (size_t)dim * sizeof(float));
        w->log_c = malloc((size_t)(nchunk ? nchunk : 1) * (size_t)T * sizeof(int32_t));
        w->log_n = malloc((size_t)(nchunk ? nchunk : 1) * sizeof(int32_t));
    }
    double *mean = calloc((size_t)dim, sizeof *mean), *m2 = calloc((size_t)dim, sizeof *m2);
    res->labels = malloc((size_t)(n ? n : 1) * sizeof(int32_t));
    res->centroids = am_malloc((size_t)k * (size_t)dim * sizeof(float));
    res->sizes = malloc((size_t)k * sizeof(int64_t));
    am_status s = AM_OK;
    if (!xn || !w->c || !w->cn || !w->scratch || !w->mind || !w->stamp || !w->cand || !w->candn || !w->cd || !w->lab ||
        !w->sum || !w->part || !w->cnt || !mean || !m2 || !res->labels || !res->centroids || !res->sizes ||
        (w->ranks && (!w->log_p || !w->log_c || !w->log_n)))
        s = am_error(AM_ERR_NOMEM, "k-means: out of memory for %lld x %lld, k = %d", (long long)n, (long long)dim, k);
    for (int64_t i = 0; s == AM_OK && i < n * dim; i++)
        if (!isfinite(w->x[i]))
            s = am_error(AM_ERR_NUMERIC, "k-means: row %lld has a non-finite value", (long long)(w->row0 + i / dim));
    if (w->ranks) s = am_dist_agree(s);
    if (s != AM_OK) goto done;
    w->xn = xn;
    am_sqnorms(w->x, n, dim, xn);
    /* Tolerance relative to the data's spread, as scikit-learn: tol × mean feature variance. */
    ordered(w, mean, dim, column_sums);
    for (int64_t d = 0; d < dim; d++) mean[d] /= (double)ntot;
    w->means = mean;
    ordered(w, m2, dim, column_squares);
    double var = 0;
    for (int64_t d = 0; d < dim; d++) var += m2[d] / (double)ntot;
    double tol = o->tol * var / (double)dim;
    res->inertia = DBL_MAX;
    res->k = k;
    res->n = n;
    res->dim = dim;
    for (int rs = 0; rs < o->restarts && w->err == AM_OK; rs++) {
        am_rng r;
        am_rng_init(&r, o->seed, am_rng_stream(0x6b6d65616e73ULL, (uint64_t)rs, 0));
        seed_plusplus(w, &r);
        for (int64_t i = 0; i < n; i++) w->lab[i] = -1;
        int it = 0;
        for (; it < o->max_iter && w->err == AM_OK; it++) {
            int64_t changed;
            assign(w, &changed, 1);
            if (changed == 0 && it > 0) break;
            double shift = update(w);
            if (shift <= tol) {
                assign(w, NULL, 0);
                it++;
                break;
            }
        }
        /* Inertia exactly, in double, so that restarts compare fairly. */
        double inertia = 0;
        ordered(w, &inertia, 1, inertia_sum);
        if (inertia < res->inertia) {
            res->inertia = inertia;
            res->iterations = it;
            memcpy(res->labels, w->lab, (size_t)n * sizeof(int32_t));
            memcpy(res->centroids, w->c, (size_t)k * (size_t)dim * sizeof(float));
        }
    }
    s = w->err;
    memset(res->sizes, 0, (size_t)k * sizeof(int64_t));
    for (int64_t i = 0; s == AM_OK && i < n; i++) res->sizes[res->labels[i]]++;
    if (s == AM_OK) count_over_ranks(w, res->sizes, k);
    if (s == AM_OK) s = w->err;
done:
    am_free(xn);
    am_free(w->c);
    am_free(w->cn);
    am_free(w->scratch);
    free(w->mind);
    free(w->stamp);
    am_free(w->cand);
    am_free(w->candn);
    am_free(w->cd);
    free(w->lab);
    free(w->sum);
    am_free(w->part);
    free(w->cnt);
    am_free(w->log_p);
    free(w->log_c), free(w->log_n);
    free(mean), free(m2);
    if (s != AM_OK) am_kmeans_result_free(res);
    return s;
}

am_status am_kmeans(const float *x, int64_t n, int64_t dim, const am_kmeans_options *o, am_kmeans_result *res)
{
    km_work w = {.x = x, .n = n, .dim = dim, .k = o->k, .ntot = n};
    return run(&w, o, res);
}

am_status am_kmeans_ranks(const float *x, int64_t n, int64_t row0, int64_t dim, const am_kmeans_options *o,
                          am_kmeans_result *res)
{
    memset(res, 0, sizeof *res);
    if (am_dist_size() == 1) {
        if (row0 != 0) return am_error(AM_ERR_VALUE, "k-means: one process holds every row, from row 0");
        return am_kmeans(x, n, dim, o, res);
    }
    const int size = am_dist_size(), rank = am_dist_rank();
    km_work w = {.x = x, .n = n, .dim = dim, .k = o->k, .ranks = 1, .row0 = row0};
    w.first = calloc((size_t)size + 1, sizeof *w.first);
    am_status s =
        w.first ? am_dist_allgather(&n, sizeof n, w.first + 1) : am_error(AM_ERR_NOMEM, "k-means: out of memory");
    for (int r = 0; s == AM_OK && r < size; r++) w.first[r + 1] += w.first[r];
    w.ntot = s == AM_OK ? w.first[size] : 0;
    /* chunks of KM_CHUNK rows must fall where one process's fall, and shares follow each other */
    if (s == AM_OK && (row0 != w.first[rank] || (rank + 1 < size && (row0 + n) % KM_CHUNK != 0)))
        s = am_error(AM_ERR_VALUE,
                     "k-means over ranks: rank %d holds rows %lld..%lld; shares must follow each other "
                     "in rank order and end on multiples of %d rows",
                     rank, (long long)row0, (long long)(row0 + n), KM_CHUNK);
    s = am_dist_agree(s);
    if (s == AM_OK) s = run(&w, o, res);
    free(w.first);
    return s;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

int64_t am_silhouette_sample(int64_t n, int64_t sample, uint64_t seed, int64_t *idx)
{
    int64_t m = (sample > 0 && sample < n) ? sample : n;
    for (int64_t i = 0; i < n; i++) idx[i] = i;
    if (m < n) {
        am_rng r;
        am_rng_init(&r, seed, am_rng_stream(0x73696c68ULL, 0, 0));
        am_rng_shuffle(&r, idx, n);
        /* Sorted, so the subset's order (and the sums below) follow the rows' order. */
        qsort(idx, (size_t)m, sizeof *idx, cmp_i64);
    }
    return m;
}

am_status am_silhouette(const float *x, int64_t n, int64_t dim, const int32_t *labels, int k, int64_t sample,
                        uint64_t seed, double *mean, float *per_point)
{
    if (k < 1) return am_error(AM_ERR_VALUE, "silhouette: k = %d", k);
    for (int64_t i = 0; i < n; i++)
        if (labels[i] < 0 || labels[i] >= k)
            return am_error(AM_ERR_VALUE, "silhouette: label %d of row %lld is outside [0, %d)", labels[i],
                            (long long)i, k);
    int64_t m = (sample > 0 && sample < n) ? sample : n;
    int64_t *idx = malloc((size_t)(n ? n : 1) * sizeof *idx);
    float *sub = am_malloc((size_t)(m ? m : 1) * (size_t)dim * sizeof(float));
    float *sn = am_malloc((size_t)(m ? m : 1) * sizeof(float));
    int64_t *csize = calloc((size_t)k, sizeof *csize);
    double *coef = malloc((size_t)(m ? m : 1) * sizeof(double));
    int64_t blk = 256;
    float *d2 = am_malloc((size_t)blk * (size_t)(m ? m : 1) * sizeof(float));
    double *acc = malloc((size_t)blk * (size_t)k * sizeof(double));
    am_status s = AM_OK;
    if (!idx || !sub || !sn || !csize || !coef || !d2 || !acc) {
        s = am_error(AM_ERR_NOMEM, "silhouette: out of memory for %lld points", (long long)m);
        goto done;
    }
    am_silhouette_sample(n, sample, seed, idx);
    for (int64_t i = 0; i < m; i++) {
        memcpy(sub + i * dim, x + idx[i] * dim, (size_t)dim * sizeof(float));
        csize[labels[idx[i]]]++;
    }
    am_sqnorms(sub, m, dim, sn);
    for (int64_t b0 = 0; b0 < m; b0 += blk) {
        int64_t nb = m - b0 < blk ? m - b0 : blk;
        am_sqdist_block(sub + b0 * dim, nb, sn + b0, sub, m, sn, dim, d2, m);
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < nb; i++) {
            double *a = acc + i * k;
            memset(a, 0, (size_t)k * sizeof(double));
            for (int64_t j = 0; j < m; j++)
                if (j != b0 + i) a[labels[idx[j]]] += sqrt((double)d2[i * m + j]);
            int own = labels[idx[b0 + i]];
            if (csize[own] <= 1) {
                coef[b0 + i] = 0;
                continue;
            }
            double ai = a[own] / (double)(csize[own] - 1), bi = DBL_MAX;
            for (int c = 0; c < k; c++)
                if (c != own && csize[c] > 0 && a[c] / (double)csize[c] < bi) bi = a[c] / (double)csize[c];
            if (bi == DBL_MAX) coef[b0 + i] = 0; /* a single populated cluster */
            else coef[b0 + i] = (bi - ai) / (ai > bi ? ai : bi > 0 ? bi : 1);
        }
    }
    double tot = 0;
    for (int64_t i = 0; i < m; i++) tot += coef[i];
    *mean = m ? tot / (double)m : 0;
    if (per_point) {
        for (int64_t i = 0; i < n; i++) per_point[i] = NAN;
        for (int64_t i = 0; i < m; i++) per_point[idx[i]] = (float)coef[i];
    }
done:
    free(idx);
    am_free(sub);
    am_free(sn);
    free(csize);
    free(coef);
    am_free(d2);
    free(acc);
    return s;
}

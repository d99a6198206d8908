/* t-SNE: sparse input affinities from the kNN graph (knn.h: exact, or inverted lists at scale) with
 * per-point bandwidths found by bisection, then gradient descent with early exaggeration,
 * momentum and gains; repulsion by Barnes–Hut (bhtree.h) or FFT interpolation (tsne_fft.h). */
#include "astromorph/tsne.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "astromorph/pca.h"
#include "astromorph/rng.h"
#include "astromorph/runtime.h"
#include "astromorph/similarity.h"
#include "bhtree.h"
#include "knn.h"
#include "tsne_fft.h"

void am_tsne_options_default(am_tsne_options *o)
{
    o->dims = 2;
    o->perplexity = 30;
    o->iterations = 1000;
    o->exaggeration_iters = 250;
    o->exaggeration = 12;
    o->learning_rate = 0;
    o->theta = 0.5;
    o->pca_init = 1;
    o->seed = 0;
    o->verbose = 0;
    o->index = NULL;
    o->method = AM_TSNE_AUTO;
    o->timing = NULL;
}

am_status am_tsne_method_parse(const char *s, const char *what, am_tsne_method *m)
{
    if (strcmp(s, "auto") == 0) *m = AM_TSNE_AUTO;
    else if (strcmp(s, "bh") == 0 || strcmp(s, "barnes-hut") == 0) *m = AM_TSNE_BARNES_HUT;
    else if (strcmp(s, "fft") == 0) *m = AM_TSNE_FFT;
    else return am_error(AM_ERR_VALUE, "%s: '%s' is not a t-SNE method (auto, bh or fft)", what, s);
    return AM_OK;
}

/* Symmetric sparse P in CSR form. Values are double for Barnes–Hut (its maps stay as they
 * were) and float for FFT, where the attraction streams P every iteration and is most of the
 * time: float values and int32 columns halve that traffic, and each p_ij is still used in double. */
typedef struct {
    int64_t *rowptr; /* n + 1 */
    int32_t *col;
    double *val; /* either this */
    float *valf; /* or this */
} csr;

static void csr_free(csr *p)
{
    free(p->rowptr);
    free(p->col);
    free(p->val);
    free(p->valf);
}

static double csr_value(const csr *p, int64_t e) { return p->valf ? (double)p->valf[e] : p->val[e]; }

/* Conditional probabilities p_{j|i} over i's K neighbours, bandwidth by bisection on the
 * entropy (natural log), distances shifted by the nearest one so exp() never underflows. */
static void calibrate_row(const float *dist, int K, double log_perp, double *p)
{
    double dmin = (double)dist[0] * dist[0];
    double beta = 1, lo = -INFINITY, hi = INFINITY;
    for (int it = 0; it < 200; it++) {
        double sum = 0, dsum = 0;
        for (int j = 0; j < K; j++) {
            double dj = (double)dist[j] * dist[j] - dmin;
            p[j] = exp(-beta * dj);
            sum += p[j];
            dsum += dj * p[j];
        }
        double h = log(sum) + beta * dsum / sum;
        double diff = h - log_perp;
        if (fabs(diff) <= 1e-5) break;
        if (diff > 0) {
            lo = beta;
            beta = isinf(hi) ? beta * 2 : 0.5 * (beta + hi);
        } else {
            hi = beta;
            beta = isinf(lo) ? beta / 2 : 0.5 * (beta + lo);
        }
    }
    double sum = 0;
    for (int j = 0; j < K; j++) sum += p[j];
    for (int j = 0; j < K; j++) p[j] /= sum;
}

typedef struct {
    int64_t col;
    double val;
} colval;

static int cmp_colval(const void *a, const void *b)
{
    int64_t x = ((const colval *)a)->col, y = ((const colval *)b)->col;
    return (x > y) - (x < y);
}

/* Each row's K neighbours put in column order (in place, side by side). */
static am_status sort_rows(int64_t *idx, double *cond, int64_t n, int K)
{
    int bad = 0;
#pragma omp parallel reduction(| : bad)
    {
        colval *r = malloc((size_t)K * sizeof *r);
        bad |= r == NULL;
#pragma omp for schedule(static)
        for (int64_t i = 0; i < n; i++) {
            if (!r) continue;
            for (int j = 0; j < K; j++) r[j] = (colval){idx[i * K + j], cond[i * K + j]};
            qsort(r, (size_t)K, sizeof *r, cmp_colval);
            for (int j = 0; j < K; j++) idx[i * K + j] = r[j].col, cond[i * K + j] = r[j].val;
        }
        free(r);
    }
    return bad ? am_error(AM_ERR_NOMEM, "t-SNE: out of memory for the affinity matrix") : AM_OK;
}

/* Row i of P = (P_cond + P_condᵀ) / 2n merged from row i of P_cond (idx/cond, in column order)
 * and row i of the transpose (tcol/tval, in column order by construction); a column in both
 * gets their sum, two terms, the same in either order. With out NULL, only counts. */
static int64_t merge_row(const int64_t *ic, const double *iv, int K, const int32_t *tc, const double *tv, int64_t tn,
                         double denom, int32_t *ocol, double *oval, float *ovalf)
{
    int64_t a = 0, b = 0, o = 0;
    while (a < K || b < tn) {
        int64_t c = b == tn || (a < K && ic[a] <= tc[b]) ? ic[a] : tc[b];
        double v = 0;
        if (a < K && ic[a] == c) v += iv[a++];
        if (b < tn && tc[b] == c) v += tv[b++];
        if (ocol) {
            ocol[o] = (int32_t)c;
            if (ovalf) ovalf[o] = (float)(v / denom);
            else oval[o] = v / denom;
        }
        o++;
    }
    return o;
}

/* P in CSR from the conditional probabilities of each row's K neighbours: the rows sorted, the
 * transpose made by a counting pass, then each row merged with its transposed row; exactly the
 * entries and sums a sort of all 2nK entries gives, in a third of its memory and on all threads. */
static am_status symmetrise(int64_t *idx, double *cond, int64_t n, int K, int single, csr *P)
{
    const int64_t nk = n * (int64_t)K;
    int64_t *tdeg = calloc((size_t)n + 1, sizeof *tdeg), *fill = malloc((size_t)n * sizeof *fill);
    int32_t *tcol = malloc((size_t)(nk ? nk : 1) * sizeof *tcol);
    double *tval = malloc((size_t)(nk ? nk : 1) * sizeof *tval);
    am_status s = tdeg && fill && tcol && tval ? sort_rows(idx, cond, n, K)
                                               : am_error(AM_ERR_NOMEM, "t-SNE: out of memory for the affinity matrix");
    if (s == AM_OK) {
        for (int64_t e = 0; e < nk; e++) tdeg[idx[e] + 1]++;
        for (int64_t i = 0; i < n; i++) tdeg[i + 1] += tdeg[i];
        memcpy(fill, tdeg, (size_t)n * sizeof *fill);
        for (int64_t i = 0; i < n; i++) /* in row order: each transposed row comes out sorted */
            for (int j = 0; j < K; j++) {
                int64_t c = idx[i * K + j];
                tcol[fill[c]] = (int32_t)i, tval[fill[c]++] = cond[i * K + j];
            }
        P->rowptr = malloc((size_t)(n + 1) * sizeof *P->rowptr);
        s = P->rowptr ? AM_OK : am_error(AM_ERR_NOMEM, "t-SNE: out of memory for the affinity matrix");
    }
    const double denom = 2.0 * (double)n;
    if (s == AM_OK) {
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < n; i++)
            fill[i] = merge_row(idx + i * K, cond + i * K, K, tcol + tdeg[i], tval + tdeg[i], tdeg[i + 1] - tdeg[i],
                                denom, NULL, NULL, NULL);
        P->rowptr[0] = 0;
        for (int64_t i = 0; i < n; i++) P->rowptr[i + 1] = P->rowptr[i] + fill[i];
        size_t nnz = (size_t)P->rowptr[n];
        P->col = malloc((nnz ? nnz : 1) * sizeof *P->col);
        if (single) P->valf = malloc((nnz ? nnz : 1) * sizeof *P->valf);
        else P->val = malloc((nnz ? nnz : 1) * sizeof *P->val);
        if (!P->col || (!P->val && !P->valf))
            s = am_error(AM_ERR_NOMEM, "t-SNE: out of memory for the affinity matrix");
    }
    if (s == AM_OK) {
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < n; i++) {
            int64_t at = P->rowptr[i];
            merge_row(idx + i * K, cond + i * K, K, tcol + tdeg[i], tval + tdeg[i], tdeg[i + 1] - tdeg[i], denom,
                      P->col + at, P->val ? P->val + at : NULL, P->valf ? P->valf + at : NULL);
        }
    }
    free(tdeg), free(fill), free(tcol), free(tval);
    return s;
}

static am_status affinities(const float *x, int64_t n, int64_t dim, double perplexity, const am_knn_index *index,
                            int single, am_tsne_timing *tm, csr *P)
{
    int K = (int)fmin((double)(n - 1), floor(3 * perplexity + 1));
    int64_t *idx = malloc((size_t)n * (size_t)K * sizeof *idx);
    float *dist = malloc((size_t)n * (size_t)K * sizeof *dist);
    double *cond = malloc((size_t)n * (size_t)K * sizeof *cond);
    am_status s = AM_OK;
    memset(P, 0, sizeof *P);
    if (!idx || !dist || !cond) {
        s = am_error(AM_ERR_NOMEM, "t-SNE: out of memory for %lld × %d neighbours", (long long)n, K);
        goto done;
    }
    am_knn_options ko;
    am_knn_options_default(&ko);
    ko.index = index;
    double t0 = am_monotonic_seconds();
    s = am_knn_search(x, n, dim, AM_METRIC_EUCLIDEAN, K, &ko, idx, dist);
    if (s != AM_OK) goto done;
    double t1 = am_monotonic_seconds();
    double lp = log(perplexity);
#pragma omp parallel for schedule(dynamic, 64)
    for (int64_t i = 0; i < n; i++) calibrate_row(dist + i * K, K, lp, cond + i * K);
    free(dist);
    dist = NULL;
    s = symmetrise(idx, cond, n, K, single, P);
    if (tm) tm->knn = t1 - t0, tm->affinities = am_monotonic_seconds() - t1;
done:
    free(idx);
    free(dist);
    free(cond);
    if (s != AM_OK) csr_free(P);
    return s;
}

/* Renumbers the points in breadth-first order of P's graph (from point 0, neighbours in column
 * order, each unreached part from its lowest old number), so that a point's neighbours get
 * nearby numbers and the attraction's reads of y_j stay in cache instead of ranging over the
 * whole map. perm[new] = old. Only for float P (the FFT path); a fixed order, no threads. */
static am_status renumber(csr *P, int64_t n, int64_t *perm)
{
    int64_t nnz = P->rowptr[n];
    int64_t *inv = malloc((size_t)n * sizeof *inv), *rp = malloc((size_t)(n + 1) * sizeof *rp);
    int32_t *col = malloc((size_t)nnz * sizeof *col);
    float *val = malloc((size_t)nnz * sizeof *val);
    if (!inv || !rp || !col || !val) {
        free(inv), free(rp), free(col), free(val);
        return am_error(AM_ERR_NOMEM, "t-SNE: out of memory renumbering %lld points", (long long)n);
    }
    for (int64_t i = 0; i < n; i++) inv[i] = -1;
    int64_t head = 0, tail = 0;
    for (int64_t s = 0; s < n; s++) {
        if (inv[s] >= 0) continue;
        inv[s] = tail, perm[tail++] = s;
        while (head < tail) {
            int64_t u = perm[head++];
            for (int64_t e = P->rowptr[u]; e < P->rowptr[u + 1]; e++) {
                int64_t v = P->col[e];
                if (inv[v] < 0) inv[v] = tail, perm[tail++] = v;
            }
        }
    }
    int64_t out = 0;
    for (int64_t r = 0; r < n; r++) {
        int64_t u = perm[r];
        rp[r] = out;
        for (int64_t e = P->rowptr[u]; e < P->rowptr[u + 1]; e++, out++) {
            col[out] = (int32_t)inv[P->col[e]];
            val[out] = P->valf[e];
        }
    }
    rp[n] = out;
    free(inv);
    free(P->rowptr), free(P->col), free(P->valf);
    P->rowptr = rp, P->col = col, P->valf = val;
    return AM_OK;
}

static am_status initial_map(const float *x, int64_t n, int64_t dim, const am_tsne_options *o, double *y)
{
    int dims = o->dims;
    if (o->pca_init && dim >= dims) {
        am_pca p;
        float *t = malloc((size_t)n * (size_t)dims * sizeof *t);
        if (!t) return am_error(AM_ERR_NOMEM, "t-SNE: out of memory");
        am_status s = am_pca_fit(x, n, dim, dims, &p);
        if (s == AM_OK) s = am_pca_transform(&p, x, n, t);
        am_pca_free(&p);
        if (s != AM_OK) {
            free(t);
            return s;
        }
        /* Scaled so the first axis has standard deviation 1e-4, as in scikit-learn. */
        double m = 0, v = 0;
        for (int64_t i = 0; i < n; i++) m += t[i * dims];
        m /= (double)n;
        for (int64_t i = 0; i < n; i++) v += (t[i * dims] - m) * (t[i * dims] - m);
        double sd = sqrt(v / (double)n);
        double scale = sd > 0 ? 1e-4 / sd : 1.0;
        for (int64_t i = 0; i < n * dims; i++) y[i] = t[i] * scale;
        free(t);
        if (sd > 0) return AM_OK;
    }
    am_rng r;
    am_rng_init(&r, o->seed, am_rng_stream(0x74736e65ULL, 0, 0));
    for (int64_t i = 0; i < n * dims; i++) y[i] = 1e-4 * am_rng_normal(&r);
    return AM_OK;
}

/* Exact KL(P || Q) up to the estimate of Z. */
static double kl_divergence(const csr *P, const double *y, int64_t n, int dims, double z, double exag)
{
    double kl = 0;
    for (int64_t i = 0; i < n; i++)
        for (int64_t e = P->rowptr[i]; e < P->rowptr[i + 1]; e++) {
            int64_t j = P->col[e];
            double d2 = 0;
            for (int d = 0; d < dims; d++) {
                double t = y[i * dims + d] - y[j * dims + d];
                d2 += t * t;
            }
            double p = csr_value(P, e) * exag, q = 1.0 / (1.0 + d2) / z;
            if (p > 0) kl += p * log(fmax(p, 1e-300) / fmax(q, 1e-300));
        }
    return kl;
}

/* The repulsive half of the gradient by either method: neg[i] = Σ_j q_ij² (y_i - y_j) and
 * *z = Σ_{i≠j} q_ij, both unnormalised. */
typedef struct {
    int fft;
    double theta;
    bh_tree tree;
    tsne_fft grid;
    double *sq; /* n: each point's Σ_j q_ij under Barnes–Hut */
} repulser;

static am_status repulsion(repulser *r, const double *y, int64_t n, int dims, double *neg, double *z)
{
    if (r->fft) return tsne_fft_repulsion(&r->grid, y, n, neg, z);
    AM_TRY(am_bh_build(&r->tree, y, n, dims));
    /* Each point's forces are computed by one thread into its own slots: no shared sums. */
#pragma omp parallel for schedule(dynamic, 64)
    for (int64_t i = 0; i < n; i++) {
        double nf[3] = {0, 0, 0};
        r->sq[i] = am_bh_repulsion(&r->tree, y, i, r->theta, nf);
        for (int d = 0; d < dims; d++) neg[i * dims + d] = nf[d];
    }
    double s = 0; /* summed in point order: the same for any thread count */
    for (int64_t i = 0; i < n; i++) s += r->sq[i];
    *z = s;
    return AM_OK;
}

/* The FFT path's 2-D attraction over float P. A row's terms go to LANES partial sums (term e to
 * lane e mod LANES), added at the end in one fixed tree, so the result depends on neither the
 * thread count nor the instruction set; the lanes are independent, so the divisions overlap
 * (one serial sum waited on each division) and the AVX-512 clone does eight at once. The
 * library's generic flags stop at SSE4.2; the clone is picked at load time. */
enum { LANES = 8 };

__attribute__((target_clones("avx512f", "avx2", "default"))) static void
attraction_2d_float(const csr *P, const double *y, int64_t n, double exag, double *pos)
{
    const int64_t *rp = P->rowptr;
    const int32_t *col = P->col;
    const float *val = P->valf;
#pragma omp parallel for schedule(dynamic, 256)
    for (int64_t i = 0; i < n; i++) {
        double ax[LANES] = {0}, ay[LANES] = {0};
        const double yx = y[2 * i], yy = y[2 * i + 1];
        int64_t e = rp[i];
        const int64_t end = rp[i + 1];
        for (; e + LANES <= end; e += LANES)
#pragma omp simd
            for (int l = 0; l < LANES; l++) {
                const int64_t j = col[e + l];
                const double dx = yx - y[2 * j], dy = yy - y[2 * j + 1];
                const double w = (double)val[e + l] * exag / (1.0 + (dx * dx + dy * dy));
                ax[l] += w * dx;
                ay[l] += w * dy;
            }
        for (int l = 0; e < end; e++, l++) {
            const int64_t j = col[e];
            const double dx = yx - y[2 * j], dy = yy - y[2 * j + 1];
            const double w = (double)val[e] * exag / (1.0 + (dx * dx + dy * dy));
            ax[l] += w * dx;
            ay[l] += w * dy;
        }
        pos[2 * i] = ((ax[0] + ax[1]) + (ax[2] + ax[3])) + ((ax[4] + ax[5]) + (ax[6] + ax[7]));
        pos[2 * i + 1] = ((ay[0] + ay[1]) + (ay[2] + ay[3])) + ((ay[4] + ay[5]) + (ay[6] + ay[7]));
    }
}

/* pos[i] = exag Σ_j p_ij q_ij (y_i - y_j) over the sparse P, one thread per point. 2-D has its
 * own loop (the sums in registers); the FFT path's float P has its own laned one above. */
static void attraction(const csr *P, const double *y, int64_t n, int dims, double exag, double *pos)
{
    if (P->valf) {
        attraction_2d_float(P, y, n, exag, pos); /* FFT is 2-D only */
        return;
    }
    if (dims == 2) {
#pragma omp parallel for schedule(dynamic, 256)
        for (int64_t i = 0; i < n; i++) {
            double px = 0, py = 0, yx = y[2 * i], yy = y[2 * i + 1];
            for (int64_t e = P->rowptr[i]; e < P->rowptr[i + 1]; e++) {
                int64_t j = P->col[e];
                double dx = yx - y[2 * j], dy = yy - y[2 * j + 1];
                double w = P->val[e] * exag / (1.0 + (dx * dx + dy * dy));
                px += w * dx;
                py += w * dy;
            }
            pos[2 * i] = px;
            pos[2 * i + 1] = py;
        }
        return;
    }
#pragma omp parallel for schedule(dynamic, 64)
    for (int64_t i = 0; i < n; i++) {
        double pf[3] = {0, 0, 0};
        for (int64_t e = P->rowptr[i]; e < P->rowptr[i + 1]; e++) {
            int64_t j = P->col[e];
            double diff[3], d2 = 0;
            for (int d = 0; d < dims; d++) {
                diff[d] = y[i * dims + d] - y[j * dims + d];
                d2 += diff[d] * diff[d];
            }
            double w = P->val[e] * exag / (1.0 + d2);
            for (int d = 0; d < dims; d++) pf[d] += w * diff[d];
        }
        for (int d = 0; d < dims; d++) pos[i * dims + d] = pf[d];
    }
}

/* The method a run uses: auto is FFT in 2-D from AM_TSNE_FFT_MIN_POINTS points when FFTW is
 * there; 3-D is always Barnes–Hut. */
static am_status pick_method(const am_tsne_options *o, int64_t n, int *fft)
{
    if (o->method == AM_TSNE_BARNES_HUT || o->method == AM_TSNE_AUTO) {
        *fft = o->method == AM_TSNE_AUTO && o->dims == 2 && n >= AM_TSNE_FFT_MIN_POINTS && am_tsne_have_fft();
        return AM_OK;
    }
    if (o->method != AM_TSNE_FFT) return am_error(AM_ERR_VALUE, "t-SNE: unknown method %d", (int)o->method);
    if (o->dims != 2) return am_error(AM_ERR_VALUE, "t-SNE: the FFT method is 2-D only (dims = %d)", o->dims);
    if (!am_tsne_have_fft())
        return am_error(AM_ERR_VALUE, "t-SNE: the FFT method needs FFTW, and this build has none (install "
                                      "libfftw3-dev and reconfigure)");
    *fft = 1;
    return AM_OK;
}

am_status am_tsne(const float *x, int64_t n, int64_t dim, const am_tsne_options *o, float *y_out, double *kl_out)
{
    if (o->dims != 2 && o->dims != 3) return am_error(AM_ERR_VALUE, "t-SNE: dims = %d, must be 2 or 3", o->dims);
    if (n < 4) return am_error(AM_ERR_VALUE, "t-SNE: needs at least 4 points, got %lld", (long long)n);
    if (n > INT32_MAX) return am_error(AM_ERR_VALUE, "t-SNE: %lld points, at most %d", (long long)n, (int)INT32_MAX);
    if (!(o->perplexity > 0)) return am_error(AM_ERR_VALUE, "t-SNE: perplexity %g must be positive", o->perplexity);
    if (o->iterations < 1 || o->exaggeration_iters < 0 || !(o->exaggeration >= 1) || !(o->theta >= 0))
        return am_error(AM_ERR_VALUE, "t-SNE: bad iteration count, exaggeration or theta");
    for (int64_t i = 0; i < n * dim; i++)
        if (!isfinite(x[i]))
            return am_error(AM_ERR_NUMERIC, "t-SNE: row %lld has a non-finite value", (long long)(i / dim));
    int dims = o->dims, fft = 0;
    AM_TRY(pick_method(o, n, &fft));
    double perp = o->perplexity;
    if (3 * perp > (double)(n - 1)) perp = (double)(n - 1) / 3.0;
    double lr = o->learning_rate > 0 ? o->learning_rate : fmax((double)n / o->exaggeration / 4.0, 50.0);

    am_tsne_timing tm = {0};
    csr P;
    AM_TRY(affinities(x, n, dim, perp, o->index, fft, &tm, &P));
    size_t nd = (size_t)n * (size_t)dims;
    double *y = malloc(nd * sizeof *y), *pos = malloc(nd * sizeof *pos), *neg = malloc(nd * sizeof *neg);
    double *upd = calloc(nd, sizeof *upd), *gains = malloc(nd * sizeof *gains);
    repulser rep = {.fft = fft, .theta = o->theta, .sq = fft ? NULL : malloc((size_t)n * sizeof *rep.sq)};
    int64_t *perm = fft ? malloc((size_t)n * sizeof *perm) : NULL; /* the run's order: perm[new] = old */
    tsne_fft_init(&rep.grid);
    am_status s = AM_OK;
    if (!y || !pos || !neg || !upd || !gains || (!fft && !rep.sq) || (fft && !perm)) {
        s = am_error(AM_ERR_NOMEM, "t-SNE: out of memory for %lld points", (long long)n);
        goto done;
    }
    for (size_t i = 0; i < nd; i++) gains[i] = 1;
    double t0 = am_monotonic_seconds();
    if ((s = initial_map(x, n, dim, o, y))) goto done;
    if (perm) {
        if ((s = renumber(&P, n, perm))) goto done;
        memcpy(pos, y, nd * sizeof *y);
        for (int64_t r = 0; r < n; r++)
            for (int d = 0; d < dims; d++) y[r * dims + d] = pos[perm[r] * dims + d];
    }
    double t1 = am_monotonic_seconds();
    tm.init = t1 - t0;
    double z = 1;
    for (int it = 0; it < o->iterations; it++) {
        int early = it < o->exaggeration_iters;
        double exag = early ? o->exaggeration : 1.0, mom = early ? 0.5 : 0.8;
        if ((s = repulsion(&rep, y, n, dims, neg, &z))) goto done;
        double t2 = am_monotonic_seconds();
        attraction(&P, y, n, dims, exag, pos);
        double t3 = am_monotonic_seconds();
        tm.repulsion += t2 - t1;
        tm.attraction += t3 - t2;
        if (!(z > 0)) z = 1e-300;
        for (size_t i = 0; i < nd; i++) {
            double g = 4.0 * (pos[i] - neg[i] / z);
            /* Gains grow where the gradient keeps pointing against the last step. */
            gains[i] = (g * upd[i] < 0) ? gains[i] + 0.2 : gains[i] * 0.8;
            if (gains[i] < 0.01) gains[i] = 0.01;
            upd[i] = mom * upd[i] - lr * gains[i] * g;
            y[i] += upd[i];
        }
        if (o->verbose && ((it + 1) % 50 == 0 || it + 1 == o->iterations))
            am_log(AM_LOG_INFO, "t-SNE iteration %d: KL divergence %.4f", it + 1,
                   kl_divergence(&P, y, n, dims, z, exag));
        t1 = am_monotonic_seconds();
        tm.update += t1 - t3;
    }
    if (o->timing) *o->timing = tm;
    for (int64_t r = 0; r < n; r++)
        for (int d = 0; d < dims; d++) y_out[(perm ? perm[r] : r) * dims + d] = (float)y[r * dims + d];
    if (kl_out) {
        if ((s = repulsion(&rep, y, n, dims, neg, &z))) goto done;
        *kl_out = kl_divergence(&P, y, n, dims, z, 1.0);
    }
done:
    free(y);
    free(pos);
    free(neg);
    free(upd);
    free(gains);
    free(rep.sq);
    free(perm);
    am_bh_free(&rep.tree);
    tsne_fft_free(&rep.grid);
    csr_free(&P);
    return s;
}

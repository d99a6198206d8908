/* Rows of embeddings made on the ranks brought to rank 0: rank r made rows lo[r] .. lo[r+1] − 1
 * (contiguous, in rank order, held from its index 0; rank 0 holds room for every row), each
 * with its values, statistics, metadata and (for a hybrid fit) morphology features. Metadata travels as bytes: the fixed fields, then the file path and
 * the extra keys as length-prefixed strings. */
#include <stdlib.h>
#include <string.h>

#include "dist/dist_internal.h"

typedef struct fixed {
    char object[AM_META_LEN], ra[AM_META_LEN], dec[AM_META_LEN], restfreq[AM_META_LEN];
    double ra_deg, dec_deg;
    char radec_from[8];
    int32_t hdu;
} fixed;

static size_t str_size(const char *s) { return sizeof(uint32_t) + (s ? strlen(s) : 0); }

static size_t meta_size(const am_meta *m) { return sizeof(fixed) + 1 + str_size(m->filepath) + str_size(m->extra); }

static unsigned char *put_str(unsigned char *p, const char *s, int present)
{
    uint32_t n = s ? (uint32_t)strlen(s) : 0;
    memcpy(p, &n, sizeof n);
    if (n) memcpy(p + sizeof n, s, n);
    return p + sizeof n + n;
}

static unsigned char *pack(const am_meta *m, unsigned char *p)
{
    fixed f;
    memset(&f, 0, sizeof f);
    memcpy(f.object, m->object, AM_META_LEN), memcpy(f.ra, m->ra, AM_META_LEN);
    memcpy(f.dec, m->dec, AM_META_LEN), memcpy(f.restfreq, m->restfreq, AM_META_LEN);
    f.ra_deg = m->ra_deg, f.dec_deg = m->dec_deg, f.hdu = m->hdu;
    memcpy(f.radec_from, m->radec_from, sizeof f.radec_from);
    memcpy(p, &f, sizeof f);
    p += sizeof f;
    *p++ = (unsigned char)((m->filepath != NULL) | (m->extra != NULL) << 1);
    p = put_str(p, m->filepath, m->filepath != NULL);
    return put_str(p, m->extra, m->extra != NULL);
}

static const unsigned char *get_str(const unsigned char *p, char **out, int present, am_status *st)
{
    uint32_t n;
    memcpy(&n, p, sizeof n);
    p += sizeof n;
    *out = NULL;
    if (!present) return p + n;
    *out = malloc((size_t)n + 1);
    if (!*out) *st = am_error(AM_ERR_NOMEM, "MPI: out of memory for metadata");
    else memcpy(*out, p, n), (*out)[n] = 0;
    return p + n;
}

static const unsigned char *unpack(am_meta *m, const unsigned char *p, am_status *st)
{
    fixed f;
    memcpy(&f, p, sizeof f);
    p += sizeof f;
    am_meta_free(m);
    memcpy(m->object, f.object, AM_META_LEN), memcpy(m->ra, f.ra, AM_META_LEN);
    memcpy(m->dec, f.dec, AM_META_LEN), memcpy(m->restfreq, f.restfreq, AM_META_LEN);
    m->ra_deg = f.ra_deg, m->dec_deg = f.dec_deg, m->hdu = f.hdu;
    memcpy(m->radec_from, f.radec_from, sizeof f.radec_from);
    unsigned flags = *p++;
    p = get_str(p, &m->filepath, flags & 1, st);
    return get_str(p, &m->extra, (flags >> 1) & 1, st);
}

/* One block of bytes from every rank to rank 0, rank after rank; the sizes are exchanged first. */
static am_status gather_block(const void *mine, int64_t bytes, void **all, int64_t **counts)
{
    int size = am_dist_size(), rank = am_dist_rank();
    *all = NULL;
    *counts = calloc((size_t)size, sizeof **counts);
    double *c = calloc((size_t)size, sizeof *c);
    if (!*counts || !c) {
        free(c);
        return am_error(AM_ERR_NOMEM, "MPI: out of memory");
    }
    c[rank] = (double)bytes; /* exact: byte counts are far below 2^53 */
    am_status st = am_dist_sum_disjoint_f64(c, size);
    int64_t total = 0;
    for (int r = 0; r < size; r++) total += (*counts)[r] = (int64_t)c[r];
    free(c);
    if (st == AM_OK && rank == 0 && !(*all = malloc((size_t)(total ? total : 1))))
        st = am_error(AM_ERR_NOMEM, "MPI: out of memory for %lld bytes of rows", (long long)total);
    st = am_dist_agree(st);
    if (st == AM_OK) st = am_dist_gatherv(mine, bytes, *all, *counts, 0);
    return st;
}

am_status am_dist_gather_rows(am_embeddings *E, const int64_t *lo, float *feats, int64_t nfeat)
{
    int size = am_dist_size(), rank = am_dist_rank();
    if (size == 1) return AM_OK;
    const int64_t a = lo[rank], b = lo[rank + 1]; /* held from index 0 (rank 0: a = 0) */
    /* values, statistics and features are fixed-size rows: each rank's block lands in place */
    struct {
        float *base;
        int64_t width;
    } blocks[] = {{E->data, E->dim}, {E->stats, E->nstats}, {feats, nfeat}};
    am_status st = AM_OK;
    for (size_t k = 0; st == AM_OK && k < sizeof blocks / sizeof blocks[0]; k++) {
        if (!blocks[k].base || blocks[k].width == 0) continue;
        int64_t *counts = calloc((size_t)size, sizeof *counts);
        if (!counts) return am_error(AM_ERR_NOMEM, "MPI: out of memory");
        for (int r = 0; r < size; r++) counts[r] = (lo[r + 1] - lo[r]) * blocks[k].width * (int64_t)sizeof(float);
        float *mine = blocks[k].base;
        /* rank 0's rows come first and are in place already */
        st = am_dist_gatherv(mine, counts[rank], blocks[k].base, counts, 0);
        free(counts);
    }
    if (st != AM_OK) return st;
    /* metadata: variable-size rows packed into one block per rank */
    size_t bytes = 0;
    for (int64_t i = 0; i < b - a; i++) bytes += meta_size(&E->meta[i]);
    unsigned char *buf = malloc(bytes ? bytes : 1), *p = buf;
    st = buf ? AM_OK : am_error(AM_ERR_NOMEM, "MPI: out of memory for metadata");
    st = am_dist_agree(st);
    if (st != AM_OK) {
        free(buf);
        return st;
    }
    for (int64_t i = 0; i < b - a; i++) p = pack(&E->meta[i], p);
    void *all = NULL;
    int64_t *counts = NULL;
    st = gather_block(buf, (int64_t)bytes, &all, &counts);
    free(buf);
    if (st == AM_OK && rank == 0) {
        const unsigned char *q = all;
        for (int r = 0; r < size; r++)
            for (int64_t i = lo[r]; i < lo[r + 1]; i++) q = unpack(&E->meta[i], q, &st);
    }
    free(all), free(counts);
    return st;
}

am_status am_dist_fetch_meta(const am_meta *local, int64_t n, int64_t row0, const int64_t *rows, int64_t nrows,
                             am_meta *out)
{
    const int size = am_dist_size(), rank = am_dist_rank();
    if (size == 1) {
        am_status st = AM_OK;
        for (int64_t j = 0; j < nrows && st == AM_OK; j++) st = am_meta_copy(&out[j], &local[rows[j] - row0]);
        return st;
    }
    /* the list is rank 0's; every rank learns it, and every rank's share */
    int64_t *list = rank == 0 ? (int64_t *)rows : malloc((size_t)(nrows ? nrows : 1) * sizeof *list);
    double *share = calloc((size_t)size * 2, sizeof *share);
    am_status st = list && share ? AM_OK : am_error(AM_ERR_NOMEM, "MPI: out of memory");
    st = am_dist_agree(st);
    if (st == AM_OK) st = am_dist_bcast(list, nrows * (int64_t)sizeof *list, 0);
    if (st == AM_OK) {
        share[2 * rank] = (double)row0, share[2 * rank + 1] = (double)n;
        st = am_dist_sum_disjoint_f64(share, 2 * size);
    }
    /* this rank's rows of the list, in list order, packed */
    size_t bytes = 0;
    for (int64_t j = 0; st == AM_OK && j < nrows; j++)
        if (list[j] >= row0 && list[j] < row0 + n) bytes += meta_size(&local[list[j] - row0]);
    unsigned char *buf = st == AM_OK ? malloc(bytes ? bytes : 1) : NULL, *p = buf;
    if (st == AM_OK && !buf) st = am_error(AM_ERR_NOMEM, "MPI: out of memory for metadata");
    st = am_dist_agree(st);
    for (int64_t j = 0; st == AM_OK && j < nrows; j++)
        if (list[j] >= row0 && list[j] < row0 + n) p = pack(&local[list[j] - row0], p);
    void *all = NULL;
    int64_t *counts = NULL;
    if (st == AM_OK) st = gather_block(buf, (int64_t)bytes, &all, &counts);
    if (st == AM_OK && rank == 0) {
        const unsigned char *q = all;
        for (int r = 0; r < size; r++) {
            int64_t a = (int64_t)share[2 * r], b = a + (int64_t)share[2 * r + 1];
            for (int64_t j = 0; j < nrows; j++)
                if (list[j] >= a && list[j] < b) q = unpack(&out[j], q, &st);
        }
    }
    free(all), free(counts), free(buf), free(share);
    if (rank != 0) free(list);
    return st;
}

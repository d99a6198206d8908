/* The saved nearest-neighbour index (knn_index.h): FAISS's bytes behind a header that records
 * the rows it was built from. */
#include "astromorph/knn_index.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "astromorph/runtime.h"
#include "astromorph/tensor.h"
#include "faiss_shim.h"
#include "knn.h"
#include "search_internal.h"

struct am_knn_index {
    am_faiss_index *faiss;
    am_knn_index_info info;
};

/* Candidates beyond k: FAISS's float scores can reorder rows whose exact scores differ by
 * ~1e-6 relative (as in similarity.c); IVF-PQ's codes move scores by far more, so it is asked
 * for PQ_FACTOR times k and the exact re-score picks the best. */
enum { MARGIN = 16, PQ_FACTOR = 4, DEFAULT_NPROBE = 32, HEADER_BYTES = 96 };
static const char MAGIC[8] = {'A', 'M', 'K', 'N', 'N', 'I', 'X', '1'};

void am_index_options_default(am_index_options *o)
{
    o->type = AM_INDEX_AUTO;
    o->metric = AM_METRIC_COSINE;
    o->nlist = o->nprobe = o->pq_m = 0;
}

static const char *const type_names[] = {"auto", "flat", "ivf", "ivfpq", "hnsw"};

am_status am_index_type_parse(const char *s, const char *what, am_index_type *t)
{
    for (int i = 0; i < 5; i++)
        if (strcmp(s, type_names[i]) == 0) {
            *t = (am_index_type)i;
            return AM_OK;
        }
    return am_error(AM_ERR_VALUE, "%s: unknown index type '%s' (auto, flat, ivf, ivfpq or hnsw)", what, s);
}

const char *am_index_type_name(am_index_type t) { return (unsigned)t < 5 ? type_names[t] : "?"; }

int am_index_available(void) { return am_knn_have_faiss(); }

/* MemAvailable from /proc/meminfo, else half the physical memory. */
static uint64_t available_memory(void)
{
    FILE *fp = fopen("/proc/meminfo", "r");
    char line[128];
    unsigned long long kb = 0;
    while (fp && fgets(line, sizeof line, fp))
        if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1) break;
    if (fp) fclose(fp);
    if (kb) return (uint64_t)kb * 1024;
    long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
    return pages > 0 && size > 0 ? (uint64_t)pages * (uint64_t)size / 2 : 0;
}

am_index_type am_index_type_for(int64_t n, int64_t dim, uint64_t avail_bytes)
{
    if (n < AM_INDEX_FLAT_MAX_ROWS) return AM_INDEX_FLAT;
    if (!avail_bytes) avail_bytes = available_memory();
    /* the floats, and as much again while they are copied into the lists and normalised */
    double floats = (double)n * (double)dim * sizeof(float);
    return n <= AM_INDEX_IVF_MAX_ROWS && 2 * floats < (double)avail_bytes ? AM_INDEX_IVF : AM_INDEX_IVFPQ;
}

/* FNV-1a's multiply on 64-bit words in four interleaved lanes (a byte at a time runs at a
 * tenth of memory speed), the lanes folded together with two sizes at the end. */
static uint64_t lane_hash(const void *data, size_t len, uint64_t a, uint64_t b)
{
    const uint64_t prime = 1099511628211ULL;
    uint64_t h[4] = {1469598103934665603ULL, 0x9e3779b97f4a7c15ULL, 0xc2b2ae3d27d4eb4fULL, 0x165667b19e3779f9ULL};
    const unsigned char *p = data;
    const size_t words = len / 8;
    size_t w = 0;
    for (; w + 4 <= words; w += 4)
        for (int l = 0; l < 4; l++) {
            uint64_t v;
            memcpy(&v, p + (w + (size_t)l) * 8, 8);
            h[l] = (h[l] ^ v) * prime;
        }
    for (; w < words; w++) {
        uint64_t v;
        memcpy(&v, p + w * 8, 8);
        h[0] = (h[0] ^ v) * prime;
    }
    for (size_t i = words * 8; i < len; i++) h[1] = (h[1] ^ p[i]) * prime;
    uint64_t r = (a * prime) ^ b;
    for (int l = 0; l < 4; l++) {
        r = (r ^ h[l]) * prime;
        r ^= r >> 29;
    }
    return r;
}

uint64_t am_embeddings_fingerprint(const float *x, int64_t n, int64_t dim)
{
    return lane_hash(x, (size_t)n * (size_t)dim * sizeof *x, (uint64_t)n, (uint64_t)dim);
}

/* 4·√n lists, at most n / 39 (FAISS's training minimum of 39 rows a list), at least one. */
static int64_t default_nlist(int64_t n)
{
    int64_t most = n / 39 > 1 ? n / 39 : 1, nl = llround(4 * sqrt((double)n));
    return nl < 1 ? 1 : nl > most ? most : nl;
}

/* The largest divisor of dim up to dim / 4: four floats' bytes to one code byte. */
static int64_t default_pq_m(int64_t dim)
{
    for (int64_t m = dim / 4; m > 1; m--)
        if (dim % m == 0) return m;
    return 1;
}

float *am_unit_rows(const float *x, int64_t n, int64_t dim)
{
    float *u = am_malloc((size_t)(n ? n : 1) * (size_t)dim * sizeof *u);
    if (!u) return NULL;
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) {
        double t = 0;
        for (int64_t d = 0; d < dim; d++) t += (double)x[i * dim + d] * x[i * dim + d];
        double s = t > 0 ? 1.0 / sqrt(t) : 0.0;
        for (int64_t d = 0; d < dim; d++) u[i * dim + d] = (float)(x[i * dim + d] * s);
    }
    return u;
}

static am_status resolve_options(const am_index_options *o, int64_t n, int64_t dim, am_knn_index_info *info)
{
    if (o->nlist < 0 || o->nprobe < 0 || o->pq_m < 0)
        return am_error(AM_ERR_VALUE, "index: nlist %lld, nprobe %lld and pq_m %lld must not be negative",
                        (long long)o->nlist, (long long)o->nprobe, (long long)o->pq_m);
    memset(info, 0, sizeof *info);
    info->type = o->type == AM_INDEX_AUTO ? am_index_type_for(n, dim, 0) : o->type;
    info->metric = o->metric;
    info->n = n, info->dim = dim;
    if (info->type == AM_INDEX_IVF || info->type == AM_INDEX_IVFPQ) {
        info->nlist = o->nlist ? o->nlist : default_nlist(n);
        if (info->nlist > n)
            return am_error(AM_ERR_VALUE, "index: nlist %lld is more than the %lld rows", (long long)info->nlist,
                            (long long)n);
        info->nprobe = o->nprobe ? o->nprobe : DEFAULT_NPROBE;
        if (info->nprobe > info->nlist) info->nprobe = info->nlist;
    }
    if (info->type == AM_INDEX_IVFPQ) {
        info->pq_m = o->pq_m ? o->pq_m : default_pq_m(dim);
        if (dim % info->pq_m != 0)
            return am_error(AM_ERR_VALUE, "index: --pq-m %lld does not divide the %lld columns", (long long)info->pq_m,
                            (long long)dim);
        /* 8-bit codes: each sub-quantiser's k-means wants its 256 centres' worth of rows */
        if (n < 256)
            return am_error(AM_ERR_VALUE, "index: ivfpq needs at least 256 rows (%lld here; use flat)", (long long)n);
    }
    return AM_OK;
}

static const am_faiss_kind kinds[] = {AM_FAISS_FLAT, AM_FAISS_FLAT, AM_FAISS_IVF, AM_FAISS_IVFPQ, AM_FAISS_HNSW};

am_status am_knn_index_build(const float *x, int64_t n, int64_t dim, const am_index_options *o, am_knn_index **out)
{
    *out = NULL;
    am_index_options def;
    am_index_options_default(&def);
    if (!o) o = &def;
    if (!am_index_available())
        return am_error(AM_ERR_VALUE, "index: this build has no FAISS (install libfaiss-dev with "
                                      "scripts/install-deps and reconfigure); the exact searches need none");
    if (n < 1 || dim < 1) return am_error(AM_ERR_VALUE, "index: bad size %lld x %lld", (long long)n, (long long)dim);
    if ((unsigned)o->type > AM_INDEX_HNSW) return am_error(AM_ERR_VALUE, "index: bad type %d", (int)o->type);
    am_knn_index *ix = calloc(1, sizeof *ix);
    if (!ix) return am_error(AM_ERR_NOMEM, "index: out of memory");
    am_status s = resolve_options(o, n, dim, &ix->info);
    if (s == AM_OK) s = am_knn_check_finite(x, n, dim);
    const int cosine = o->metric == AM_METRIC_COSINE;
    float *unit = s == AM_OK && cosine ? am_unit_rows(x, n, dim) : NULL;
    if (s == AM_OK && cosine && !unit) s = am_error(AM_ERR_NOMEM, "index: out of memory for %lld rows", (long long)n);
    if (s == AM_OK) {
        ix->info.fingerprint = am_embeddings_fingerprint(x, n, dim);
        s = am_faiss_build(cosine ? unit : x, n, dim, cosine, kinds[ix->info.type], ix->info.nlist, ix->info.nprobe,
                           ix->info.pq_m, &ix->faiss);
    }
    am_free(unit);
    if (s != AM_OK) {
        am_knn_index_free(ix);
        return s;
    }
    *out = ix;
    return AM_OK;
}

void am_knn_index_free(am_knn_index *ix)
{
    if (!ix) return;
    am_faiss_free(ix->faiss);
    free(ix);
}

const am_knn_index_info *am_knn_index_get_info(const am_knn_index *ix) { return &ix->info; }

am_status am_knn_index_fresh(const am_knn_index *ix, const float *x, int64_t n, int64_t dim)
{
    const am_knn_index_info *f = &ix->info;
    if (f->n != n || f->dim != dim)
        return am_error(AM_ERR_VALUE, "stale index: built from %lld x %lld embeddings, these are %lld x %lld",
                        (long long)f->n, (long long)f->dim, (long long)n, (long long)dim);
    uint64_t h = am_embeddings_fingerprint(x, n, dim);
    if (h != f->fingerprint)
        return am_error(AM_ERR_VALUE,
                        "stale index: built from other embeddings of the same size (data hash %016llx, now %016llx)",
                        (unsigned long long)f->fingerprint, (unsigned long long)h);
    return AM_OK;
}

/* The header: magic, then little-endian 64-bit fields (x86 and ARM alike), the last a hash of
 * FAISS's bytes, so that a changed byte is caught before FAISS reads it (its reader trusts the
 * sizes it finds and may allocate whatever they say). */
static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

enum {
    F_VERSION = 8,
    F_TYPE = 16,
    F_METRIC = 24,
    F_N = 32,
    F_DIM = 40,
    F_NLIST = 48,
    F_NPROBE = 56,
    F_PQM = 64,
    F_PRINT = 72,
    F_LEN = 80,
    F_HASH = 88
};

am_status am_knn_index_save(const am_knn_index *ix, const char *path)
{
    uint8_t *bytes = NULL, head[HEADER_BYTES] = {0};
    size_t len = 0;
    am_status s = am_faiss_serialize(ix->faiss, &bytes, &len);
    if (s != AM_OK) return am_error_prefix(s, "%s", path);
    const am_knn_index_info *f = &ix->info;
    memcpy(head, MAGIC, 8);
    put64(head + F_VERSION, 1);
    put64(head + F_TYPE, (uint64_t)f->type);
    put64(head + F_METRIC, (uint64_t)f->metric);
    put64(head + F_N, (uint64_t)f->n);
    put64(head + F_DIM, (uint64_t)f->dim);
    put64(head + F_NLIST, (uint64_t)f->nlist);
    put64(head + F_NPROBE, (uint64_t)f->nprobe);
    put64(head + F_PQM, (uint64_t)f->pq_m);
    put64(head + F_PRINT, f->fingerprint);
    put64(head + F_LEN, (uint64_t)len);
    am_atomic_file af;
    s = am_atomic_open(&af, path, 1);
    if (s == AM_OK) {
        put64(head + F_HASH, lane_hash(bytes, len, len, 0));
        if (fwrite(head, 1, sizeof head, af.fp) != sizeof head || fwrite(bytes, 1, len, af.fp) != len) {
            s = am_error(AM_ERR_IO, "%s: write failed: %s", path, am_errno_text());
            am_atomic_abort(&af);
        } else {
            s = am_atomic_commit(&af);
        }
    }
    free(bytes);
    return s;
}

static am_status read_all(const char *path, uint8_t **out, size_t *len)
{
    *out = NULL;
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return am_error(errno == ENOENT ? AM_ERR_NOTFOUND : AM_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    long size = fseek(fp, 0, SEEK_END) == 0 ? ftell(fp) : -1;
    uint8_t *b = size >= 0 && fseek(fp, 0, SEEK_SET) == 0 ? malloc((size_t)size + 1) : NULL;
    am_status s = size < 0 ? am_error(AM_ERR_IO, "%s: cannot read: %s", path, am_errno_text())
                  : !b     ? am_error(AM_ERR_NOMEM, "%s: out of memory for %ld bytes", path, size)
                  : fread(b, 1, (size_t)size, fp) != (size_t)size
                      ? am_error(AM_ERR_IO, "%s: cannot read: %s", path, am_errno_text())
                      : AM_OK;
    fclose(fp);
    if (s != AM_OK) {
        free(b);
        return s;
    }
    *out = b;
    *len = (size_t)size;
    return AM_OK;
}

static am_status parse_header(const char *path, const uint8_t *b, size_t len, am_knn_index_info *f, uint64_t *flen)
{
    if (len < HEADER_BYTES || memcmp(b, MAGIC, 8) != 0)
        return am_error(AM_ERR_FORMAT, "%s: not an astromorph index (rebuild it with 'astromorph index')", path);
    if (get64(b + F_VERSION) != 1)
        return am_error(AM_ERR_FORMAT, "%s: index format version %llu, this program reads 1", path,
                        (unsigned long long)get64(b + F_VERSION));
    uint64_t type = get64(b + F_TYPE), metric = get64(b + F_METRIC);
    f->n = (int64_t)get64(b + F_N), f->dim = (int64_t)get64(b + F_DIM);
    f->nlist = (int64_t)get64(b + F_NLIST), f->nprobe = (int64_t)get64(b + F_NPROBE);
    f->pq_m = (int64_t)get64(b + F_PQM), f->fingerprint = get64(b + F_PRINT);
    *flen = get64(b + F_LEN);
    if (type < AM_INDEX_FLAT || type > AM_INDEX_HNSW || metric > AM_METRIC_EUCLIDEAN || f->n < 1 || f->dim < 1)
        return am_error(AM_ERR_FORMAT, "%s: corrupt index header", path);
    f->type = (am_index_type)type, f->metric = (am_metric)metric;
    if (*flen != len - HEADER_BYTES)
        return am_error(AM_ERR_FORMAT, "%s: %s index: %llu bytes of FAISS data, the header says %llu", path,
                        len - HEADER_BYTES < *flen ? "truncated" : "overlong", (unsigned long long)(len - HEADER_BYTES),
                        (unsigned long long)*flen);
    if (lane_hash(b + HEADER_BYTES, (size_t)*flen, *flen, 0) != get64(b + F_HASH))
        return am_error(AM_ERR_FORMAT, "%s: corrupt index (its bytes do not match their checksum)", path);
    return AM_OK;
}

am_status am_knn_index_load(const char *path, am_knn_index **out)
{
    *out = NULL;
    if (!am_index_available())
        return am_error(AM_ERR_VALUE, "%s: this build has no FAISS to read the index with", path);
    uint8_t *b = NULL;
    size_t len = 0;
    AM_TRY(read_all(path, &b, &len));
    am_knn_index *ix = calloc(1, sizeof *ix);
    uint64_t flen = 0;
    am_status s = ix ? parse_header(path, b, len, &ix->info, &flen) : am_error(AM_ERR_NOMEM, "%s: out of memory", path);
    if (s == AM_OK) {
        s = am_faiss_deserialize(b + HEADER_BYTES, (size_t)flen, ix->info.n, ix->info.dim, &ix->faiss);
        if (s != AM_OK) s = am_error_prefix(s, "%s", path);
    }
    free(b);
    if (s != AM_OK) {
        am_knn_index_free(ix);
        return s;
    }
    *out = ix;
    return AM_OK;
}

am_status am_knn_index_search(const am_knn_index *ix, const float *q, int64_t nq, int k, int64_t *labels)
{
    if (ix->info.metric != AM_METRIC_COSINE) return am_faiss_search(ix->faiss, q, nq, k, labels);
    float *u = am_unit_rows(q, nq, ix->info.dim);
    am_status s = u ? am_faiss_search(ix->faiss, u, nq, k, labels)
                    : am_error(AM_ERR_NOMEM, "index: out of memory for %lld queries", (long long)nq);
    am_free(u);
    return s;
}

am_status am_knn_index_centres(const am_knn_index *ix, float **centres, int64_t *nlist)
{
    return am_faiss_centres(ix->faiss, centres, nlist);
}

int am_knn_index_candidates(const am_knn_index *ix, int k)
{
    int64_t c = (int64_t)(ix->info.type == AM_INDEX_IVFPQ ? PQ_FACTOR : 1) * k + MARGIN;
    return (int)(c < ix->info.n ? c : ix->info.n);
}

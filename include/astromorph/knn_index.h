/* A nearest-neighbour index over embeddings, built once and saved beside them (`astromorph
 * index`, exported/<model>.faiss), then used by similar, the t-SNE kNN graph and the outlier
 * scores. FAISS underneath (Debian's libfaiss); without it every function here fails with a
 * message and the exact searches serve. Beside FAISS's bytes the file records what the index
 * was built from (rows, columns, metric and a hash of the float data), so an index left over
 * from earlier embeddings is found stale instead of giving neighbours of other rows. */
#ifndef ASTROMORPH_KNN_INDEX_H
#define ASTROMORPH_KNN_INDEX_H

#include <stdint.h>

#include "astromorph/similarity.h"
#include "astromorph/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    AM_INDEX_AUTO, /* by size: am_knn_index_type_for */
    AM_INDEX_FLAT, /* exhaustive: the exact answer, n · dim per query */
    AM_INDEX_IVF, /* IVF-flat: nprobe of nlist lists searched; the rows kept as floats */
    AM_INDEX_IVFPQ, /* IVF-PQ: rows kept as pq_m-byte codes, for sets too large to hold as floats */
    AM_INDEX_HNSW /* HNSW graph: fast, but its graph depends on thread timing (not reproducible) */
} am_index_type;

/* Flat below this many rows: a query's full scan is still short (docs/analysis.md). */
enum { AM_INDEX_FLAT_MAX_ROWS = 100000 };
/* IVF-flat up to this many rows (and while its floats take under half the free memory). */
#define AM_INDEX_IVF_MAX_ROWS 4000000LL

typedef struct am_index_options {
    am_index_type type; /* default AM_INDEX_AUTO */
    am_metric metric; /* default cosine (rows made unit length, inner product) */
    int64_t nlist; /* IVF lists; 0: 4·√n, at most n / 39 (FAISS's training minimum) */
    int64_t nprobe; /* IVF lists searched per query; 0: 32, at most nlist */
    int64_t pq_m; /* IVF-PQ bytes a row; 0: the largest divisor of dim up to dim / 4 */
} am_index_options;

void am_index_options_default(am_index_options *o);
am_status am_index_type_parse(const char *s, const char *what, am_index_type *t);
const char *am_index_type_name(am_index_type t);
/* What AM_INDEX_AUTO picks for n × dim rows with avail_bytes of free memory (0: read
 * MemAvailable from /proc/meminfo). */
am_index_type am_index_type_for(int64_t n, int64_t dim, uint64_t avail_bytes);
/* Whether this build has FAISS. */
int am_index_available(void);

/* A 64-bit hash of n × dim floats (their bytes, n and dim), the index's record of its data. */
uint64_t am_embeddings_fingerprint(const float *x, int64_t n, int64_t dim);

typedef struct am_knn_index am_knn_index;

typedef struct am_knn_index_info {
    am_index_type type; /* never AM_INDEX_AUTO */
    am_metric metric;
    int64_t n, dim, nlist, nprobe, pq_m; /* nlist, nprobe: IVF; pq_m: IVF-PQ; else 0 */
    uint64_t fingerprint; /* am_embeddings_fingerprint of the rows it was built from */
} am_knn_index_info;

/* An index over the n rows of x (NULL o: defaults). Rows with NaN or Inf are refused. */
am_status am_knn_index_build(const float *x, int64_t n, int64_t dim, const am_index_options *o, am_knn_index **out);
/* Written atomically (a temporary beside path, renamed); read back whole. A file that is not an
 * index, is truncated or whose bytes were changed fails with AM_ERR_FORMAT naming it. */
am_status am_knn_index_save(const am_knn_index *ix, const char *path);
am_status am_knn_index_load(const char *path, am_knn_index **out);
const am_knn_index_info *am_knn_index_get_info(const am_knn_index *ix);
/* AM_OK when ix was built from exactly these rows; otherwise AM_ERR_VALUE saying it is stale. */
am_status am_knn_index_fresh(const am_knn_index *ix, const float *x, int64_t n, int64_t dim);
void am_knn_index_free(am_knn_index *ix);

/* FAISS's k best rows for each of the nq queries q (nq × dim, raw: made unit here for cosine),
 * best first by its float scores; -1 where fewer were found. */
am_status am_knn_index_search(const am_knn_index *ix, const float *q, int64_t nq, int k, int64_t *labels);
/* How many candidates to ask the index for when k are wanted after an exact re-score: a margin
 * for float rounding, and more for IVF-PQ, whose scores are approximate. */
int am_knn_index_candidates(const am_knn_index *ix, int k);

/* am_similar through the index: its candidates re-scored exactly in double. x must be the rows
 * the index was built from. Falls back to the exact search when the index finds fewer than k
 * rows outside `exclude`, or a tie at the k-th score may reach past its candidates, so the
 * scores and their order are always exact; only which rows an approximate index finds can
 * differ. */
am_status am_knn_index_similar(const am_knn_index *ix, const float *x, const float *q, int k, const uint8_t *exclude,
                               am_neighbor *out, int *found);

typedef struct am_index_check {
    int64_t queries; /* rows of x drawn (seeded) as queries */
    int k;
    double recall; /* recall@k of the candidates after the exact re-score, as the commands get them */
    double recall_raw; /* recall@k of FAISS's own top k */
    double index_seconds; /* the index's search for every query at once */
    double exact_seconds; /* the exact search for the same queries */
} am_index_check;

/* Recall@k of ix against the exact search, for `queries` rows of x drawn with seed (all rows
 * when queries >= n), each its own nearest neighbour left out. A neighbour counts as found when
 * its exact score is as good as the exact k-th's, so tied rows are interchangeable. */
am_status am_knn_index_check(const am_knn_index *ix, const float *x, int64_t queries, int k, uint64_t seed,
                             am_index_check *out);

#ifdef __cplusplus
}
#endif
#endif

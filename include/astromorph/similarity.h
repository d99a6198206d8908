/* Exact nearest-neighbour search over embeddings, on BLAS: one matrix-vector product per query
 * (sgemv), or blocked matrix products (sgemm) for the k nearest neighbours of every row. The
 * few best candidates are re-scored exactly in double precision, so results match brute force. */
#ifndef ASTROMORPH_SIMILARITY_H
#define ASTROMORPH_SIMILARITY_H

#include <stdint.h>

#include "astromorph/embeddings.h"
#include "astromorph/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    AM_METRIC_COSINE, /* score = cosine similarity in [-1, 1]; higher is more similar */
    AM_METRIC_EUCLIDEAN /* score = Euclidean distance; lower is more similar */
} am_metric;

/* "cosine" / "euclidean" (error naming `what`, e.g. "--metric", otherwise). */
am_status am_metric_parse(const char *s, const char *what, am_metric *m);
const char *am_metric_name(am_metric m);

typedef struct am_neighbor {
    int64_t index;
    float score;
} am_neighbor;

/* Squared row norms (as float) of an n × dim matrix; computed once and reused across queries. */
am_status am_row_sqnorms(const float *x, int64_t n, int64_t dim, float *sqnorms);

/* The k best rows of x for query q (dim floats), best first. `exclude` (n flags, or NULL) marks
 * rows never returned. sqnorms: from am_row_sqnorms, or NULL to compute them here. Writes
 * *found = min(k, rows not excluded) entries into out. A zero vector has cosine 0 to all. */
am_status am_similar(const float *x, int64_t n, int64_t dim, const float *sqnorms, const float *q, am_metric metric,
                     int k, const uint8_t *exclude, am_neighbor *out, int *found);

/* Over MPI ranks (include/astromorph/dist.h), called by every rank together: this rank holds
 * global rows row0 .. row0 + n − 1 of x (the shares in rank order). am_similar over all ranks'
 * rows (out's indices global, on every rank), and every local row's k nearest among all rows
 * (idx global), each equal to what one process holding every row finds. */
am_status am_similar_ranks(const float *x, int64_t n, int64_t row0, int64_t dim, const float *q, am_metric metric,
                           int k, const uint8_t *exclude, am_neighbor *out, int *found);
am_status am_knn_ranks(const float *x, int64_t n, int64_t row0, int64_t dim, am_metric metric, int k, int64_t *idx,
                       float *score);

/* Exclusion flags for a query row of e: the row itself, and, unless keep_same_object, every row
 * whose OBJECT equals the query's (when the query's OBJECT is known, i.e. not "N/A" or empty). */
am_status am_similar_exclusions(const am_embeddings *e, int64_t query, int keep_same_object, uint8_t *exclude);
/* The same for a query given by its OBJECT and its row among e's (-1: not one of them), as a rank
 * holding a share of the rows needs it. */
am_status am_similar_exclusions_object(const am_embeddings *e, int64_t self, const char *object, int keep_same_object,
                                       uint8_t *exclude);

/* The k nearest other rows of every row (self excluded), best first: idx and score are n × k.
 * Blocked sgemm, O(n² dim); n > k >= 1. Deterministic for any thread count. */
am_status am_knn_all(const float *x, int64_t n, int64_t dim, am_metric metric, int k, int64_t *idx, float *score);

#ifdef __cplusplus
}
#endif
#endif

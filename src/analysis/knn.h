/* The k nearest other rows of every row, as t-SNE's affinities and the outlier scores need
 * them (internal to src/analysis): the exact blocked-sgemm search (am_knn_all) for small sets,
 * our own inverted lists scanned with blocked sgemm (knn_lists.c) for large ones, a FAISS index
 * built for the search when asked, or the caller's saved index (knn_index.h) at any size. Either way the candidates are re-scored exactly in double and ordered
 * as am_knn_all orders them (badness, then the lower row), so only which rows the approximate
 * index finds can differ from the exact search, never their scores or the order of ties. */
#ifndef AM_ANALYSIS_KNN_H
#define AM_ANALYSIS_KNN_H

#include <stdint.h>

#include "astromorph/knn_index.h"
#include "astromorph/similarity.h"

typedef enum {
    AM_KNN_AUTO, /* exact below AM_KNN_LISTS_MIN_ROWS rows, our lists above */
    AM_KNN_EXACT, /* am_knn_all: blocked sgemm, O(n² dim) */
    AM_KNN_FLAT, /* FAISS flat index (IndexFlatL2 / IndexFlatIP): exhaustive, the exact answer */
    AM_KNN_IVF, /* FAISS IVF-flat: approximate, O(n · n/nlist · nprobe · dim) */
    /* am_knn_lists: k-means lists, each probed list one sgemm per group of queries; nprobe
     * raised until a 500-row sample's recall@k against the exact search is 0.96 (the exact
     * search instead when that takes over half the lists). No FAISS. */
    AM_KNN_LISTS
} am_knn_method;

/* Exact search is fast enough up to here (20 000 × 128 rows take seconds); the lists pay for
 * their k-means and recall check above (measured: docs/analysis.md). */
enum { AM_KNN_LISTS_MIN_ROWS = 50000 };

/* What a search did, for the benchmarks and tests: the method (AM_KNN_EXACT where the lists found
 * that the recall needs over half of them probed, and searched exactly instead), and for the
 * lists their number, the lists probed and the sample recall that chose them (−1 when none was
 * measured). */
typedef struct {
    am_knn_method method;
    int64_t nlist, nprobe;
    double recall;
    int64_t recall_queries;
    double lists_s, tune_s, search_s; /* AM_KNN_LISTS: seconds building lists, choosing nprobe, searching */
} am_knn_report;

typedef struct {
    am_knn_method method; /* AM_KNN_AUTO also reads AM_KNN_METHOD (exact, flat, ivf or lists) */
    /* IVF lists; 0: 4·√n, at most n / 39 (FAISS's training minimum); lists: 2·√n, at most n / 16 */
    int64_t nlist;
    /* lists searched per query, at most nlist; 0: 32 for IVF, tuned to the recall for lists */
    int64_t nprobe;
    /* A saved index over these rows (knn_index.h; the caller has checked it is fresh), used
     * instead of building one when its metric is the search's; NULL: none */
    const am_knn_index *index;
    /* AM_KNN_LISTS: nlist × dim centres for the lists (in the searched space: unit rows for
     * cosine), as knn.c takes them from an IVF index; NULL: k-means on a sample */
    const float *centres;
    am_knn_report *report; /* filled in when not NULL */
} am_knn_options;

void am_knn_options_default(am_knn_options *o);
/* Whether this build has FAISS (AM_KNN_FLAT and AM_KNN_IVF fail without it). */
int am_knn_have_faiss(void);
am_status am_knn_method_parse(const char *s, const char *what, am_knn_method *m);
/* AM_ERR_NUMERIC naming the first row with a NaN or Inf. */
am_status am_knn_check_finite(const float *x, int64_t n, int64_t dim);

/* As am_knn_all (idx, score n × k, best first, self excluded; n > k >= 1), by the method o
 * says (NULL: defaults). Rows with a NaN or Inf are refused (AM_ERR_NUMERIC). Deterministic for
 * any thread count with every method. With o->index (of o's metric) the index serves instead,
 * whatever the method: a flat or HNSW index's candidates are re-scored; an IVF or IVF-PQ index's
 * centres split our lists (AM_KNN_LISTS), which search a whole graph far faster than FAISS's
 * query-at-a-time scan of the same lists. */
am_status am_knn_search(const float *x, int64_t n, int64_t dim, am_metric metric, int k, const am_knn_options *o,
                        int64_t *idx, float *score);

/* An IVF or IVF-PQ index's coarse centres (nlist × dim, malloc'd; unit rows' space for cosine);
 * AM_ERR_VALUE for a flat or HNSW index. */
am_status am_knn_index_centres(const am_knn_index *ix, float **centres, int64_t *nlist);

/* The AM_KNN_LISTS search behind am_knn_search (which has checked the arguments). */
am_status am_knn_lists(const float *x, int64_t n, int64_t dim, am_metric metric, int k, const am_knn_options *o,
                       int64_t *idx, float *score);

/* The k-NN graph of rows split over MPI ranks (each rank its share: global rows row0 ..
 * row0 + n − 1; idx global rows, n × k, as am_knn_ranks): exact (am_knn_ranks) below
 * AM_KNN_LISTS_MIN_ROWS rows in all, our lists above (am_knn_lists_ranks); AM_KNN_METHOD=exact
 * or lists forces one. Every rank calls it. */
am_status am_knn_search_ranks(const float *x, int64_t n, int64_t row0, int64_t dim, am_metric metric, int k,
                              int64_t *idx, float *score);
/* am_knn_lists over ranks (knn_lists_ranks.c): the same centres, nprobe and candidates as one
 * process given all the rows finds, the shares' lists passed round the ring. */
am_status am_knn_lists_ranks(const float *x, int64_t n, int64_t row0, int64_t dim, am_metric metric, int k,
                             const am_knn_options *o, int64_t *idx, float *score);

#endif

/* The few FAISS calls astromorph makes, as C (src/analysis/faiss_shim.cpp): Debian's libfaiss
 * is C++ only. Every C++ exception becomes a status with its message ("FAISS: ..."). Built only
 * with FAISS (AM_HAVE_FAISS). */
#ifndef AM_ANALYSIS_FAISS_SHIM_H
#define AM_ANALYSIS_FAISS_SHIM_H

#include <stddef.h>
#include <stdint.h>

#include "astromorph/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct am_faiss_index am_faiss_index;

typedef enum { AM_FAISS_FLAT, AM_FAISS_IVF, AM_FAISS_IVFPQ, AM_FAISS_HNSW } am_faiss_kind;

/* An index over the n rows of x, inner product (for cosine on unit rows) or squared L2:
 * exhaustive flat; IVF-flat or IVF-PQ with nlist lists (k-means on a fixed-seed sample of x),
 * nprobe of them searched per query, PQ codes of pq_m bytes a row; or HNSW (32 links a node). */
am_status am_faiss_build(const float *x, int64_t n, int64_t dim, int inner_product, am_faiss_kind kind, int64_t nlist,
                         int64_t nprobe, int64_t pq_m, am_faiss_index **out);
/* The k best rows for each of the nq queries q (nq × dim), best first by FAISS's float scores,
 * into labels (nq × k; -1 where fewer were found). */
am_status am_faiss_search(const am_faiss_index *ix, const float *q, int64_t nq, int k, int64_t *labels);
/* FAISS's own serialisation (write_index) into malloc'd bytes, and back: a reader that finds
 * anything but an index of dim columns and n rows fails (AM_ERR_FORMAT). */
am_status am_faiss_serialize(const am_faiss_index *ix, uint8_t **bytes, size_t *len);
am_status am_faiss_deserialize(const uint8_t *bytes, size_t len, int64_t n, int64_t dim, am_faiss_index **out);
/* The coarse centres of an IVF or IVF-PQ index (nlist × dim, malloc'd), in the space it was
 * built on (unit rows for cosine); AM_ERR_VALUE for flat and HNSW, which have none. */
am_status am_faiss_centres(const am_faiss_index *ix, float **centres, int64_t *nlist);
void am_faiss_free(am_faiss_index *ix);

#ifdef __cplusplus
}
#endif
#endif

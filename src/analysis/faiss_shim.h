/* The few FAISS calls astromorph makes, as C (src/analysis/faiss_shim.cpp): Debian's libfaiss
 * is C++ only. Every C++ exception becomes a status with its message ("FAISS: ..."). Built only
 * with FAISS (AM_HAVE_FAISS). */
#ifndef AM_ANALYSIS_FAISS_SHIM_H
#define AM_ANALYSIS_FAISS_SHIM_H

#include <stdint.h>

#include "astromorph/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct am_faiss_index am_faiss_index;

/* An index over the n rows of x: exhaustive flat when nlist is 0, else IVF-flat with nlist
 * lists (k-means on a fixed-seed sample of x), nprobe of them searched per query. Inner product
 * (for cosine on unit rows) or squared L2. */
am_status am_faiss_build(const float *x, int64_t n, int64_t dim, int inner_product, int64_t nlist, int64_t nprobe,
                         am_faiss_index **out);
/* The k best rows for each of the nq queries q (nq × dim), best first by FAISS's float scores,
 * into labels (nq × k; -1 where fewer were found). */
am_status am_faiss_search(const am_faiss_index *ix, const float *q, int64_t nq, int k, int64_t *labels);
void am_faiss_free(am_faiss_index *ix);

#ifdef __cplusplus
}
#endif
#endif

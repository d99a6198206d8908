/* faiss_shim.h in a build without FAISS: every call fails with the reason, so the callers need
 * no #ifdef of their own. */
#include "faiss_shim.h"

static am_status none(void)
{
    return am_error(AM_ERR_VALUE, "this build has no FAISS (install libfaiss-dev with scripts/install-deps and "
                                  "reconfigure)");
}

am_status am_faiss_build(const float *x, int64_t n, int64_t dim, int inner_product, am_faiss_kind kind, int64_t nlist,
                         int64_t nprobe, int64_t pq_m, am_faiss_index **out)
{
    (void)x, (void)n, (void)dim, (void)inner_product, (void)kind, (void)nlist, (void)nprobe, (void)pq_m;
    *out = NULL;
    return none();
}

am_status am_faiss_search(const am_faiss_index *ix, const float *q, int64_t nq, int k, int64_t *labels)
{
    (void)ix, (void)q, (void)nq, (void)k, (void)labels;
    return none();
}

am_status am_faiss_serialize(const am_faiss_index *ix, uint8_t **bytes, size_t *len)
{
    (void)ix;
    *bytes = NULL;
    *len = 0;
    return none();
}

am_status am_faiss_deserialize(const uint8_t *bytes, size_t len, int64_t n, int64_t dim, am_faiss_index **out)
{
    (void)bytes, (void)len, (void)n, (void)dim;
    *out = NULL;
    return none();
}

am_status am_faiss_centres(const am_faiss_index *ix, float **centres, int64_t *nlist)
{
    (void)ix;
    *centres = NULL;
    *nlist = 0;
    return none();
}

void am_faiss_free(am_faiss_index *ix) { (void)ix; }

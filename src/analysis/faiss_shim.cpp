/* FAISS behind a C interface (faiss_shim.h). Nothing may unwind into C: every entry point
 * catches all exceptions and reports them as a status. */
#include "faiss_shim.h"

#include <faiss/IndexFlat.h>
#include <faiss/IndexIVFFlat.h>
#include <faiss/impl/FaissException.h>

#include <exception>
#include <memory>
#include <new>
#include <vector>

struct am_faiss_index {
    std::unique_ptr<faiss::Index> index;
    int64_t dim;
};

static am_status caught(const char *what)
{
    try {
        throw;
    } catch (const std::bad_alloc &) {
        return am_error(AM_ERR_NOMEM, "FAISS: out of memory while %s", what);
    } catch (const faiss::FaissException &e) {
        return am_error(AM_ERR_BACKEND, "FAISS: %s: %s", what, e.what());
    } catch (const std::exception &e) {
        return am_error(AM_ERR_BACKEND, "FAISS: %s: %s", what, e.what());
    } catch (...) {
        return am_error(AM_ERR_BACKEND, "FAISS: %s: unknown exception", what);
    }
}

extern "C" am_status am_faiss_build(const float *x, int64_t n, int64_t dim, int inner_product, int64_t nlist,
                                    int64_t nprobe, am_faiss_index **out)
{
    *out = nullptr;
    if (n < 1 || dim < 1 || nlist < 0 || (nlist > 0 && nprobe < 1))
        return am_error(AM_ERR_VALUE, "FAISS: bad index size (n = %lld, dim = %lld, nlist = %lld, nprobe = %lld)",
                        (long long)n, (long long)dim, (long long)nlist, (long long)nprobe);
    try {
        auto ix = std::make_unique<am_faiss_index>();
        ix->dim = dim;
        const faiss::MetricType metric = inner_product ? faiss::METRIC_INNER_PRODUCT : faiss::METRIC_L2;
        if (nlist == 0) {
            ix->index = std::make_unique<faiss::IndexFlat>(dim, metric);
        } else {
            /* IVF rather than HNSW: HNSW's graph depends on the order its threads insert rows,
             * so a deterministic one is built on one thread (13 s for 20 000 × 128 here, against
             * 0.8 s). IVF's k-means runs on a sample drawn with a fixed seed, and FAISS splits its
             * assignment, centroid sums and list filling so that each result is computed by one
             * thread in row order: the same index at any thread count. */
            auto quantizer = std::make_unique<faiss::IndexFlat>(dim, metric);
            auto ivf = std::make_unique<faiss::IndexIVFFlat>(quantizer.get(), dim, (size_t)nlist, metric);
            quantizer.release();
            ivf->own_fields = true;
            ivf->cp.seed = 1234;
            /* 64 rows a list and 10 rounds: lists good enough to probe, at a tenth of the default cost */
            ivf->cp.max_points_per_centroid = 64;
            ivf->cp.niter = 10;
            ivf->cp.verbose = false;
            /* knn.c keeps nlist <= n / 39 itself but for tiny sets (one list); no warning for those */
            ivf->cp.min_points_per_centroid = 1;
            ivf->nprobe = (size_t)(nprobe < nlist ? nprobe : nlist);
            ivf->train(n, x);
            ix->index = std::move(ivf);
        }
        ix->index->add(n, x);
        *out = ix.release();
        return AM_OK;
    } catch (...) {
        return caught("building the index");
    }
}

extern "C" am_status am_faiss_search(const am_faiss_index *ix, const float *q, int64_t nq, int k, int64_t *labels)
{
    if (k < 1 || nq < 0) return am_error(AM_ERR_VALUE, "FAISS: bad search (k = %d, %lld queries)", k, (long long)nq);
    if (nq == 0) return AM_OK;
    try {
        std::vector<float> dist((size_t)nq * (size_t)k);
        std::vector<faiss::Index::idx_t> got((size_t)nq * (size_t)k);
        ix->index->search(nq, q, k, dist.data(), got.data());
        for (size_t i = 0; i < got.size(); i++) labels[i] = (int64_t)got[i];
        return AM_OK;
    } catch (...) {
        return caught("searching the index");
    }
}

extern "C" void am_faiss_free(am_faiss_index *ix) { delete ix; }

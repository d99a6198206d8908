/* FAISS behind a C interface (faiss_shim.h). Nothing may unwind into C: every entry point
 * catches all exceptions and reports them as a status. */
#include "faiss_shim.h"

#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIVFFlat.h>
#include <faiss/IndexIVFPQ.h>
#include <faiss/impl/FaissException.h>
#include <faiss/impl/io.h>
#include <faiss/index_io.h>

#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <new>
#include <vector>

#include <omp.h>

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

/* IVF rather than HNSW by default: HNSW's graph depends on the order its threads insert rows,
 * so a deterministic one is built on one thread (13 s for 20 000 × 128 here, against 0.8 s).
 * IVF's k-means runs on a sample drawn with a fixed seed, on one thread: on an AVX2 AMD EPYC
 * (Debian's FAISS 1.7.3 and OpenBLAS 0.3.21) its centroids on two threads differed from those on
 * one in the last bits, which moved near-tied rows to other lists (test_knn). Filling the lists
 * and searching compute each result on one thread in row order: the same index and answers at
 * any thread count. */
struct one_thread {
    int saved = omp_get_max_threads();
    one_thread() { omp_set_num_threads(1); }
    ~one_thread() { omp_set_num_threads(saved); }
};

static void ivf_settings(faiss::IndexIVF *ivf, int64_t nlist, int64_t nprobe)
{
    ivf->own_fields = true;
    ivf->cp.seed = 1234;
    /* 64 rows a list and 10 rounds: lists good enough to probe, at a tenth of the default cost */
    ivf->cp.max_points_per_centroid = 64;
    ivf->cp.niter = 10;
    ivf->cp.verbose = false;
    /* knn.c keeps nlist <= n / 39 itself but for tiny sets (one list); no warning for those */
    ivf->cp.min_points_per_centroid = 1;
    ivf->nprobe = (size_t)(nprobe < nlist ? nprobe : nlist);
}

extern "C" am_status am_faiss_build(const float *x, int64_t n, int64_t dim, int inner_product, am_faiss_kind kind,
                                    int64_t nlist, int64_t nprobe, int64_t pq_m, am_faiss_index **out)
{
    *out = nullptr;
    const int ivf = kind == AM_FAISS_IVF || kind == AM_FAISS_IVFPQ;
    if (n < 1 || dim < 1 || (ivf && (nlist < 1 || nprobe < 1)) ||
        (kind == AM_FAISS_IVFPQ && (pq_m < 1 || dim % pq_m != 0)))
        return am_error(AM_ERR_VALUE,
                        "FAISS: bad index size (n = %lld, dim = %lld, nlist = %lld, nprobe = %lld, pq_m = %lld)",
                        (long long)n, (long long)dim, (long long)nlist, (long long)nprobe, (long long)pq_m);
    try {
        auto ix = std::make_unique<am_faiss_index>();
        ix->dim = dim;
        const faiss::MetricType metric = inner_product ? faiss::METRIC_INNER_PRODUCT : faiss::METRIC_L2;
        if (kind == AM_FAISS_FLAT) {
            ix->index = std::make_unique<faiss::IndexFlat>(dim, metric);
        } else if (kind == AM_FAISS_HNSW) {
            ix->index = std::make_unique<faiss::IndexHNSWFlat>((int)dim, 32, metric);
        } else {
            auto quantizer = std::make_unique<faiss::IndexFlat>(dim, metric);
            std::unique_ptr<faiss::IndexIVF> iv;
            if (kind == AM_FAISS_IVF)
                iv = std::make_unique<faiss::IndexIVFFlat>(quantizer.get(), dim, (size_t)nlist, metric);
            else {
                auto pq = std::make_unique<faiss::IndexIVFPQ>(quantizer.get(), dim, (size_t)nlist, (size_t)pq_m, 8,
                                                              metric);
                /* 256 codes per sub-quantiser want 10 000 rows to be good; auto picks IVF-PQ only
                 * for millions, so a smaller set asked for it is served without a warning */
                pq->pq.cp.min_points_per_centroid = 1;
                iv = std::move(pq);
            }
            quantizer.release();
            ivf_settings(iv.get(), nlist, nprobe);
            {
                one_thread guard;
                iv->train(n, x);
            }
            ix->index = std::move(iv);
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

extern "C" am_status am_faiss_serialize(const am_faiss_index *ix, uint8_t **bytes, size_t *len)
{
    *bytes = nullptr;
    *len = 0;
    try {
        faiss::VectorIOWriter w;
        faiss::write_index(ix->index.get(), &w);
        uint8_t *b = (uint8_t *)std::malloc(w.data.size() ? w.data.size() : 1);
        if (!b) throw std::bad_alloc();
        std::memcpy(b, w.data.data(), w.data.size());
        *bytes = b;
        *len = w.data.size();
        return AM_OK;
    } catch (...) {
        return caught("writing the index");
    }
}

extern "C" am_status am_faiss_deserialize(const uint8_t *bytes, size_t len, int64_t n, int64_t dim,
                                          am_faiss_index **out)
{
    *out = nullptr;
    try {
        faiss::VectorIOReader r;
        r.data.assign(bytes, bytes + len);
        auto ix = std::make_unique<am_faiss_index>();
        ix->index.reset(faiss::read_index(&r));
        ix->dim = dim;
        if (ix->index->d != dim || ix->index->ntotal != n || r.rp != len)
            return am_error(AM_ERR_FORMAT, "FAISS: the index holds %lld rows of %d columns, not %lld of %lld",
                            (long long)ix->index->ntotal, ix->index->d, (long long)n, (long long)dim);
        *out = ix.release();
        return AM_OK;
    } catch (...) {
        return caught("reading the index");
    }
}

extern "C" am_status am_faiss_centres(const am_faiss_index *ix, float **centres, int64_t *nlist)
{
    *centres = nullptr;
    *nlist = 0;
    const auto *ivf = dynamic_cast<const faiss::IndexIVF *>(ix->index.get());
    if (!ivf) return am_error(AM_ERR_VALUE, "FAISS: a flat or HNSW index has no lists");
    try {
        std::unique_ptr<float, decltype(&std::free)> c(
            (float *)std::malloc(ivf->nlist * (size_t)ix->dim * sizeof(float)), &std::free);
        if (!c) throw std::bad_alloc();
        ivf->quantizer->reconstruct_n(0, (faiss::Index::idx_t)ivf->nlist, c.get());
        *centres = c.release();
        *nlist = (int64_t)ivf->nlist;
        return AM_OK;
    } catch (...) {
        return caught("reading the index's centres");
    }
}

extern "C" void am_faiss_free(am_faiss_index *ix) { delete ix; }

#!/usr/bin/python3
"""Debian's python3-faiss on the rows bench_index dumped: the same index as astromorph's
(the same nlist, nprobe, PQ bytes, k-means seed, rounds and sample size), timed the same way:
build, QUERIES queries (the first of a seeded draw), recall@k of FAISS's own top k against an
exact flat search (the query row itself left out), peak RSS.

    build/bench_index 100000 128 100 ivf 1000 10 /tmp/x.f32
    /usr/bin/python3 bench/bench_index.py /tmp/x.f32 128 ivf [QUERIES] [K]
"""
import math
import resource
import sys
import time

import faiss
import numpy as np


def main():
    path, dim, kind = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    queries = int(sys.argv[4]) if len(sys.argv) > 4 else 1000
    k = int(sys.argv[5]) if len(sys.argv) > 5 else 10
    x = np.fromfile(path, dtype=np.float32).reshape(-1, dim)
    n = x.shape[0]
    nlist = max(1, min(round(4 * math.sqrt(n)), max(1, n // 39)))
    nprobe = min(32, nlist)
    pq_m = next((m for m in range(dim // 4, 1, -1) if dim % m == 0), 1)
    if kind == "auto":
        kind = "flat" if n < 100000 else "ivf" if n <= 4000000 else "ivfpq"
    t = time.perf_counter()
    if kind == "flat":
        index = faiss.IndexFlatL2(dim)
    elif kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, 32)
    else:
        quantizer = faiss.IndexFlatL2(dim)
        if kind == "ivf":
            index = faiss.IndexIVFFlat(quantizer, dim, nlist)
        else:
            index = faiss.IndexIVFPQ(quantizer, dim, nlist, pq_m, 8)
            index.pq.cp.min_points_per_centroid = 1
        index.cp.seed = 1234
        index.cp.max_points_per_centroid = 64
        index.cp.niter = 10
        index.cp.min_points_per_centroid = 1
        index.train(x)
        index.nprobe = nprobe
    index.add(x)
    build = time.perf_counter() - t
    rows = np.sort(np.random.default_rng(0).choice(n, size=min(queries, n), replace=False))
    q = x[rows]
    t = time.perf_counter()
    _, got = index.search(q, k + 1)
    search = time.perf_counter() - t
    exact = faiss.IndexFlatL2(dim)
    exact.add(x)
    t = time.perf_counter()
    _, want = exact.search(q, k + 1)
    exact_s = time.perf_counter() - t
    hits = 0
    for i, r in enumerate(rows):
        g = [c for c in got[i] if c != r and c >= 0][:k]
        w = set([c for c in want[i] if c != r][:k])
        hits += sum(c in w for c in g)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    lists = f" nlist {nlist} nprobe {nprobe}" if kind in ("ivf", "ivfpq") else ""
    print(f"python-faiss {kind:5s} n {n} d {dim}{lists} threads {faiss.omp_get_max_threads()}: "
          f"build {build:.2f} s, {len(rows)} queries {search:.3f} s (exact {exact_s:.3f} s), "
          f"recall@{k} {hits / (len(rows) * k):.4f}, peak RSS {rss:.0f} MB")


if __name__ == "__main__":
    main()

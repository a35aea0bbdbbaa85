"""Exact vs IVF vs HNSW on the same vectors: build time, single-query latency, recall@10."""

from __future__ import annotations

import time

import numpy as np

from qa.index import faiss_index as vec

from .corpus import exact_top_k, recall_at_k, synthetic_vectors
from .stats import percentile_ms


def compare_indexes(base: np.ndarray, queries: np.ndarray, n: int, kinds=("flat", "ivf", "hnsw"),
                    repeats: int = 3) -> list[dict]:
    """One row per index kind at `n` vectors (synthetic around `base`), queries searched one by one."""
    vectors = synthetic_vectors(base, n, seed=1)
    truth = exact_top_k(vectors, queries, 10)
    ids = np.arange(n, dtype=np.int64)
    rows = []
    for kind in kinds:
        start = time.perf_counter()
        index = vec.build_vector_index(vectors, ids, kind=kind)
        build = time.perf_counter() - start
        found, times = [], []
        for _ in range(repeats):
            found = []
            for q in queries:
                t = time.perf_counter()
                _, got = vec.search(index, q, 10)
                times.append(time.perf_counter() - t)
                found.append(np.pad(got, (0, 10 - len(got)), constant_values=-1))
        rows.append({"chunks": n, "index": kind, "build_s": round(build, 2),
                     "query_p50_ms": percentile_ms(times, 50), "query_p99_ms": percentile_ms(times, 99),
                     "recall@10": round(recall_at_k(np.array(found), truth), 4)})
        del index
    return rows

"""The FAISS vector index: exact inner product over normalised vectors, with stable ids."""

from __future__ import annotations

import faiss
import numpy as np


def make_vector_index(dim: int, n: int = 0) -> faiss.Index:
    """An empty id-mapped FAISS index suited to about `n` vectors of dimension `dim`.

    Inner product on L2-normalised vectors is cosine similarity.
    """
    return faiss.IndexIDMap2(faiss.IndexFlatIP(dim))


def build_vector_index(vectors: np.ndarray, ids: np.ndarray) -> faiss.Index:
    """Index `vectors` (n, dim) float32 under int64 `ids` (n,)."""
    index = make_vector_index(vectors.shape[1], len(vectors))
    if len(vectors):
        index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32),
                           np.ascontiguousarray(ids, dtype=np.int64))
    return index


def search(index: faiss.Index, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-k (scores, ids) for one query vector (dim,); ids of -1 are padding and removed."""
    k = max(1, min(k, index.ntotal))
    scores, ids = index.search(np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32), k)
    keep = ids[0] >= 0
    return scores[0][keep], ids[0][keep]

"""The vector index: exact or IVF by size, recall against brute force, write/read round trip."""

from __future__ import annotations

import faiss
import numpy as np
import pytest

from qa.index import faiss_index as vec


def clustered(n: int, dim: int = 64, centres: int = 40, seed: int = 0) -> np.ndarray:
    """Unit vectors around a few centres, shaped like text embeddings (not uniform noise)."""
    rng = np.random.default_rng(seed)
    c = rng.standard_normal((centres, dim)).astype(np.float32)
    x = c[rng.integers(0, centres, n)] + 0.6 * rng.standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def brute_force(x: np.ndarray, q: np.ndarray, ids: np.ndarray, k: int) -> np.ndarray:
    return ids[np.argsort(-(q @ x.T), axis=1, kind="stable")[:, :k]]


def test_small_collections_stay_exact():
    assert vec.preferred_kind(vec.EXACT_MAX) == "flat"
    assert vec.preferred_kind(vec.EXACT_MAX + 1) == "ivf"
    x = clustered(500)
    index = vec.build_vector_index(x, np.arange(500, dtype=np.int64))
    assert vec.index_kind(index) == "flat" and isinstance(index, faiss.IndexIDMap2)


@pytest.mark.parametrize("n", [3000, 6000])
def test_switches_to_ivf_above_threshold_with_recall(n, tmp_path):
    x = clustered(n)
    ids = np.arange(n, dtype=np.int64) * 3 + 11  # ids unlike positions: the id map is exercised
    q = clustered(60, seed=5)
    index = vec.build_vector_index(x, ids, exact_max=2000)
    assert isinstance(index, faiss.IndexIDMap2) and vec.index_kind(index) == "ivf"
    assert faiss.extract_index_ivf(index).metric_type == faiss.METRIC_INNER_PRODUCT
    truth = brute_force(x, q, ids, 10)

    def recall(ix) -> float:
        got = [vec.search(ix, v, 10)[1] for v in q]
        return float(np.mean([len(set(g) & set(t)) / 10 for g, t in zip(got, truth, strict=True)]))

    assert recall(index) >= 0.95
    scores, found = vec.search(index, q[0], 5)
    assert np.allclose(scores, np.sort(q[0] @ x[np.searchsorted(ids, found)].T)[::-1], atol=1e-5)

    path = tmp_path / "v.faiss"
    faiss.write_index(index, str(path))
    back = faiss.read_index(str(path))
    assert vec.index_kind(back) == "ivf" and back.ntotal == n
    assert faiss.extract_index_ivf(back).nprobe == faiss.extract_index_ivf(index).nprobe > 1
    assert recall(back) >= 0.95
    assert np.allclose(back.reconstruct(int(ids[7])), x[7])  # stored vectors can be reused


def test_search_keeps_recall_when_stored_nprobe_is_the_faiss_default(tmp_path):
    x = clustered(4000)
    ids = np.arange(4000, dtype=np.int64)
    index = vec.build_vector_index(x, ids, exact_max=1000)
    faiss.extract_index_ivf(index).nprobe = 1  # as an index written by other code would carry
    q = clustered(40, seed=9)
    truth = brute_force(x, q, ids, 10)
    got = [vec.search(index, v, 10)[1] for v in q]
    assert np.mean([len(set(g) & set(t)) / 10 for g, t in zip(got, truth, strict=True)]) >= 0.95


def test_empty_and_tiny_indexes():
    empty = vec.build_vector_index(np.zeros((0, 8), dtype=np.float32), np.zeros(0, dtype=np.int64))
    scores, ids = vec.search(empty, np.ones(8, dtype=np.float32), 3)
    assert len(ids) == 0
    x = clustered(3, dim=8)
    scores, ids = vec.search(vec.build_vector_index(x, np.array([5, 6, 7])), x[1], 10)
    assert list(ids)[0] == 6 and len(ids) == 3


def test_forced_kinds_and_unknown_kind():
    x = clustered(300)
    hnsw = vec.build_vector_index(x, np.arange(300, dtype=np.int64), kind="hnsw")
    assert vec.index_kind(hnsw) == "hnsw" and vec.search(hnsw, x[3], 1)[1][0] == 3
    with pytest.raises(ValueError):
        vec.make_vector_index(8, 10, kind="lsh")


def test_refit_switches_kind_as_updates_cross_the_threshold():
    x = clustered(3000)
    ids = np.arange(3000, dtype=np.int64) * 7 + 1
    index = vec.build_vector_index(x[:1500], ids[:1500], exact_max=2000)
    assert vec.refit(index, ids[:1500], exact_max=2000) is index  # still suits its size
    index.add_with_ids(x[1500:], ids[1500:])  # grown past the threshold by an update
    grown = vec.refit(index, ids, exact_max=2000)
    assert vec.index_kind(grown) == "ivf" and grown.ntotal == 3000
    q = clustered(40, seed=9)
    truth = brute_force(x, q, ids, 10)
    found = np.array([vec.search(grown, v, 10)[1] for v in q])
    assert np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth, strict=True)]) >= 0.9
    np.testing.assert_allclose(grown.reconstruct(int(ids[2999])), x[2999], atol=1e-6)
    small_ivf = vec.build_vector_index(x[:1000], ids[:1000], kind="ivf")  # as if shrunk by removals
    shrunk = vec.refit(small_ivf, ids[:1000], exact_max=2000)
    assert vec.index_kind(shrunk) == "flat" and shrunk.ntotal == 1000
    assert vec.search(shrunk, x[10], 1)[1][0] == ids[10]

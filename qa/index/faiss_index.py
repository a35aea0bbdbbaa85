"""The FAISS vector index: inner product over normalised vectors with stable ids, exact or IVF by
size; FaissIndex is the VectorIndex of the default store. The only module that imports faiss."""

from __future__ import annotations

import contextlib
import logging

import faiss
import numpy as np

from .vector_store import IdRows, best_k

log = logging.getLogger(__name__)

#: Up to this many vectors the index is exact (flat); above it, IVF. One exact query over 512-d
#: float32 costs 1-2 ms per 10k vectors on one core, so about 50k is where it passes 10 ms
#: (benchmarks/run.py, stage "choice", measures exact, IVF and HNSW on the same vectors).
EXACT_MAX = 50_000

#: Vectors sampled per IVF list to train the coarse quantizer (FAISS warns below 39).
TRAIN_PER_LIST = 40


def ivf_lists(n: int) -> int:
    """Number of IVF lists for `n` vectors: 4*sqrt(n) rounded to a power of two, at least 64."""
    return max(64, 1 << round(np.log2(4 * np.sqrt(max(n, 1)))))


def ivf_probes(nlist: int) -> int:
    """Lists scanned per query: 1/32 of them, at least 128.

    Measured with the dev questions as queries on embeddings of a generated corpus padded with
    noisy mixtures: questions lie far from every passage, so their neighbours spread over more
    lists than a passage's do. At 50k-100k vectors (1024 lists) 64 probes found 0.92-0.97 of the
    true top 10 and 128 found 0.98 (2.8 ms); at 1M (4096 lists) 128 probes found 0.97 (6.4 ms on
    a loaded 2-core machine) and 256 found 0.97 (10.8 ms).
    """
    return min(nlist, max(128, nlist // 32))


HNSW_M = 32
HNSW_EF_SEARCH = 128


def preferred_kind(n: int, exact_max: int = EXACT_MAX) -> str:
    """The index kind for `n` vectors: "flat" (exact) up to `exact_max`, else "ivf"."""
    return "flat" if n <= exact_max else "ivf"


def make_vector_index(dim: int, n: int = 0, exact_max: int = EXACT_MAX, kind: str = "auto") -> faiss.Index:
    """An empty id-mapped FAISS index suited to about `n` vectors of dimension `dim`.

    Inner product on L2-normalised vectors is cosine similarity. Exact search scans every vector,
    so above `exact_max` vectors the index is IVF (inverted lists over k-means cells, probing
    `ivf_probes` cells per query); it must be trained (build_vector_index does that). IVF beat
    HNSW (M=32, efSearch=128) in the benchmark: at 100k vectors on 2 cores HNSW took 47 s to build
    against 1.2 s and found fewer of the questions' true neighbours (recall@10 0.87 against 0.96),
    though it answered faster (0.8 ms against 3.3 ms).

    Args:
        kind: "auto" (by size), or "flat", "ivf", "hnsw" to force one (benchmarks, tests).
    """
    if kind == "auto":
        kind = preferred_kind(n, exact_max)
    if kind == "flat":
        return faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
    if kind == "ivf":
        nlist = ivf_lists(n)
        index = faiss.index_factory(dim, f"IDMap2,IVF{nlist},Flat", faiss.METRIC_INNER_PRODUCT)
        faiss.extract_index_ivf(index).nprobe = ivf_probes(nlist)  # stored by faiss.write_index
        return index
    if kind == "hnsw":
        index = faiss.index_factory(dim, f"IDMap2,HNSW{HNSW_M},Flat", faiss.METRIC_INNER_PRODUCT)
        faiss.downcast_index(index.index).hnsw.efSearch = HNSW_EF_SEARCH
        return index
    raise ValueError(f"unknown vector index kind {kind!r}: auto, flat, ivf or hnsw")


def index_kind(index: faiss.Index) -> str:
    """"flat", "ivf" or "hnsw": what an (id-mapped) index searches with."""
    inner = faiss.downcast_index(index.index) if isinstance(index, faiss.IndexIDMap) else index
    if isinstance(inner, faiss.IndexIVF):
        return "ivf"
    if isinstance(inner, faiss.IndexHNSW):
        return "hnsw"
    return "flat"


def build_vector_index(vectors: np.ndarray, ids: np.ndarray, exact_max: int = EXACT_MAX,
                       kind: str = "auto") -> faiss.Index:
    """Index `vectors` (n, dim) float32 under int64 `ids` (n,); trains the index if it needs it."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    index = make_vector_index(vectors.shape[1], len(vectors), exact_max=exact_max, kind=kind)
    if not len(vectors):
        return index
    if not index.is_trained:
        ivf = faiss.extract_index_ivf(index)
        sample = vectors
        if len(vectors) > TRAIN_PER_LIST * ivf.nlist:
            pick = np.random.default_rng(0).choice(len(vectors), TRAIN_PER_LIST * ivf.nlist, replace=False)
            sample = vectors[np.sort(pick)]
        ivf.cp.niter = 10  # k-means iterations: the default 25 triples the training for no recall gain
        index.train(sample)
    index.add_with_ids(vectors, np.ascontiguousarray(ids, dtype=np.int64))
    if index_kind(index) == "ivf":
        # lets reconstruct() give stored vectors back (reused on incremental updates) and keeps
        # remove_ids working; written and read with the index
        faiss.extract_index_ivf(index).set_direct_map_type(faiss.DirectMap.Hashtable)
    return index


def refit(index: faiss.Index, ids, exact_max: int | None = None) -> faiss.Index:
    """`index` if its kind still suits its size, else its vectors in a new index that does.

    Updates add and remove vectors in place, so a knowledge base that grows past `exact_max`
    passages by uploads would otherwise stay exact (and slow), one that shrinks would stay IVF,
    and an IVF index that grew 16-fold would keep lists trained for its first size. The stored
    vectors are reused; nothing is embedded again. HNSW (only ever forced) is left as it is.

    Args:
        ids: the ids of every vector in the index.
    """
    exact_max = EXACT_MAX if exact_max is None else exact_max
    kind, n = index_kind(index), index.ntotal
    if kind == "hnsw":
        return index
    if kind == preferred_kind(n, exact_max):
        if kind != "ivf" or 4 * faiss.extract_index_ivf(index).nlist > ivf_lists(n):
            return index
    ids = np.ascontiguousarray(ids, dtype=np.int64)
    return build_vector_index(stored_vectors(index, ids), ids, exact_max=exact_max)


def stored_vectors(index: faiss.Index, ids) -> np.ndarray:
    """The vectors stored under `ids`, (len(ids), dim) float32.

    Raises:
        RuntimeError: the index kind cannot give vectors back.
    """
    if not len(ids):
        return np.zeros((0, index.d), dtype=np.float32)
    return np.vstack([index.reconstruct(int(i)) for i in ids]).astype(np.float32)


def all_vectors(index: faiss.Index) -> tuple[np.ndarray, np.ndarray]:
    """Every stored (ids (n,), vectors (n, dim)) of an id-mapped index, in storage order.

    An exact index gives a view of FAISS's own memory (no copy, so a query can score any rows
    directly); other kinds reconstruct their vectors once.

    Raises:
        RuntimeError: the index kind cannot give vectors back.
    """
    ids = stored_ids(index)
    inner = faiss.downcast_index(index.index)
    if isinstance(inner, faiss.IndexFlat) and len(ids):
        view = faiss.rev_swig_ptr(inner.get_xb(), len(ids) * index.d).reshape(len(ids), index.d)
        return ids, view
    return ids, stored_vectors(index, ids)


def search_params(index: faiss.Index):
    """Search-time parameters from the index itself, never below the defaults set at build.

    faiss.write_index stores nprobe/efSearch, but an index written elsewhere may carry FAISS's
    defaults (nprobe=1), so the floor is applied on every search.
    """
    kind = index_kind(index)
    if kind == "ivf":
        ivf = faiss.extract_index_ivf(index)
        return faiss.SearchParametersIVF(nprobe=max(ivf.nprobe, ivf_probes(ivf.nlist)))
    if kind == "hnsw":
        hnsw = faiss.downcast_index(index.index).hnsw
        return faiss.SearchParametersHNSW(efSearch=max(hnsw.efSearch, HNSW_EF_SEARCH))
    return None


@contextlib.contextmanager
def _one_thread():
    """Run FAISS single-threaded in this thread for one query.

    One query gains nothing from OpenMP, and waking its team costs more than the search: the
    threads then spin while the encoder's BLAS runs, which made ask() ~6 ms slower on 2 cores.
    """
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


def search(index: faiss.Index, query: np.ndarray, k: int, params=...) -> tuple[np.ndarray, np.ndarray]:
    """Top-k (scores, ids) for one query vector (dim,); ids of -1 are padding and removed.

    `params`: search_params(index), if the caller keeps it (it costs ~20 µs a query to work out).
    """
    k = max(1, min(k, index.ntotal))
    if params is ...:
        params = search_params(index)
    with _one_thread():
        scores, ids = index.search(np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32), k,
                                   params=params)
    keep = ids[0] >= 0
    return scores[0][keep], ids[0][keep]


def to_bytes(index: faiss.Index) -> bytes:
    """The index serialised (written by Python, so a full disk is an OSError, not a C++ error)."""
    return faiss.serialize_index(index).tobytes()


def read_file(path) -> faiss.Index:
    """An index written from `to_bytes`.

    Raises:
        RuntimeError: not a FAISS index.
    """
    return faiss.read_index(str(path))


def stored_ids(index: faiss.Index) -> np.ndarray:
    """The ids of every vector of an id-mapped index, in storage order."""
    return faiss.vector_to_array(index.id_map).astype(np.int64)


def top_rows(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k best positive scores, best first, ties to the lower row: (scores, rows).

    Ties are cut by row so that every store picks the same rows (Milvus sorts ties the same way
    as far as the equality tests show); O(n) for the cut, O(k log k) for the order.
    """
    rows = np.flatnonzero(scores > 0)
    if len(rows) > k:
        s = scores[rows]
        threshold = np.partition(s, len(s) - k)[len(s) - k]
        above = rows[s > threshold]
        rows = np.concatenate([above, rows[s == threshold][: k - len(above)]])
    order = np.lexsort((rows, -scores[rows]))
    return scores[rows[order]].astype(np.float32), rows[order].astype(np.int64)


class FaissIndex:
    """A VectorIndex (qa.index.vector_store) on a FAISS id-mapped index, with the BM25 side
    served from the in-memory SparseIndex (FAISS holds dense vectors only).

    Args:
        index: an IndexIDMap2 over inner product; ids are Chunk.id.
        bm25: the build's qa.index.sparse.SparseIndex (see `with_sparse`), or None.
    """

    def __init__(self, index: faiss.Index, bm25=None):
        self.faiss = index
        self.dim = index.d
        self.bm25 = bm25
        self._params = search_params(index)
        ids, matrix = all_vectors(index) if index.ntotal else (np.zeros(0, np.int64), None)
        # an exact index gives a view of FAISS's own memory, so vectors() copies only the rows asked
        self._matrix = matrix
        self._rows = IdRows(ids)

    @property
    def kind(self) -> str:
        """"flat", "ivf" or "hnsw"."""
        return index_kind(self.faiss)

    def count(self) -> int:
        return int(self.faiss.ntotal)

    def search_dense(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        return best_k(lambda n: search(self.faiss, query, n, self._params), k, self.faiss.ntotal)

    def vectors(self, ids) -> np.ndarray:
        ids = np.asarray(ids, dtype=np.int64)
        if not len(ids):
            return np.zeros((0, self.dim), dtype=np.float32)
        return self._matrix[self._rows(ids)]

    def search_sparse(self, query: dict[int, float], k: int) -> tuple[np.ndarray, np.ndarray]:
        # every block's score is summed as sparse_scores sums a few (SparseIndex.query_scores)
        return top_rows(self.bm25.query_scores(query), k)

    def sparse_scores(self, query: dict[int, float], rows) -> np.ndarray:
        return self.bm25.row_scores(query, np.asarray(rows, dtype=np.int64))

    def sparse_candidates(self, query: dict[int, float], k: int,
                          rows) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        scores = self.bm25.query_scores(query)  # every block's, once
        top_scores, top = top_rows(scores, k)
        return top_scores, top, scores[np.asarray(rows, dtype=np.int64)]

    def with_sparse(self, bm25) -> FaissIndex:
        twin = object.__new__(FaissIndex)
        twin.__dict__.update(self.__dict__, bm25=bm25)
        return twin

    def updated(self, removed: np.ndarray, added_ids: np.ndarray, added: np.ndarray) -> FaissIndex:
        """A new index: this one's vectors minus `removed` ids plus `added` (n, dim) under
        `added_ids`, in the kind that suits the new size (`refit`). This one is not changed, so
        it keeps answering until the new one is swapped in."""
        index = faiss.clone_index(self.faiss)
        try:
            if len(removed):
                index.remove_ids(np.ascontiguousarray(removed, dtype=np.int64))
        except RuntimeError as e:  # IVF with a hashtable id map, HNSW: no removal in place
            log.info("vector index cannot remove in place (%s); rebuilding it from its vectors", e)
            index = None
        if index is not None:
            try:
                if len(added_ids):
                    index.add_with_ids(np.ascontiguousarray(added, dtype=np.float32),
                                       np.ascontiguousarray(added_ids, dtype=np.int64))
                # grown past the exact-search size (or shrunk below it): the kind that suits it
                return FaissIndex(refit(index, stored_ids(index)))
            except RuntimeError as e:
                log.info("vector index cannot be updated in place (%s); rebuilding it", e)
        kept = np.setdiff1d(self._rows.ids, np.asarray(removed, dtype=np.int64))
        ids = np.concatenate([kept, np.asarray(added_ids, dtype=np.int64)])
        vectors = np.vstack([self.vectors(kept), added]).reshape(-1, self.dim)
        return FaissIndex(build_vector_index(vectors, ids))

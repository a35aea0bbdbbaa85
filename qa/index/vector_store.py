"""The VectorStore protocol: where a knowledge base's committed builds (manifest, passages,
vectors) are kept, and how one build is searched. FAISS files in a folder (faiss_store.py) are
the embedded default; Milvus (milvus_store.py) is for knowledge bases that outgrow one machine.

Retrieval and updates call only these methods, so a store is chosen by configuration
(`QA(store="milvus", uri=...)`, $QA_STORE, $QA_MILVUS_URI) and the same questions get the same
passages on every store.

A store holds *builds*. A build is immutable once committed: an update writes a new build beside
the current one and then commits it in one step (FAISS: `os.replace` of manifest.json; Milvus:
one manifest row), so a reader sees the old build or the new one, never half of one. What a
killed update leaves behind is not referenced by any manifest and is removed by the next commit.
"""

from __future__ import annotations

import contextlib
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ..chunk import Chunk


@dataclass(frozen=True)
class SparseRows:
    """BM25 vectors of the blocks, one row per block in the order BM25 ranks them (CSR).

    Row r's terms are `terms[indptr[r]:indptr[r + 1]]` (vocabulary ids) with their BM25 weights
    (idf times the saturated term frequency): a question's BM25 score of a block is the dot
    product of these with the question's term counts.
    """

    indptr: np.ndarray  # (n_blocks + 1,) int64
    terms: np.ndarray  # (nnz,) int32
    weights: np.ndarray  # (nnz,) float32

    def __len__(self) -> int:
        return len(self.indptr) - 1

    def row(self, r: int) -> dict[int, float]:
        lo, hi = int(self.indptr[r]), int(self.indptr[r + 1])
        return dict(zip(self.terms[lo:hi].tolist(), self.weights[lo:hi].tolist(), strict=True))


def best_k(fetch, k: int, total: int, margin: int = 16,
           cap: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The k best (scores, ids) that `fetch(n)` gives, best first, ties at the k-th place to the
    lower id (so every store returns the same ids): fetch k + margin, and four times as many
    while the last one fetched is still tied with the k-th.

    Args:
        fetch: n -> (scores (m,), ids (m,)), the top n of a store in any order of ties, m <= n.
        total: how many there are at most; cap: the largest n a store serves.
    """
    limit = total if cap is None else min(total, cap)
    k = min(k, limit)
    if k <= 0:
        return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64)
    n = min(k + margin, limit)
    while True:
        scores, ids = fetch(n)
        order = np.lexsort((ids, -scores))
        scores, ids = scores[order], ids[order]
        if len(ids) < n or n >= limit or scores[k - 1] > scores[-1]:
            return scores[:k].astype(np.float32), ids[:k].astype(np.int64)
        n = min(4 * n, limit)


class IdRows:
    """Rows of a vector matrix by chunk id (the matrix holds the vectors of `ids`, in that order)."""

    def __init__(self, ids: np.ndarray):
        self._rows = np.argsort(ids)
        self._sorted = np.asarray(ids, dtype=np.int64)[self._rows]

    def __call__(self, ids: np.ndarray) -> np.ndarray:
        """The rows of `ids`, in the order given.

        Raises:
            KeyError: an id that is not stored.
        """
        ids = np.asarray(ids, dtype=np.int64)
        at = np.minimum(np.searchsorted(self._sorted, ids), max(len(self._sorted) - 1, 0))
        if len(ids) and (not len(self._sorted) or not np.array_equal(self._sorted[at], ids)):
            missing = ids[self._sorted[at] != ids] if len(self._sorted) else ids
            raise KeyError(f"no vectors for ids {missing[:5].tolist()}")
        return self._rows[at]

    @property
    def ids(self) -> np.ndarray:
        """Every id, sorted."""
        return self._sorted


class VectorIndex(Protocol):
    """One committed build, read-only and safe to search from several threads.

    Dense vectors are one per sentence Chunk (ids are `Chunk.id`), L2-normalised, so the inner
    product is the cosine. Sparse vectors are one per block (ids are block rows of SparseRows).
    """

    dim: int

    def count(self) -> int:
        """Number of dense vectors."""
        ...

    def search_dense(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-k by inner product for one query (dim,): (scores (m,) float32, ids (m,) int64),
        best first, m <= k; ties go to the lower id (so every store returns the same ids)."""
        ...

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        """The stored vectors of `ids` (len(ids), dim) float32, in the order given."""
        ...

    def search_sparse(self, query: dict[int, float], k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-k blocks by dot product with a sparse query {term id: weight}: (scores, rows),
        best first, only rows with a positive score; the scores are those `sparse_scores` gives."""
        ...

    def sparse_scores(self, query: dict[int, float], rows: np.ndarray) -> np.ndarray:
        """Dot product of the sparse query with each of `rows` (len(rows),) float32."""
        ...

    def sparse_candidates(self, query: dict[int, float], k: int,
                          rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """`search_sparse(query, k)` and `sparse_scores(query, rows)` in one call (a store that
        scores every block to find the top gives the rows' scores from the same sums)."""
        ...

    def with_sparse(self, bm25) -> VectorIndex:
        """This build with its in-memory BM25 (qa.index.sparse.SparseIndex, rebuilt from the
        passages when a build is opened; its vocabulary ids are those of SparseRows). A store
        that keeps the sparse vectors itself (Milvus) searches those and returns self; FAISS
        keeps only dense vectors and searches the sparse side with `bm25`."""
        ...


@dataclass(frozen=True)
class Build:
    """A committed build as read back: its manifest, passages and searchable vectors."""

    manifest: dict
    chunks: tuple[Chunk, ...]
    index: VectorIndex


class VectorStore(Protocol):
    """Where builds are kept. Writers take `lock()`; readers never need write access."""

    kind: str  # "faiss" or "milvus"
    location: str  # the index folder or the Milvus URI (for messages)
    stores_sparse: bool  # whether commit() keeps the SparseRows (else they are rebuilt on open)

    def lock(self) -> contextlib.AbstractContextManager[bool]:
        """Exclusive writer lock (re-entrant within a process); yields whether writes are possible."""
        ...

    def stamp(self) -> Hashable | None:
        """A cheap value that changes whenever a build is committed (None: nothing committed)."""
        ...

    def read_manifest(self, any_version: bool = False) -> dict:
        """The last committed manifest, recovered from its backup if damaged; with any_version,
        one of another format version is returned as it is (not checked).

        Raises:
            FileNotFoundError: nothing has been committed yet.
            ManifestDamagedError: damaged beyond recovery.
            IndexCorruptError: of another format version, or unreadable.
        """
        ...

    def load(self) -> Build:
        """The last committed build, checked (counts, ids, checksums where the store has them).

        Raises:
            FileNotFoundError, IndexCorruptError
        """
        ...

    def commit(self, manifest: dict, chunks: tuple[Chunk, ...], base: VectorIndex | None,
               removed: np.ndarray, added_ids: np.ndarray, added: np.ndarray,
               sparse: SparseRows | None) -> Build:
        """Write a new build and make it current in one step; `base` keeps answering meanwhile.

        Args:
            manifest: what the build records (the store adds build name, counts, data files).
            chunks: every passage of the new build, in reading order.
            base: the build the update starts from (None: from scratch); its vectors minus
                `removed` ids are kept without being embedded again.
            removed: ids (int64) of base vectors that are not in the new build.
            added_ids, added: new vectors (n, dim) float32 under their chunk ids.
            sparse: the new build's BM25 block vectors (None when `stores_sparse` is False).
        Returns:
            The committed build (its manifest as written).
        Raises:
            DiskFullError: nothing was committed; the previous build is unchanged.
        """
        ...

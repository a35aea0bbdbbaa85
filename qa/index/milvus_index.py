"""One committed Milvus build, read and searched: exact dense top-k, BM25 block top-k, vectors.

Built by milvus_store.MilvusStore, which alone imports pymilvus; ties at the k-th place are cut
by id (dense) and by row (sparse), so that results do not depend on Milvus's scan order.
"""

from __future__ import annotations

import json

import numpy as np

from ..chunk import Chunk
from .vector_store import IdRows, best_k

BATCH = 2_000  # ids per query request
MARGIN = 16  # extra hits fetched so that ties at the k-th place can be cut by id
TOP_MAX = 16_384  # Milvus's largest search limit


class MilvusIndex:
    """One committed build's collections; searches are Milvus requests.

    `vectors` is answered from memory when the store caches them (Milvus Lite by default): the
    retrieval asks for the vectors of every candidate block's sentences on each question, and a
    request for 100 ids took Milvus Lite 17-20 ms at 10k-100k passages against 0.06 ms from FAISS
    (0.06-0.15 ms from the cache; benchmarks/stores.py). Lite serves one machine, which would hold
    FAISS's vectors as well; on a server each call is a request, so that replicas do not hold
    10^7 vectors each.
    """

    def __init__(self, client, call, dense: str, sparse: str, dim: int, n: int, cache=None):
        """`call(fn, *args, **kwargs)` makes one request (milvus_store turns its errors into ours);
        `cache` is (ids (n,), vectors (n, dim)) or None."""
        self.client, self._call, self.dense, self.sparse = client, call, dense, sparse
        self.dim, self._n = dim, n
        self._cache = None  # (rows by id, matrix) or None
        if cache is not None:
            ids, matrix = cache
            self._cache = (IdRows(ids), matrix)

    def count(self) -> int:
        return self._n

    def search_dense(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Exact top-k by inner product; ties go to the lower id."""
        q = np.asarray(query, dtype=np.float32).reshape(-1).tolist()
        return best_k(lambda n: self._search(self.dense, [q], n, "vector"), k, self._n, MARGIN, TOP_MAX)

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        ids = np.asarray(ids, dtype=np.int64)
        if not len(ids):
            return np.zeros((0, self.dim), dtype=np.float32)
        if self._cache is not None:
            rows, matrix = self._cache
            return matrix[rows(ids)]
        out = np.zeros((len(ids), self.dim), dtype=np.float32)
        at = {int(i): n for n, i in enumerate(ids.tolist())}
        for lo in range(0, len(ids), BATCH):
            part = ids[lo:lo + BATCH]
            rows = self._query(self.dense, f"id in {part.tolist()}", ["id", "vector"], len(part))
            for r in rows:
                out[at[int(r["id"])]] = r["vector"]
            if len(rows) != len(np.unique(part)):
                missing = set(part.tolist()) - {int(r["id"]) for r in rows}
                raise KeyError(f"no vectors for ids {sorted(missing)[:5]} in {self.dense}")
        return out

    def search_sparse(self, query: dict[int, float], k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-k blocks by dot product, scored as sparse_scores does (so a block's score is the
        same whichever call gives it); ties go to the lower row."""
        q = {int(t): float(w) for t, w in query.items() if w}
        if not q or k <= 0:
            return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64)

        def fetch(n):
            _, rows = self._search(self.sparse, [q], n, "sparse")
            return self.sparse_scores(q, rows), rows
        scores, rows = best_k(fetch, k, self._n, MARGIN, TOP_MAX)
        keep = scores > 0
        return scores[keep], rows[keep]

    def sparse_scores(self, query: dict[int, float], rows: np.ndarray) -> np.ndarray:
        """Dot products in float64 (as BM25's own sums are), returned as float32."""
        rows = np.asarray(rows, dtype=np.int64)
        out = np.zeros(len(rows), dtype=np.float64)
        if not len(rows) or not query:
            return out.astype(np.float32)
        got = {}
        for lo in range(0, len(rows), BATCH):
            part = np.unique(rows[lo:lo + BATCH]).tolist()
            for r in self._query(self.sparse, f"row in {part}", ["row", "sparse"], len(part)):
                got[int(r["row"])] = r["sparse"]
        for n, r in enumerate(rows.tolist()):
            vec = got.get(r)  # a block without terms has no row
            if vec:
                out[n] = sum(float(w) * vec.get(t, 0.0) for t, w in query.items())
        return out.astype(np.float32)

    def sparse_candidates(self, query: dict[int, float], k: int,
                          rows) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        scores, top = self.search_sparse(query, k)
        return scores, top, self.sparse_scores(query, rows)

    def with_sparse(self, bm25) -> MilvusIndex:
        return self

    def _search(self, collection, data, limit, field):
        if limit <= 0:
            return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64)
        pk = "id" if field == "vector" else "row"
        hits = self._call(self.client.search, collection, data=data, limit=limit, anns_field=field,
                     search_params={"metric_type": "IP"}, output_fields=[pk],
                     consistency_level="Strong")[0]
        return (np.array([h["distance"] for h in hits], dtype=np.float32),
                np.array([h[pk] for h in hits], dtype=np.int64))

    def _query(self, collection, expr, fields, limit):
        return self._call(self.client.query, collection, filter=expr, output_fields=fields, limit=limit,
                     consistency_level="Strong")


def read_build(client, call, head: dict, long_rows: list[dict], cache_vectors: bool):
    """The passages of a build in reading order, and its MilvusIndex.

    Args:
        head: the build's head (collections, dim, passage count).
        long_rows: meta rows ("chunk:<id>", part, text) of passages whose JSON is over a VARCHAR.
        cache_vectors: read the vectors too, to answer `vectors` from memory.
    Raises:
        KeyError, ValueError, TypeError: rows that do not make passages (damage).
    """
    dense, n = head["dense"], head["chunks"]
    long: dict[str, list] = {}
    for r in long_rows:
        long.setdefault(r["kind"][len("chunk:"):], []).append((r["part"], r["text"]))
    chunks, fields = [], ["id", "seq", "chunk"] + (["vector"] if cache_vectors else [])
    matrix = np.zeros((n if cache_vectors else 0, head["dim"]), dtype=np.float32)
    for lo in range(0, n, BATCH):
        rows = call(client.query, dense, filter=f"seq >= {lo} and seq < {lo + BATCH}",
                    output_fields=fields, limit=BATCH, consistency_level="Strong")
        for r in sorted(rows, key=lambda r: r["seq"]):
            if cache_vectors and r["seq"] < n:
                matrix[r["seq"]] = r["vector"]
            text = r["chunk"] or "".join(t for _, t in sorted(long[str(r["id"])]))
            chunks.append(Chunk.from_dict(json.loads(text)))
    ids = np.array([c.id for c in chunks], dtype=np.int64)
    if len(np.unique(ids)) != len(ids):
        raise ValueError("a passage id is repeated")
    cache = (ids, matrix) if cache_vectors and len(chunks) == n else None
    return tuple(chunks), MilvusIndex(client, call, dense, head["sparse"], head["dim"], n, cache)

"""FAISS against Milvus Lite behind the VectorStore protocol: commit time and query p50 at 10k and
100k synthetic passages, in one process, as ratios (python -m benchmarks.stores [sizes...])."""

from __future__ import annotations

import copy
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from qa.chunk import Chunk
from qa.index.sparse import SparseIndex

from .stats import percentile_ms

DIM = 512
SENTENCES_PER_BLOCK = 4
RESULTS = Path(__file__).resolve().parent / "results" / "stores.json"


def synthetic_build(n: int, seed: int = 0):
    """`n` sentence Chunks with unit vectors (mixtures of 2,000 random directions plus noise, so
    that neighbours exist) and the BM25 rows of n/4 blocks of ~60 Zipf-drawn tokens."""
    rng = np.random.default_rng(seed)
    base = rng.standard_normal((2000, DIM)).astype(np.float32)
    vectors = 0.7 * base[rng.integers(0, 2000, n)] + 0.3 * base[rng.integers(0, 2000, n)]
    vectors += rng.standard_normal((n, DIM), dtype=np.float32) * 0.3
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = rng.choice(2**62, n, replace=False).astype(np.int64)
    chunks = tuple(Chunk(id=int(i), path=f"doc-{at // 1000:04d}.txt", source=f"doc {at // 1000}",
                         section=None, text=f"第{at}句，合成的句子，长度约四十个字符左右的一句话。",
                         embed_text=f"第{at}句", lines=((at % 1000 + 1, at % 1000 + 1),),
                         paragraph=0, sentences=(at % 1000, at % 1000 + 1),
                         block=(at % 1000) // SENTENCES_PER_BLOCK)
                   for at, i in enumerate(ids.tolist()))
    n_blocks = -(-n // SENTENCES_PER_BLOCK)
    vocab = 20_000
    p = 1.0 / np.arange(1, vocab + 1)
    p /= p.sum()
    tokens = rng.choice(vocab, (n_blocks, 60), p=p).astype(str).tolist()
    bm25 = SparseIndex(tokens, tokenizer=None)
    return chunks, ids, vectors, bm25, bm25.rows()


def open_stores(folder: Path):
    """(kind, store) for FAISS in a folder and Milvus Lite in a file, through the factory."""
    from qa.index.stores import open_store
    return [("faiss", open_store("faiss", folder / "faiss")),
            ("milvus", open_store("milvus", folder / "milvus", str(folder / "kb.db")))]


def time_calls(fn, args) -> float:
    """Median milliseconds of fn(a) over `args`, one call at a time."""
    times = []
    for a in args:
        t = time.perf_counter()
        fn(a)
        times.append(time.perf_counter() - t)
    return percentile_ms(times, 50)


def measure(kind, store, n: int, data, queries: int = 100) -> dict:
    """Commit a fresh build of `n` passages, open it, and time single queries on it."""
    chunks, ids, vectors, bm25, rows = data
    rng = np.random.default_rng(1)
    noise = rng.standard_normal((queries, DIM)).astype(np.float32) * .05
    dense_q = vectors[rng.integers(0, n, queries)] + noise
    words = [[str(t) for t in rng.integers(0, 2000, 5)] for _ in range(queries)]
    sparse_q = [{bm25.vocab[w]: 1.0 for w in q if w in bm25.vocab} for q in words]
    id_sets = [ids[rng.choice(n, 100, replace=False)] for _ in range(queries)]
    start = time.perf_counter()
    with store.lock():
        store.commit({"files": {}}, chunks, None, np.zeros(0, np.int64), ids, vectors,
                     rows if store.stores_sparse else None)
    commit_s = time.perf_counter() - start
    start = time.perf_counter()
    index = store.load().index.with_sparse(bm25)
    load_s = time.perf_counter() - start
    row = {"store": kind, "index": getattr(index, "kind", "flat") if kind == "faiss" else "FLAT",
           "passages": n, "commit_s": round(commit_s, 2), "load_s": round(load_s, 2),
           "dense_k50_ms": time_calls(lambda q: index.search_dense(q, 50), dense_q),
           "sparse_k20_ms": time_calls(lambda q: index.search_sparse(q, 20), sparse_q),
           "vectors_100_ms": time_calls(index.vectors, id_sets)}
    if kind == "milvus":  # what a server-side store does: one request per call, no cache
        uncached = copy.copy(index)
        uncached._cache = None
        row["vectors_100_request_ms"] = time_calls(uncached.vectors, id_sets)
    return row


def main(sizes=(10_000, 100_000)) -> list[dict]:
    rows = []
    for n in sizes:
        data = synthetic_build(n)
        with tempfile.TemporaryDirectory() as tmp:
            for kind, store in open_stores(Path(tmp)):
                rows.append(measure(kind, store, n, data))
                print(json.dumps(rows[-1]), flush=True)
                getattr(store, "close", lambda: None)()
    print(f"\n{'passages':>9} {'measure':>15} {'faiss':>10} {'milvus':>10} {'milvus/faiss':>13}")
    for n in sizes:
        f, m = [next(r for r in rows if r["store"] == k and r["passages"] == n) for k in ("faiss", "milvus")]
        for key in ("commit_s", "load_s", "dense_k50_ms", "sparse_k20_ms", "vectors_100_ms"):
            print(f"{n:>9} {key:>15} {f[key]:>10} {m[key]:>10} {m[key] / max(f[key], 1e-9):>13.1f}")
        print(f"{n:>9} {'vectors_100_ms':>15} {f['vectors_100_ms']:>10} {m['vectors_100_request_ms']:>10} "
              f"{m['vectors_100_request_ms'] / f['vectors_100_ms']:>13.1f}  (Milvus by request, no cache)")
    RESULTS.parent.mkdir(exist_ok=True)
    note = ("one process on 2 shared cores: compare ratios. FAISS sparse = the in-memory BM25; "
            "Milvus = Milvus Lite 3.2 (embedded, pure Python), vectors cached in memory "
            "(vectors_100_request_ms: one Milvus request per call)")
    RESULTS.write_text(json.dumps({"rows": rows, "note": note}, indent=1) + "\n")
    return rows


if __name__ == "__main__":
    main(tuple(int(a) for a in sys.argv[1:]) or (10_000, 100_000))

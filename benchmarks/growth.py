"""Growth stage: query latency, recall@10 and memory at 1k .. 1M chunks, one subprocess per size.

The parent writes real inputs into a folder (chunk vectors, question vectors, chunk token lists,
the questions, the term list, the chunks); each worker pads them with synthetic vectors and token
lists up to its size, builds the index the engine would build (vectors.build_vector_index picks
the kind), a qa.index.sparse.SparseIndex and a qa.retrieve.Retriever, and prints one JSON line.

    python -m benchmarks.growth --data DIR --chunks N
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from qa.chunk import Chunk
from qa.config import Config
from qa.index import faiss_index as vec
from qa.index.blocks import Blocks
from qa.index.sparse import SparseIndex
from qa.retrieve import DENSE_CANDIDATES, Retriever
from qa.terms import Tokenizer

from .corpus import exact_top_k, recall_at_k, synthetic_token_lists, synthetic_vectors
from .stats import peak_rss_mb, percentile_ms, rss_mb

ROOT = Path(__file__).resolve().parents[1]
HELD_OUT = 100  # synthetic queries (drawn like the data, not indexed) added to the real questions


def write_inputs(folder: Path, qa, chunk_vectors: np.ndarray, questions: list[str]) -> Path:
    """Save what the workers need from a real index (`qa`, whose chunks `chunk_vectors` embed)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "base.npy", np.ascontiguousarray(chunk_vectors, dtype=np.float32))
    np.save(folder / "questions.npy", np.stack([qa.encode_query(q) for q in questions]).astype(np.float32))
    terms = list(qa.manifest.get("terms", ()))
    tokenizer = Tokenizer(terms)
    data = {"questions": questions, "terms": terms,
            "tokens": [tokenizer.tokens(c.text if c.section is None else f"{c.section} {c.text}")
                       for c in qa.chunks],
            "chunks": [c.to_dict() for c in qa.chunks]}
    (folder / "inputs.json").write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return folder


def _chunks(templates: list[Chunk], n: int) -> list[Chunk]:
    """`n` chunks with ids 0..n-1, cycling through the real ones; each its own paragraph and block
    (a BM25 row per chunk, as the synthetic token lists are drawn per chunk)."""
    out = []
    for i in range(n):
        t = templates[i % len(templates)]
        out.append(dataclasses.replace(t, id=i, paragraph=-1 - i, block=i))
    return out


def measure(data_dir: Path, n: int, rounds: int = 8, exact_max: int = vec.EXACT_MAX) -> dict:
    """Build everything for `n` chunks and time the queries (runs in the worker)."""
    data_dir = Path(data_dir)
    inputs = json.loads((data_dir / "inputs.json").read_text(encoding="utf-8"))
    base = np.load(data_dir / "base.npy", allow_pickle=False)
    qvecs = np.load(data_dir / "questions.npy", allow_pickle=False)
    held_out = synthetic_vectors(base, len(base) + HELD_OUT, seed=7)[len(base):]
    queries = np.vstack([qvecs, held_out])
    row: dict = {"chunks": n}

    start = time.perf_counter()
    vectors = synthetic_vectors(base, n, seed=1)
    truth = exact_top_k(vectors, queries, 10)
    start = time.perf_counter()
    index = vec.build_vector_index(vectors, np.arange(n, dtype=np.int64), exact_max=exact_max)
    row["index"] = vec.index_kind(index)
    row["vector_build_s"] = round(time.perf_counter() - start, 2)
    del vectors
    gc.collect()
    found = [np.pad(ids, (0, 10 - len(ids)), constant_values=-1)
             for ids in (vec.search(index, q, 10)[1] for q in queries)]
    row["recall@10"] = round(recall_at_k(np.array(found), truth), 4)
    row["recall@10_questions"] = round(recall_at_k(np.array(found[:len(qvecs)]), truth[:len(qvecs)]), 4)

    dense = []
    for _ in range(rounds):
        for v in qvecs:
            t0 = time.perf_counter()
            vec.search(index, v, DENSE_CANDIDATES)
            dense.append(time.perf_counter() - t0)
    row.update({"dense_p50_ms": percentile_ms(dense, 50), "dense_p99_ms": percentile_ms(dense, 99)})
    row["rss_mb"] = rss_mb()
    try:
        row.update(_measure_whole_query(inputs, index, qvecs, n, rounds))
    except MemoryError:  # the dense figures above still stand; say what is missing
        gc.collect()
        cap = resource.getrlimit(resource.RLIMIT_AS)[0]
        row["sparse_error"] = f"MemoryError building BM25 + chunks (address space cap {cap / 2**30:.1f} GiB)"
    row["peak_rss_mb"] = peak_rss_mb()
    return row


def _measure_whole_query(inputs: dict, index, qvecs: np.ndarray, n: int, rounds: int) -> dict:
    """BM25 over `n` synthetic token lists and the engine's Retriever: build time and query times."""
    start = time.perf_counter()
    tokenizer = Tokenizer(inputs["terms"])
    tokens = synthetic_token_lists(inputs["tokens"], n, seed=2)
    mean_tokens = float(np.mean([len(t) for t in tokens[:10_000]]))
    sparse = SparseIndex(tokens, tokenizer)
    del tokens
    gc.collect()
    config = Config()
    chunks = _chunks([Chunk.from_dict(d) for d in inputs["chunks"]], n)
    # one shared empty word set: the windows are single sentences here, so none is needed
    none = frozenset()
    keys = tuple((c.path, c.block) for c in chunks)
    blocks = Blocks(tokenizer=tokenizer, terms=frozenset(inputs["terms"]), keys=keys,
                    sentence_words=(none,) * n, context_words=(none,) * n, bm25=sparse, cache={})
    retriever = Retriever(chunks, vec.FaissIndex(index), blocks, config.sparse_weight, config.dense_weight,
                          config.max_chars)
    out = {"sparse_build_s": round(time.perf_counter() - start, 2), "tokens_per_chunk": round(mean_tokens, 1)}
    gc.collect()
    out["rss_mb"] = rss_mb()
    questions = inputs["questions"]
    query_tokens = getattr(tokenizer, "query_tokens", tokenizer.tokens)
    for q, v in zip(questions[:3], qvecs, strict=False):  # warm-up
        retriever.search(v, query_tokens(q), 3)
    sparse_t, whole = [], []
    for _ in range(rounds):
        for q, v in zip(questions, qvecs, strict=True):
            t0 = time.perf_counter()
            sparse.scores(query_tokens(q))
            t1 = time.perf_counter()
            retriever.search(v, query_tokens(q), 3)
            t2 = time.perf_counter()
            sparse_t.append(t1 - t0)
            whole.append(t2 - t1)
    out.update({"bm25_p50_ms": percentile_ms(sparse_t, 50),
                "query_p50_ms": percentile_ms(whole, 50), "query_p99_ms": percentile_ms(whole, 99)})
    return out


def run_growth(data_dir: Path, sizes: list[int], rounds: int, timeout: float = 1800) -> list[dict]:
    """One worker process per size (so peak RSS is that size's); a failed size is reported, not fatal."""
    rows = []
    for n in sizes:
        cmd = [sys.executable, "-m", "benchmarks.growth", "--data", str(data_dir), "--chunks", str(n),
               "--rounds", str(rounds)]
        print(f"  growth: {n:,} chunks ...", flush=True)
        try:
            done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            rows.append({"chunks": n, "error": f"timed out after {timeout:.0f} s"})
            continue
        lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
        if done.returncode != 0 or not lines:
            tail = done.stderr.strip().splitlines()[-1:] or [f"no output (exit code {done.returncode})"]
            rows.append({"chunks": n, "error": tail[0]})
            continue
        rows.append(json.loads(lines[-1]))
        print(f"    {rows[-1]}", flush=True)
    return rows


def memory_cap(n: int) -> int:
    """Address-space limit for a worker of `n` chunks, bytes: a worker on a shared machine fails
    with MemoryError instead of drawing the kernel's OOM killer onto other processes."""
    with open("/proc/meminfo") as f:
        available = next(int(ln.split()[1]) * 1024 for ln in f if ln.startswith("MemAvailable"))
    return min((4 << 30) + n * 24_000, available - (2 << 30))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="folder written by write_inputs")
    parser.add_argument("--chunks", type=int, required=True)
    parser.add_argument("--rounds", type=int, default=8, help="passes over the questions to time")
    args = parser.parse_args(argv)
    resource.setrlimit(resource.RLIMIT_AS, (memory_cap(args.chunks), resource.RLIM_INFINITY))
    print(json.dumps(measure(Path(args.data), args.chunks, args.rounds)), flush=True)


if __name__ == "__main__":
    main()

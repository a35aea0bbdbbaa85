"""The Milvus store (Milvus Lite, offline): commit, load, search against numpy, updates that reuse
vectors, a killed commit, a damaged head; and the same answers as FAISS through QA."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pymilvus")
pytest.importorskip("milvus_lite")

from qa.chunk import Chunk, chunk_documents  # noqa: E402
from qa.errors import StoreError  # noqa: E402
from qa.index.milvus_store import MilvusStore  # noqa: E402
from qa.index.vector_store import SparseRows  # noqa: E402
from qa.ingest import parse_document  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DIM = 32
TEXT = """新江湾城街道位于杨浦区北部。街道办事处设在殷行路。

社区食堂每天中午十一点开门，周末也营业。老年人凭卡可以打八折。

垃圾分类投放点在每个小区的东门。湿垃圾每天早晚各收一次。可回收物周六上午集中回收。

停车费每月三百元，新能源车位在地下二层。"""
MORE = "\n\n图书馆周一闭馆。借书需要带身份证。"


def passages(text: str = TEXT) -> tuple[Chunk, ...]:
    return tuple(chunk_documents([parse_document(text, "jiedao.txt")]))


def unit_vectors(n: int, seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def block_rows(n_blocks: int, seed: int) -> SparseRows:
    """Random BM25-like rows over 12 terms; the last block has no term at all."""
    rng = np.random.default_rng(seed)
    dense = rng.uniform(0.1, 3, (n_blocks, 12)).astype(np.float32) * (rng.random((n_blocks, 12)) < 0.4)
    dense[-1] = 0
    indptr = np.concatenate([[0], np.cumsum((dense > 0).sum(axis=1))]).astype(np.int64)
    terms = np.nonzero(dense)[1].astype(np.int32)
    return SparseRows(indptr, terms, dense[dense > 0])


def dense_matrix(rows: SparseRows) -> np.ndarray:
    out = np.zeros((len(rows), 12), dtype=np.float64)
    for r in range(len(rows)):
        for t, w in rows.row(r).items():
            out[r, t] = w
    return out


def top_k(scores: np.ndarray, ids: np.ndarray, k: int):
    order = np.lexsort((ids, -scores))[:k]
    return scores[order], ids[order]


def commit_fresh(store: MilvusStore, chunks, seed: int = 0):
    ids = np.array([c.id for c in chunks], dtype=np.int64)
    vectors = unit_vectors(len(chunks), seed)
    rows = block_rows(max(c.block for c in chunks) + 1, seed)
    with store.lock():
        build = store.commit({"files": {"jiedao.txt": "h"}}, chunks, None, np.zeros(0, np.int64),
                             ids, vectors, rows)
    return build, ids, vectors, rows


@pytest.fixture
def store(tmp_path):
    s = MilvusStore(str(tmp_path / "kb.db"), name="t")
    yield s
    s.close()


def test_commit_then_load_gives_the_same_passages_and_exact_searches(store, tmp_path):
    chunks = passages()
    assert len(chunks) >= 8
    with pytest.raises(FileNotFoundError):
        store.read_manifest()
    assert store.stamp() is None
    built, ids, vectors, rows = commit_fresh(store, chunks)
    assert built.manifest["build"] and built.manifest["counts"]["chunks"] == len(chunks)
    loaded = store.load()
    assert loaded.chunks == chunks and loaded.manifest == built.manifest == store.read_manifest()
    for index in (built.index, loaded.index):
        assert index.count() == len(chunks) and index.with_sparse(None) is index
        for q in unit_vectors(5, seed=9):
            got_scores, got_ids = index.search_dense(q, 4)
            want_scores, want_ids = top_k(vectors @ q, ids, 4)
            assert got_ids.tolist() == want_ids.tolist()
            assert np.allclose(got_scores, want_scores, atol=1e-5)
        pick = ids[[5, 0, 3, 3]]
        assert np.array_equal(index.vectors(pick), vectors[[5, 0, 3, 3]])
        matrix = dense_matrix(rows)
        for query in ({0: 1.0, 3: 2.0}, {11: 1.0}, {99: 1.0}):
            want = matrix @ np.array([query.get(t, 0.0) for t in range(12)])
            all_rows = np.arange(len(rows))
            assert np.allclose(index.sparse_scores(query, all_rows), want, rtol=1e-6)
            scores, found = index.search_sparse(query, 3)
            positive = want > 0
            ws, wr = top_k(want[positive], all_rows[positive], 3)
            assert found.tolist() == wr.tolist() and np.allclose(scores, ws, rtol=1e-6)
            top_scores, top, picked = index.sparse_candidates(query, 3, all_rows[::-1])
            assert top.tolist() == found.tolist() and np.array_equal(top_scores, scores)
            assert np.array_equal(picked, index.sparse_scores(query, all_rows[::-1]))
    again = MilvusStore(str(tmp_path / "kb.db"), name="t", cache_vectors=False)
    try:
        reopened = again.load()
        assert reopened.chunks == chunks and reopened.manifest["build"] == built.manifest["build"]
        assert np.array_equal(reopened.index.vectors(ids[::-1]), vectors[::-1])
        assert reopened.index.search_dense(vectors[2], 1)[1].tolist() == [ids[2]]
    finally:
        again.close()


def test_ties_go_to_the_lower_id_and_long_passages_round_trip(store):
    long_text = "很长的一句话没有句号" * 3000  # its JSON is over a VARCHAR's 65,535 bytes
    chunks = passages(TEXT + "\n\n" + long_text + "。")
    ids = np.array([c.id for c in chunks], dtype=np.int64)
    vectors = np.tile(unit_vectors(1, 3), (len(chunks), 1))  # every score ties
    with store.lock():
        store.commit({}, chunks, None, np.zeros(0, np.int64), ids, vectors, block_rows(20, 1))
    build = store.load()
    assert build.chunks == chunks and any(len(c.text) > 20_000 for c in build.chunks)
    assert build.index.search_dense(vectors[0], 3)[1].tolist() == np.sort(ids)[:3].tolist()


def test_an_update_reuses_the_base_vectors_and_keeps_only_two_builds(store):
    first, ids, vectors, _ = commit_fresh(store, passages())
    stamp = store.stamp()
    chunks = tuple(c for c in passages(TEXT.replace("停车费每月三百元", "停车费每月四百元") + MORE))
    new = np.array([c.id for c in chunks if c.id not in set(ids.tolist())], dtype=np.int64)
    removed = np.setdiff1d(ids, [c.id for c in chunks])
    assert len(new) >= 3 and len(removed) >= 1
    asked = []

    class Spy:
        dim = DIM

        def vectors(self, wanted):
            asked.extend(np.asarray(wanted).tolist())
            return first.index.vectors(wanted)

    added = unit_vectors(len(new), seed=5)
    with store.lock():
        second = store.commit({"files": {}}, chunks, Spy(), removed, new, added, block_rows(6, 2))
    assert sorted(asked) == sorted(set(c.id for c in chunks) - set(new.tolist()))
    assert store.stamp() != stamp and second.manifest["build"] != first.manifest["build"]
    loaded = store.load()
    assert loaded.chunks == chunks
    kept = np.array(sorted(asked), dtype=np.int64)
    position = {int(i): n for n, i in enumerate(ids)}
    assert np.array_equal(loaded.index.vectors(kept), vectors[[position[i] for i in kept.tolist()]])
    assert np.array_equal(loaded.index.vectors(new), added)
    with store.lock():
        store.commit({}, chunks, loaded.index, np.zeros(0, np.int64), np.zeros(0, np.int64),
                     np.zeros((0, DIM), np.float32), block_rows(6, 2))
    builds = sorted(n for n in store.client.list_collections() if n.startswith("t_b"))
    assert len(builds) == 4  # the new build and the previous one, dense and sparse each


CRASH = """
import json, os, sys
import numpy as np
from qa.chunk import Chunk
from qa.index.milvus_store import MilvusStore
from qa.index.vector_store import SparseRows
data = json.load(open(sys.argv[2]))
chunks = tuple(Chunk.from_dict(d) for d in data["chunks"])
ids = np.array([c.id for c in chunks], dtype=np.int64)
rows = SparseRows(*(np.array(data[k], dtype=t) for k, t in (("indptr", np.int64), ("terms", np.int32),
                                                               ("weights", np.float32))))
MilvusStore._write_head = lambda self, head: os._exit(17)  # killed after every row, before the head
store = MilvusStore(sys.argv[1], name="t")
with store.lock():
    store.commit({}, chunks, None, np.zeros(0, np.int64), ids, np.array(data["vectors"], np.float32), rows)
"""


def test_a_commit_killed_before_its_head_leaves_the_previous_build_answering(tmp_path):
    uri = str(tmp_path / "kb.db")
    store = MilvusStore(uri, name="t")
    first, ids, vectors, _ = commit_fresh(store, passages())
    store.close()  # Milvus Lite: one process at a time
    chunks = passages(TEXT + MORE)
    rows = block_rows(6, 4)
    data = {"chunks": [c.to_dict() for c in chunks], "vectors": unit_vectors(len(chunks), 7).tolist(),
            "indptr": rows.indptr.tolist(), "terms": rows.terms.tolist(), "weights": rows.weights.tolist()}
    (tmp_path / "next.json").write_text(json.dumps(data))
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    run = subprocess.run([sys.executable, "-c", CRASH, uri, str(tmp_path / "next.json")], env=env,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 17, run.stderr[-2000:]
    store = MilvusStore(uri, name="t")
    try:
        names = store.client.list_collections()
        assert {"t_b2", "t_b2_sparse"} <= set(names)  # the killed commit's rows, not referenced
        build = store.load()
        assert build.manifest["build"] == first.manifest["build"] and build.chunks == first.chunks
        assert build.index.search_dense(vectors[1], 1)[1].tolist() == [ids[1]]
        with store.lock():
            commit_fresh(store, chunks, seed=8)
        names = store.client.list_collections()
        assert "t_b2" not in names and {"t_b1", "t_b3"} <= set(names)
        assert store.load().chunks == chunks
    finally:
        store.close()


def test_a_damaged_newest_head_falls_back_to_the_previous_build(store, caplog):
    first, *_ = commit_fresh(store, passages())
    second, *_ = commit_fresh(store, passages(TEXT + MORE), seed=1)
    head = json.loads(next(h["text"] for h in store._heads() if h["seq"] == 2))
    store.client.insert(store.meta, [{"seq": 3, "kind": "head", "part": 0, "pad": [0.0, 0.0],
                                      "text": json.dumps(dict(head, seq=3, pieces=head["pieces"] + 1))}])
    store.client.delete(store.meta, filter='seq == 2 and kind == "manifest"')
    with caplog.at_level("WARNING"):
        assert store.read_manifest()["build"] == first.manifest["build"]
    assert "build 3" in caplog.text and "build 2" in caplog.text
    assert store.load().chunks == first.chunks
    commit_fresh(store, passages(), seed=2)  # keeps what readers served (1), drops the damaged ones
    assert sorted(h["seq"] for h in store._heads()) == [1, 4]
    assert sorted(n for n in store.client.list_collections() if n.startswith("t_b")) == \
        ["t_b1", "t_b1_sparse", "t_b4", "t_b4_sparse"]


def test_the_writer_lock_is_reentrant_and_sits_beside_the_file(store, tmp_path):
    with store.lock() as writable, store.lock() as again:
        assert writable and again
        assert (tmp_path / "kb.db.lock").exists()


def test_an_unreachable_server_says_what_to_check(tmp_path):
    with pytest.raises(StoreError, match="check that the Milvus server is running"):
        MilvusStore("http://127.0.0.1:9")
    with pytest.raises(StoreError, match="ending in .db"):
        MilvusStore(str(tmp_path / "kb.milvus"))
    with pytest.raises(StoreError, match="QA_MILVUS_COLLECTION"):  # a message for people, not a traceback
        MilvusStore(str(tmp_path / "kb.db"), name="my-kb")


def test_the_store_benchmark_measures_both_stores(tmp_path):
    sys.path.insert(0, str(ROOT))
    from benchmarks import stores

    data = stores.synthetic_build(400)
    rows = []
    for kind, store in stores.open_stores(tmp_path):
        rows.append(stores.measure(kind, store, 400, data, queries=3))
        getattr(store, "close", lambda: None)()
    assert [r["store"] for r in rows] == ["faiss", "milvus"] and rows[1]["vectors_100_request_ms"] > 0
    assert all(r["dense_k50_ms"] > 0 and r["commit_s"] >= 0 for r in rows)


# --- through QA: the same answers on FAISS and on Milvus Lite ----------------------------------

@pytest.fixture(scope="module")
def twin_kbs(encoder, dev_questions, tmp_path_factory):
    """One 300-file generated knowledge base (plus the built-in article) built once on each store."""
    import inspect
    import shutil

    from benchmarks.corpus import write_generated_corpus
    from qa import QA
    from qa.config import BUILTIN_CORPUS

    if "store" not in inspect.signature(QA).parameters:
        pytest.skip("QA(store=...) comes with the engine on the VectorStore protocol")
    root = tmp_path_factory.mktemp("twin")
    docs = root / "docs"
    assert len(write_generated_corpus(docs, n_sentences=3000, per_file=10)) == 300
    shutil.copy(BUILTIN_CORPUS, docs / "article.txt")
    on_faiss = QA(sources=[docs], index_dir=root / "faiss", kb_dir=root / "kb-faiss")
    on_milvus = QA(sources=[docs], index_dir=root / "milvus", kb_dir=root / "kb-milvus", store="milvus",
                   uri=str(root / "kb.db"))
    yield root, on_faiss, on_milvus
    getattr(on_milvus, "close", lambda: None)()


def assert_same_answers(a, b, questions) -> None:
    for question in questions:
        x, y = a.ask(question, k=3), b.ask(question, k=3)
        assert [(h.text, h.citation.to_dict()) for h in x.hits] == \
            [(h.text, h.citation.to_dict()) for h in y.hits], question
        assert x.found == y.found, question
        assert x.confidence == pytest.approx(y.confidence, abs=1e-4), question
        assert [h.confidence for h in x.hits] == pytest.approx([h.confidence for h in y.hits], abs=1e-4)


def test_both_stores_give_the_same_answers_before_and_after_updates(twin_kbs, dev_questions):
    from benchmarks.corpus import write_generated_corpus
    from qa import QA

    root, on_faiss, on_milvus = twin_kbs
    questions = [q["question"] for q in dev_questions]
    assert len(on_faiss.chunks) == len(on_milvus.chunks) > 2000
    assert_same_answers(on_faiss, on_milvus, questions)
    # an app replica: the model and the Milvus URI, a fresh index folder, no sources
    replica = QA(index_dir=root / "replica", store="milvus", uri=str(root / "kb.db"), replica=True)
    added = write_generated_corpus(root / "more", n_sentences=40, per_file=40, seed=7)[0]
    changed = root / "docs" / "generated-005.txt"
    changed.write_text(write_generated_corpus(root / "other", n_sentences=12, per_file=12, seed=9)[0]
                       .read_text(encoding="utf-8"), encoding="utf-8")
    removed = root / "docs" / "generated-010.txt"
    for kb in (on_faiss, on_milvus):
        kb.add([added, changed])
        kb.remove([removed])
    assert on_faiss.chunks == on_milvus.chunks
    assert on_milvus.manifest["store"] == "milvus"
    assert_same_answers(on_faiss, on_milvus, questions)
    assert replica.refresh() and replica.manifest["build"] == on_milvus.manifest["build"]
    assert_same_answers(on_faiss, replica, questions)

"""The FAISS store on disk: round trip, manifest, checksums, no pickle, atomic replace, lock."""

from __future__ import annotations

import hashlib
import json
import threading
import time

import faiss
import numpy as np
import pytest

from qa.chunk import chunk_documents
from qa.config import BUILTIN_CORPUS, FORMAT_VERSION, Config
from qa.errors import IndexCorruptError
from qa.index import embed
from qa.index.faiss_index import FaissIndex, build_vector_index, search
from qa.index.faiss_store import FaissStore
from qa.index.manifest import BACKUP, MANIFEST, build_lock, read_manifest, remove_unreferenced
from qa.index.vector_store import Build
from qa.ingest import read_document


@pytest.fixture(scope="module")
def stored(encoder):
    chunks = tuple(chunk_documents([read_document(BUILTIN_CORPUS)]))
    vectors = embed.encode(encoder, [c.embed_text for c in chunks])
    index = build_vector_index(vectors, np.array([c.id for c in chunks], dtype=np.int64))
    manifest = {"model": {"id": "use-multilingual-v3", "dimension": int(vectors.shape[1])},
                "settings": {"block_chars": 1000}, "files": {str(BUILTIN_CORPUS): "x"}}
    return Build(manifest=manifest, chunks=chunks, index=FaissIndex(index))


def save(build, folder):
    return FaissStore(folder).save(build.manifest, build.chunks, build.index)


def data_files(folder):
    m = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    return folder / m["data"]["vectors"]["file"], folder / m["data"]["chunks"]["file"]


def test_save_load_round_trip_gives_equal_chunks_and_identical_search(stored, encoder, tmp_path):
    save(stored, tmp_path)
    loaded = FaissStore(tmp_path).load()
    assert loaded.chunks == stored.chunks
    assert loaded.index.count() == stored.index.count() == len(stored.chunks)
    for key in ("model", "settings", "files"):
        assert loaded.manifest[key] == stored.manifest[key]
    queries = embed.encode(encoder, ["停车管理难题", "What is the one circle?", "专家委员会"])
    for q in queries:
        s1, i1 = search(stored.index.faiss, q, 10)
        s2, i2 = search(loaded.index.faiss, q, 10)
        assert np.array_equal(i1, i2)
        assert np.array_equal(s1, s2)


def test_saved_manifest_records_version_checksums_and_counts(stored, tmp_path):
    save(stored, tmp_path)
    m = read_manifest(tmp_path)
    assert m["format_version"] == FORMAT_VERSION
    assert m["counts"]["chunks"] == len(stored.chunks)
    for key, path in zip(("vectors", "chunks"), data_files(tmp_path), strict=True):
        assert m["data"][key]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


def test_index_files_are_json_and_faiss_never_pickle(stored, tmp_path):
    save(stored, tmp_path)
    vec_path, chunk_path = data_files(tmp_path)
    assert {p.name for p in tmp_path.iterdir()} == {MANIFEST, BACKUP, vec_path.name, chunk_path.name}
    json.loads((tmp_path / MANIFEST).read_text(encoding="utf-8"))
    rows = [json.loads(line) for line in chunk_path.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == len(stored.chunks) and all(isinstance(r, dict) for r in rows)
    assert faiss.read_index(str(vec_path)).ntotal == len(stored.chunks)
    for p in tmp_path.iterdir():
        assert not p.read_bytes().startswith(b"\x80"), f"{p.name} looks like a pickle"
        assert p.suffix not in (".pkl", ".pickle", ".npy")


def test_engine_manifest_has_model_settings_and_file_hashes(qa_builtin, builtin_index_dir):
    m = json.loads((builtin_index_dir / MANIFEST).read_text(encoding="utf-8"))
    assert m["format_version"] == FORMAT_VERSION
    assert m["model"]["id"] == Config().model
    assert m["model"]["dimension"] == embed.dimension(qa_builtin.encoder) == 512
    assert m["settings"] == Config().index_settings()
    path = str(BUILTIN_CORPUS.resolve())
    assert m["files"] == {path: hashlib.sha256(BUILTIN_CORPUS.read_bytes()).hexdigest()}
    assert m["counts"]["chunks"] == len(qa_builtin.chunks)
    for p in builtin_index_dir.iterdir():
        if p.is_file():
            assert not p.read_bytes().startswith(b"\x80")


def test_missing_index_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        FaissStore(tmp_path).load()


@pytest.mark.parametrize("damage", ["truncate-vectors", "truncate-chunks", "edit-chunks", "delete-vectors",
                                    "delete-chunks", "garbage-manifest", "manifest-list", "other-version",
                                    "wrong-count"])
def test_damaged_index_is_detected(stored, tmp_path, damage):
    save(stored, tmp_path)
    vec_path, chunk_path = data_files(tmp_path)
    manifest = tmp_path / MANIFEST
    if damage == "truncate-vectors":
        vec_path.write_bytes(vec_path.read_bytes()[:100])
    elif damage == "truncate-chunks":
        chunk_path.write_bytes(chunk_path.read_bytes()[:-50])
    elif damage == "edit-chunks":
        edited = chunk_path.read_text(encoding="utf-8").replace("停车", "开车")
        chunk_path.write_text(edited, encoding="utf-8")
    elif damage == "delete-vectors":
        vec_path.unlink()
    elif damage == "delete-chunks":
        chunk_path.unlink()
    elif damage == "garbage-manifest":
        manifest.write_bytes(b"{not json \x00\xff")
    elif damage == "manifest-list":
        manifest.write_text("[1, 2, 3]", encoding="utf-8")
    else:
        m = json.loads(manifest.read_text(encoding="utf-8"))
        if damage == "other-version":
            m["format_version"] = FORMAT_VERSION + 1
        else:
            m["counts"]["chunks"] += 1
        manifest.write_text(json.dumps(m), encoding="utf-8")
    with pytest.raises(IndexCorruptError):
        FaissStore(tmp_path).load()


def test_later_saves_replace_the_index_and_remove_old_builds(stored, tmp_path):
    save(stored, tmp_path)
    first = set(data_files(tmp_path))
    for n in (5, 3):  # the previous build may be kept one generation for concurrent readers
        part = stored.chunks[:n]
        ids = np.array([c.id for c in part], dtype=np.int64)
        save(Build(manifest=stored.manifest, chunks=part, index=FaissIndex(build_vector_index(
            stored.index.vectors(ids), ids))), tmp_path)
    current = set(data_files(tmp_path))
    assert not first & current
    assert all(not p.exists() for p in first)
    assert len([p for p in tmp_path.iterdir() if p.name.startswith(("vectors-", "chunks-"))]) <= 4
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert FaissStore(tmp_path).load().chunks == stored.chunks[:3]


def test_leftovers_of_a_crashed_build_are_ignored_and_cleaned(stored, tmp_path):
    save(stored, tmp_path)
    crashed = "19990101000000-deadbeef"
    leftovers = [tmp_path / f"vectors-{crashed}.faiss", tmp_path / f"chunks-{crashed}.jsonl",
                 tmp_path / f".{MANIFEST}.{crashed}.tmp"]
    for p in leftovers:
        p.write_bytes(b"half written")
    keep = tmp_path / "notes.txt"
    keep.write_text("not ours", encoding="utf-8")
    assert FaissStore(tmp_path).load().chunks == stored.chunks  # ignored on load
    save(stored, tmp_path)  # cleaned on the next build
    assert not any(p.exists() for p in leftovers)
    assert keep.exists()
    assert FaissStore(tmp_path).load().chunks == stored.chunks


def test_remove_unreferenced_keeps_what_is_named(tmp_path):
    for name in ("vectors-a.faiss", "vectors-b.faiss", "chunks-a.jsonl", MANIFEST, ".lock", "other.json"):
        (tmp_path / name).write_text("x", encoding="utf-8")
    remove_unreferenced(tmp_path, {"vectors-a.faiss", "chunks-a.jsonl"})
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [".lock", "chunks-a.jsonl", MANIFEST, "other.json", "vectors-a.faiss"])


def test_build_lock_is_exclusive(tmp_path):
    events = []
    entered = threading.Event()

    def other():
        entered.set()
        with build_lock(tmp_path):
            events.append("other")

    with build_lock(tmp_path):
        t = threading.Thread(target=other)
        t.start()
        entered.wait(5)
        time.sleep(0.3)
        events.append("first")
    t.join(5)
    assert events == ["first", "other"]

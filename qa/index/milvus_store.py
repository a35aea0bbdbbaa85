"""The Milvus VectorStore: builds as collections in Milvus Lite (a .db path) or a Milvus server.

Per build `{name}_b{seq}` holds one row per sentence Chunk (id, seq = reading order, vector with
an exact FLAT/IP index like FAISS's flat one, chunk = its JSON) and `{name}_b{seq}_sparse` one
row per BM25 block (SPARSE_INVERTED_INDEX, IP). `{name}_meta` holds the manifests in pieces of
under 60 KB and one small *head* row per build, written last: the head is the commit point.

Consistency: every read is Strong, which Milvus defines as seeing every write acknowledged
before the read began (a server waits until its query nodes have caught up to the request's
timestamp, which can cost up to one time tick per request; Milvus Lite is one process and always
current). A commit writes rows, indexes, manifest pieces, and only then the head
(one row: Milvus inserts a row whole or not at all), so a reader that sees a head sees
everything it names, and a head that does not match its pieces (count, SHA-256) is skipped for
the previous one. Nothing half-written is served. A killed commit leaves collections no head
names; the next commit drops them, and also every build but the new one and the one before it,
which stays searchable for readers that opened it an instant before the commit.

Milvus Lite 3.2 runs in this process, in Python, and scans every row on each search (dense k=50:
24-28 ms at 10k passages, 290-380 ms at 100k, against 0.7-0.9 and 1.9 ms with FAISS;
benchmarks/stores.py): it is for tests and small knowledge bases; large ones belong on a server.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import re
import threading
import time
import uuid
from pathlib import Path

import numpy as np

from ..chunk import Chunk
from ..config import FORMAT_VERSION
from ..errors import DiskFullError, IndexCorruptError, ManifestDamagedError, StoreError
from .milvus_index import MilvusIndex, read_build
from .vector_store import Build, SparseRows

try:
    from pymilvus import DataType, MilvusClient, MilvusException
except ImportError:  # pragma: no cover - reported when a store is opened
    MilvusClient = None

log = logging.getLogger(__name__)
PIECE = 60_000  # characters (ASCII JSON) per manifest piece: under the 65,535 of a VARCHAR
TEXT_MAX = 65_535
BATCH = 2_000  # rows per insert or query
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,200}")
_locks: dict[str, list] = {}  # location -> [RLock, depth, lock file]; one per process
_locks_guard = threading.Lock()
_lite_users: dict[str, int] = {}  # Lite file -> open MilvusStores in this process (they share its server)


def is_lite(uri: str) -> bool:
    """A file path (Milvus Lite) rather than a server address."""
    return not re.match(r"(https?|tcp|unix):", uri)


class MilvusStore:
    """Builds kept in Milvus: Milvus Lite for a file path ending in .db (one process may open
    it at a time, Lite's own rule), a standalone or cluster for `http://host:19530`."""

    kind = "milvus"
    stores_sparse = True  # the BM25 block vectors are searched in Milvus

    def __init__(self, uri: str, name: str = "qa", cache_vectors: bool | None = None):
        if MilvusClient is None:
            raise StoreError("the Milvus store needs pymilvus and milvus-lite: "
                             "pip install pymilvus milvus-lite")
        if not _NAME.fullmatch(name):
            raise StoreError(f"Milvus collection name prefix {name!r} (QA_MILVUS_COLLECTION): letters, "
                             f"digits and _ only, starting with a letter or _")
        self.uri, self.name, self.location = str(uri), name, str(uri)
        self.lite = is_lite(self.uri)
        self.cache_vectors = self.lite if cache_vectors is None else cache_vectors  # see MilvusIndex
        if self.lite:
            if not self.uri.endswith(".db"):
                raise StoreError(f"a Milvus Lite URI is a file path ending in .db, not {self.uri!r}")
            Path(self.uri).parent.mkdir(parents=True, exist_ok=True)
        try:
            self.client = MilvusClient(self.uri, timeout=30)
            if self.lite:
                with _locks_guard:
                    _lite_users[self.uri] = _lite_users.get(self.uri, 0) + 1
        except Exception as e:
            hint = ("it may be open in another process (Milvus Lite allows one; use a Milvus server "
                    "for several)" if self.lite else "check that the Milvus server is running and "
                    "reachable, or give a .db file path for Milvus Lite")
            raise StoreError(f"cannot open Milvus at {self.uri}: {e}; {hint}") from e
        self.meta = f"{name}_meta"
        self._builds = re.compile(rf"{name}_b(\d+)(_sparse)?")
        if self.meta not in self._collections():
            self._create(self.meta, [("id", "INT64"), ("seq", "INT64"), ("kind", "VARCHAR"),
                                     ("part", "INT64"), ("text", "VARCHAR")], "pad", 2, "FLAT",
                         auto_id=True)
        else:
            _call(self.client.load_collection, self.meta)  # a server or Lite reopened: released

    def close(self) -> None:
        """Close the connection; the last one of a Lite file lets other processes open it."""
        if self.client is None:
            return
        self.client.close()
        self.client = None
        if self.lite:
            with _locks_guard:
                _lite_users[self.uri] -= 1
                last = not _lite_users[self.uri]
            if last:
                from milvus_lite.server_manager import server_manager_instance
                server_manager_instance.release_server(self.uri)

    @contextlib.contextmanager
    def lock(self):
        """Exclusive writer lock, re-entrant within the process (a threading.RLock per location).

        Lite: also an fcntl lock on `<file>.lock` beside the .db, so processes take turns.
        A server has no lock of its own: this lock is process-local, and one writer at a time
        (one process that updates the knowledge base) must be arranged by the deployment.
        Yields whether writes are possible (False: the lock file cannot be created).
        """
        key = str(Path(self.uri).resolve()) if self.lite else f"{self.uri}#{self.name}"
        with _locks_guard:
            entry = _locks.setdefault(key, [threading.RLock(), 0, None])
        with entry[0]:
            if entry[1] == 0 and self.lite:
                try:
                    entry[2] = open(key + ".lock", "a")
                except OSError as e:
                    log.info("cannot create %s.lock (%s): opening read-only", key, e.strerror)
                    yield False
                    return
                fcntl.flock(entry[2].fileno(), fcntl.LOCK_EX)
            entry[1] += 1
            try:
                yield True
            finally:
                entry[1] -= 1
                if entry[1] == 0 and entry[2] is not None:
                    fcntl.flock(entry[2].fileno(), fcntl.LOCK_UN)
                    entry[2].close()
                    entry[2] = None

    def stamp(self) -> int | None:
        """The newest head's build seq (one small query), None before the first commit."""
        seqs = [h["seq"] for h in self._heads(["seq"])]
        return max(seqs) if seqs else None

    def read_manifest(self, any_version: bool = False) -> dict:
        return self._current(any_version)[0]

    def load(self) -> Build:
        for attempt in range(3):
            manifest, head = self._current()
            try:
                return self._load(manifest, head)
            except IndexCorruptError:
                # a commit may have dropped this build since its head was read
                if attempt == 2 or self.stamp() == head["seq"]:
                    raise
        raise AssertionError("unreachable")

    def commit(self, manifest: dict, chunks: tuple[Chunk, ...], base: MilvusIndex | None,
               removed: np.ndarray, added_ids: np.ndarray, added: np.ndarray,
               sparse: SparseRows | None) -> Build:
        """Write a new build and its head (see the module docstring). Kept vectors are read
        back from `base` (never embedded again), in batches, as rows are inserted in reading
        order. Any failure drops the new collections and leaves the previous build current."""
        if sparse is None:
            raise ValueError("the Milvus store keeps the BM25 rows (stores_sparse): commit needs them")
        added = np.asarray(added, dtype=np.float32)
        dim = added.shape[1] if added.ndim == 2 else base.dim if base else manifest["model"]["dimension"]
        fresh = {int(i): n for n, i in enumerate(np.asarray(added_ids, dtype=np.int64).tolist())}
        seq = 1 + max([h["seq"] for h in self._heads()] + self._build_seqs() + [0])
        try:
            previous = self._current()[1]["seq"]  # what readers serve now: kept for them
        except (FileNotFoundError, IndexCorruptError):
            previous = None
        dense, sparse_name = f"{self.name}_b{seq}", f"{self.name}_b{seq}_sparse"
        build = f"{seq}-{time.strftime('%Y%m%d%H%M%S')}-{uuid.uuid4().hex[:8]}"
        try:
            self._create(dense, [("id", "INT64"), ("seq", "INT64"), ("chunk", "VARCHAR")],
                         "vector", dim, "FLAT")
            self._create(sparse_name, [("row", "INT64")], "sparse", None, "SPARSE_INVERTED_INDEX")
            long_chunks, matrix = self._insert_chunks(dense, chunks, fresh, added, base, dim)
            self._insert_sparse(sparse_name, sparse)
            for name in (dense, sparse_name):
                _call(self.client.flush, name)
            manifest = dict(manifest, format_version=FORMAT_VERSION, build=build, store="milvus",
                            data={"vectors": {"collection": dense}, "sparse": {"collection": sparse_name,
                                                                                "rows": len(sparse)}},
                            counts={"chunks": len(chunks), "documents": len(manifest.get("files", {}))})
            text = json.dumps(manifest, ensure_ascii=True, separators=(",", ":"))
            pieces = [text[i:i + PIECE] for i in range(0, len(text), PIECE)]
            self._insert(self.meta, [{"seq": seq, "kind": kind, "part": p, "text": t, "pad": [0.0, 0.0]}
                                     for kind, texts in [("manifest", pieces)] + long_chunks
                                     for p, t in enumerate(texts)])
            self._write_head({"seq": seq, "build": build, "dense": dense, "sparse": sparse_name,
                              "dim": dim, "pieces": len(pieces), "chunks": len(chunks), "time": time.time(),
                              "sha256": hashlib.sha256(text.encode()).hexdigest()})
        except BaseException:
            for name in (dense, sparse_name):
                with contextlib.suppress(Exception):
                    self.client.drop_collection(name)
            with contextlib.suppress(Exception):
                self.client.delete(self.meta, filter=f"seq == {seq}")
            raise
        self._clean({seq, previous})
        cache = (np.array([c.id for c in chunks], dtype=np.int64), matrix) if self.cache_vectors else None
        index = MilvusIndex(self.client, _call, dense, sparse_name, dim, len(chunks), cache)
        return Build(manifest, tuple(chunks), index)

    def _write_head(self, head: dict) -> None:
        """The commit point: one row naming the build's collections and its manifest pieces."""
        self._insert(self.meta, [{"seq": head["seq"], "kind": "head", "part": 0, "text": json.dumps(head),
                                  "pad": [0.0, 0.0]}])
        _call(self.client.flush, self.meta)

    # --- reading ---------------------------------------------------------------------------

    def _heads(self, fields=("seq", "text")) -> list[dict]:
        return _call(self.client.query, self.meta, filter='kind == "head"', output_fields=list(fields),
                     limit=1_000, consistency_level="Strong")

    def _meta_rows(self, seq: int, kind: str) -> list[dict]:
        return _call(self.client.query, self.meta, filter=f"seq == {seq} and {kind}",
                     output_fields=["kind", "part", "text"], limit=16_384, consistency_level="Strong")

    def _current(self, any_version: bool = False) -> tuple[dict, dict]:
        """The newest head whose manifest is whole, with that manifest; older heads are the
        fallback when the newest is damaged (logged)."""
        heads = sorted(self._heads(), key=lambda h: -h["seq"])
        if not heads:
            raise FileNotFoundError(f"no build committed in {self.uri} ({self.meta})")
        problems = []
        for h in heads:
            try:
                head = json.loads(h["text"])
                rows = self._meta_rows(h["seq"], 'kind == "manifest"')
                text = "".join(r["text"] for r in sorted(rows, key=lambda r: r["part"]))
                if len(rows) != head["pieces"] or hashlib.sha256(text.encode()).hexdigest() != head["sha256"]:
                    raise ValueError(f"{len(rows)} of {head['pieces']} pieces, or a checksum mismatch")
                manifest = json.loads(text)
            except (ValueError, KeyError, TypeError) as e:
                problems.append(f"build {h['seq']}: {e}")
                continue
            if problems:
                log.warning("%s; reading the previous build %s", "; ".join(problems), h["seq"])
            if manifest.get("format_version") != FORMAT_VERSION and not any_version:
                raise IndexCorruptError(f"{self.uri}: index format {manifest.get('format_version')} is not "
                                        f"{FORMAT_VERSION}; rebuild with `python -m qa index`")
            return manifest, head
        raise ManifestDamagedError(f"{self.uri}: no whole manifest ({'; '.join(problems)})")

    def _load(self, manifest: dict, head: dict) -> Build:
        dense, sparse, n = head["dense"], head["sparse"], head["chunks"]
        if not {dense, sparse} <= set(self._collections()):
            raise IndexCorruptError(f"{self.uri}: collections of build {head['seq']} are missing")
        for name in (dense, sparse):
            _call(self.client.load_collection, name)
        long_rows = self._meta_rows(head["seq"], 'kind like "chunk:%"')
        try:
            chunks, index = read_build(self.client, _call, head, long_rows, self.cache_vectors)
        except (KeyError, ValueError, TypeError) as e:
            raise IndexCorruptError(f"{self.uri}: build {head['seq']} is unreadable: {e}") from e
        if len(chunks) != n or manifest.get("counts", {}).get("chunks") != n:
            raise IndexCorruptError(f"{self.uri}: build {head['seq']} has {len(chunks)} of {n} passages")
        return Build(manifest, chunks, index)

    # --- writing ---------------------------------------------------------------------------

    def _insert_chunks(self, dense, chunks, fresh, added, base, dim):
        """Rows in reading order. Returns the chunks whose JSON is over a VARCHAR, in pieces (for
        the meta collection, written with the manifest), and the vectors if they are cached."""
        long, matrix = [], np.zeros((len(chunks) if self.cache_vectors else 0, dim), dtype=np.float32)
        for lo in range(0, len(chunks), BATCH):
            part = chunks[lo:lo + BATCH]
            kept = np.array([c.id for c in part if c.id not in fresh], dtype=np.int64)
            if len(kept) and base is None:
                raise ValueError(f"{len(kept)} passages have no vector (no base build, not added)")
            old = base.vectors(kept) if len(kept) else np.zeros((0, dim), dtype=np.float32)
            at = {int(i): n for n, i in enumerate(kept.tolist())}
            rows = []
            for n, c in enumerate(part):
                text = json.dumps(c.to_dict(), ensure_ascii=False)
                if len(text.encode()) > TEXT_MAX:
                    ascii_text = json.dumps(c.to_dict())
                    long.append((f"chunk:{c.id}", [ascii_text[i:i + PIECE]
                                                   for i in range(0, len(ascii_text), PIECE)]))
                    text = ""
                vec = added[fresh[c.id]] if c.id in fresh else old[at[c.id]]
                rows.append({"id": c.id, "seq": lo + n, "vector": vec.tolist(), "chunk": text})
                if self.cache_vectors:
                    matrix[lo + n] = vec
            self._insert(dense, rows)
        return long, matrix

    def _insert_sparse(self, name: str, sparse: SparseRows) -> None:
        for lo in range(0, len(sparse), BATCH):
            rows = ({"row": r, "sparse": {t: w for t, w in sparse.row(r).items() if w}}
                    for r in range(lo, min(lo + BATCH, len(sparse))))
            # Milvus refuses an empty sparse vector; such a block scores 0 anyway
            self._insert(name, [row for row in rows if row["sparse"]])

    def _insert(self, name: str, rows: list[dict]) -> None:
        for lo in range(0, len(rows), BATCH):
            _call(self.client.insert, name, rows[lo:lo + BATCH])

    def _create(self, name, fields, vector, dim, index, auto_id=False) -> None:
        schema = MilvusClient.create_schema(auto_id=auto_id, enable_dynamic_field=False)
        for n, (field, kind) in enumerate(fields):
            extra = {"max_length": TEXT_MAX} if kind == "VARCHAR" else {}
            schema.add_field(field, getattr(DataType, kind), is_primary=n == 0, **extra)
        if dim is None:
            schema.add_field(vector, DataType.SPARSE_FLOAT_VECTOR)
        else:
            schema.add_field(vector, DataType.FLOAT_VECTOR, dim=dim)
        params = self.client.prepare_index_params()
        params.add_index(field_name=vector, index_type=index, metric_type="IP")
        _call(self.client.create_collection, name, schema=schema, consistency_level="Strong")
        # sync=False: the collection is empty, and pymilvus's wait polls every 0.5 s
        _call(self.client.create_index, name, params, sync=False)
        _call(self.client.load_collection, name)

    def _clean(self, keep: set) -> None:
        """Drop every build collection and meta row but those of the builds in `keep` (the new
        one and the one readers served before it): older builds, and what killed commits left."""
        seqs = sorted(x for x in keep if x is not None)
        _call(self.client.delete, self.meta, filter=f"seq not in {seqs}")
        for name in self._collections():
            m = self._builds.fullmatch(name)
            if m and int(m.group(1)) not in seqs:
                _call(self.client.drop_collection, name)

    def _collections(self) -> list[str]:
        return _call(self.client.list_collections)

    def _build_seqs(self) -> list[int]:
        return [int(m.group(1)) for m in map(self._builds.fullmatch, self._collections()) if m]


def _call(fn, *args, **kwargs):
    """A Milvus request. A missing collection is an IndexCorruptError (a build dropped or
    damaged), a full disk a DiskFullError; any other failure (server down) a StoreError."""
    try:
        return fn(*args, **kwargs)
    except MilvusException as e:
        text = str(e).lower()
        if "no space" in text:
            raise DiskFullError(f"Milvus: disk full ({e}); nothing was committed, the previous build "
                                f"is unchanged (free some space and try again)") from e
        if "not exist" in text or "not found" in text:
            raise IndexCorruptError(f"Milvus {fn.__name__}: {e}") from e
        raise StoreError(f"Milvus {fn.__name__} failed: {e}; check that the server is running") from e

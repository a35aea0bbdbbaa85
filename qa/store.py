"""The index on disk: manifest.json + a FAISS file + chunks.jsonl, written atomically.

Layout of the index folder::

    manifest.json              format version, model, settings, per-file hashes, data file names
    vectors-<build>.faiss      FAISS IndexIDMap2 (ids are Chunk.id)
    chunks-<build>.jsonl       one Chunk per line (JSON, never pickle)

Data files get a fresh build name each time and are fsynced before manifest.json is replaced
with os.replace, so a reader sees either the old index or the new one, never half of one; a
crash leaves at worst unreferenced files, removed at the next build. A process that read the old
manifest an instant before a swap and finds its files gone re-reads the manifest (load retries).
The manifest records the SHA-256 of each data file, so truncation or corruption is detected on open.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from .chunk import Chunk
from .config import FORMAT_VERSION
from .errors import IndexCorruptError
from .ingest import file_sha256

MANIFEST = "manifest.json"


@dataclass(frozen=True)
class StoredIndex:
    """Everything a search needs, as saved on disk."""

    manifest: dict
    chunks: tuple[Chunk, ...]
    vectors: faiss.Index

    def save(self, folder: Path) -> dict:
        """Write atomically into `folder` (created if needed). Returns the manifest as written
        (with its build name, data file names and checksums)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        build = time.strftime("%Y%m%d%H%M%S") + "-" + uuid.uuid4().hex[:8]
        vec_name, chunk_name = f"vectors-{build}.faiss", f"chunks-{build}.jsonl"
        faiss.write_index(self.vectors, str(folder / vec_name))
        _fsync(folder / vec_name)
        with open(folder / chunk_name, "w", encoding="utf-8") as f:
            for c in self.chunks:
                f.write(json.dumps(c.to_dict(), ensure_ascii=False) + "\n")
            f.flush()
            os.fsync(f.fileno())
        manifest = dict(self.manifest, format_version=FORMAT_VERSION, build=build,
                        data={"vectors": {"file": vec_name, "sha256": file_sha256(folder / vec_name)},
                              "chunks": {"file": chunk_name, "sha256": file_sha256(folder / chunk_name)}},
                        counts={"chunks": len(self.chunks), "documents": len(self.manifest.get("files", {}))})
        tmp = folder / f".{MANIFEST}.{build}.tmp"
        tmp.write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
        _fsync(tmp)
        os.replace(tmp, folder / MANIFEST)
        _fsync_dir(folder)
        remove_unreferenced(folder, {vec_name, chunk_name})
        return manifest

    @classmethod
    def load(cls, folder: Path) -> StoredIndex:
        """Open and validate an index.

        Raises:
            FileNotFoundError: there is no manifest (no index yet).
            IndexCorruptError: the manifest or a data file is unreadable, truncated or inconsistent.
        """
        folder = Path(folder)
        for attempt in range(3):
            manifest = read_manifest(folder)
            try:
                return cls._load(folder, manifest)
            except IndexCorruptError:
                # Another process may have swapped in a new build since we read the manifest.
                if attempt == 2 or read_manifest(folder).get("build") == manifest.get("build"):
                    raise
        raise AssertionError("unreachable")

    @classmethod
    def _load(cls, folder: Path, manifest: dict) -> StoredIndex:
        try:
            data = manifest["data"]
            paths = {k: folder / data[k]["file"] for k in ("vectors", "chunks")}
            for key, path in paths.items():
                if file_sha256(path) != data[key]["sha256"]:
                    raise IndexCorruptError(f"{path} does not match its checksum (truncated or modified)")
            vectors = faiss.read_index(str(paths["vectors"]))
            with open(paths["chunks"], encoding="utf-8") as f:
                chunks = tuple(Chunk.from_dict(json.loads(line)) for line in f if line.strip())
        except IndexCorruptError:
            raise
        except (OSError, KeyError, ValueError, TypeError, RuntimeError) as e:
            raise IndexCorruptError(f"index in {folder} is unreadable: {e}") from e
        if vectors.ntotal != len(chunks) or manifest.get("counts", {}).get("chunks") != len(chunks):
            raise IndexCorruptError(f"index in {folder}: {vectors.ntotal} vectors for {len(chunks)} chunks")
        if len(chunks):
            stored = faiss.vector_to_array(faiss.downcast_index(vectors).id_map)
            if not np.array_equal(np.sort(stored), np.sort([c.id for c in chunks])):
                raise IndexCorruptError(f"index in {folder}: vector ids do not match the chunks")
        return cls(manifest=manifest, chunks=chunks, vectors=vectors)


def read_manifest(folder: Path) -> dict:
    path = Path(folder) / MANIFEST
    if not path.exists():
        raise FileNotFoundError(path)
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise IndexCorruptError(f"{path} is unreadable: {e}") from e
    if not isinstance(manifest, dict) or manifest.get("format_version") != FORMAT_VERSION:
        found = manifest.get("format_version") if isinstance(manifest, dict) else "?"
        raise IndexCorruptError(f"{path}: index format {found} is not {FORMAT_VERSION}; "
                                f"rebuild with `python -m qa index`")
    return manifest


def remove_unreferenced(folder: Path, keep: set[str]) -> None:
    """Delete data files and temporaries of other builds (older, or left by a crash)."""
    for p in folder.iterdir():
        if p.name in keep or p.name == MANIFEST or p.name == ".lock":
            continue
        if p.name.startswith(("vectors-", "chunks-", f".{MANIFEST}.")):
            with contextlib.suppress(OSError):
                p.unlink()


@contextlib.contextmanager
def build_lock(folder: Path):
    """Exclusive lock so that two processes never build into the same folder at once."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "a") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def _fsync(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

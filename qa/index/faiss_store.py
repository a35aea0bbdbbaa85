"""The default VectorStore: builds in a local folder (manifest.json, a FAISS file, chunks.jsonl).

Layout of the index folder::

    manifest.json              format version, model, settings, per-file hashes, data file names
    manifest.backup.json       a copy of the last manifest, written after it
    vectors-<build>.faiss      FAISS IndexIDMap2 (ids are Chunk.id)
    chunks-<build>.jsonl       one Chunk per line (JSON, never pickle)

Data files get a fresh build name each time and are fsynced before manifest.json is replaced
with os.replace, so a reader sees either the old index or the new one, never half of one; a
crash leaves at worst unreferenced files, removed at the next build. A process that read the old
manifest an instant before a swap and finds its files gone re-reads the manifest (load retries).
The manifest records the SHA-256 of each data file, so truncation or corruption is detected on open.

A damaged manifest.json (empty, truncated, invalid, fields of the wrong type) is recovered from
the backup (`read_manifest`). Data files are deleted only once both name the new build, so
whichever of the two a reader falls back on still has its files. A full disk during a commit
removes the build's partial files and raises DiskFullError; the previous index stays as it was.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import time
import uuid
from pathlib import Path

import numpy as np

from ..chunk import Chunk
from ..config import FORMAT_VERSION
from ..errors import DiskFullError, IndexCorruptError, ManifestDamagedError
from ..ingest import file_sha256
from .faiss_index import FaissIndex, build_vector_index, read_file, stored_ids, to_bytes
from .manifest import (
    BACKUP,
    MANIFEST,
    build_lock,
    fsync_dir,
    read_manifest,
    remove_unreferenced,
    write_atomic,
    write_synced,
)
from .vector_store import Build, SparseRows, VectorIndex

log = logging.getLogger(__name__)


class FaissStore:
    """Builds in the folder `folder` (created on the first commit); see the module docstring."""

    kind = "faiss"
    stores_sparse = False

    def __init__(self, folder):
        self.folder = Path(folder)
        self.location = str(self.folder)

    def lock(self):
        return build_lock(self.folder)

    def stamp(self):
        try:
            st = os.stat(self.folder / MANIFEST)
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size, st.st_ino

    def read_manifest(self, any_version: bool = False) -> dict:
        """manifest.json if it is sound, else its backup (restored as manifest.json when the
        folder is writable) if the backup and its data files are sound.

        Raises:
            FileNotFoundError: neither exists (no index yet).
            ManifestDamagedError: manifest.json is damaged and there is no usable backup.
            IndexCorruptError: another format version (unless any_version).
        """
        if any_version:
            return read_manifest(self.folder, any_version=True)
        try:
            return read_manifest(self.folder)
        except (FileNotFoundError, ManifestDamagedError) as e:
            damage = e
        try:
            backup = read_manifest(self.folder, BACKUP)
            self._load(backup)
        except FileNotFoundError:
            raise damage from None
        except IndexCorruptError as e:
            if isinstance(damage, FileNotFoundError):
                raise damage from None
            raise ManifestDamagedError(f"{damage}; its backup {BACKUP} is not usable either ({e})") from e
        log.warning("%s; recovered the index from %s (build %s)", damage, BACKUP, backup["build"])
        try:
            write_atomic(self.folder / MANIFEST, (self.folder / BACKUP).read_bytes())
        except OSError as e:
            log.warning("could not restore %s from its backup (%s); reading the backup", MANIFEST, e)
        return backup

    def load(self) -> Build:
        """Open and validate the current build.

        Raises:
            FileNotFoundError: there is no manifest (no index yet).
            IndexCorruptError: the manifest or a data file is unreadable, truncated or inconsistent.
        """
        for attempt in range(3):
            manifest = read_manifest(self.folder)
            try:
                return self._load(manifest)
            except IndexCorruptError:
                # Another process may have swapped in a new build since we read the manifest.
                if attempt == 2 or read_manifest(self.folder).get("build") == manifest.get("build"):
                    raise
        raise AssertionError("unreachable")

    def _load(self, manifest: dict) -> Build:
        try:
            data = manifest["data"]
            paths = {k: self.folder / data[k]["file"] for k in ("vectors", "chunks")}
            for key, path in paths.items():
                if file_sha256(path) != data[key]["sha256"]:
                    raise IndexCorruptError(f"{path} does not match its checksum (truncated or modified)")
            vectors = read_file(paths["vectors"])
            with open(paths["chunks"], encoding="utf-8") as f:
                chunks = tuple(Chunk.from_dict(json.loads(line)) for line in f if line.strip())
        except IndexCorruptError:
            raise
        except (OSError, KeyError, ValueError, TypeError, RuntimeError) as e:
            raise IndexCorruptError(f"index in {self.folder} is unreadable: {e}") from e
        if vectors.ntotal != len(chunks) or manifest.get("counts", {}).get("chunks") != len(chunks):
            raise IndexCorruptError(f"index in {self.folder}: {vectors.ntotal} vectors for "
                                    f"{len(chunks)} chunks")
        if len(chunks) and not np.array_equal(np.sort(stored_ids(vectors)), np.sort([c.id for c in chunks])):
            raise IndexCorruptError(f"index in {self.folder}: vector ids do not match the chunks")
        return Build(manifest=manifest, chunks=chunks, index=FaissIndex(vectors))

    def commit(self, manifest: dict, chunks: tuple[Chunk, ...], base: VectorIndex | None,
               removed: np.ndarray, added_ids: np.ndarray, added: np.ndarray,
               sparse: SparseRows | None = None) -> Build:
        """Write a new build and make it current (the BM25 side is not stored: it is rebuilt
        from the passages when the build is opened)."""
        if base is None:
            index = FaissIndex(build_vector_index(added, added_ids))
        else:
            index = base.updated(removed, added_ids, added)
        return self.save(manifest, chunks, index)

    def save(self, manifest: dict, chunks: tuple[Chunk, ...], index: FaissIndex) -> Build:
        """Write `index` and `chunks` as a new build and commit it atomically."""
        folder = self.folder
        folder.mkdir(parents=True, exist_ok=True)
        build = time.strftime("%Y%m%d%H%M%S") + "-" + uuid.uuid4().hex[:8]
        vec_name, chunk_name = f"vectors-{build}.faiss", f"chunks-{build}.jsonl"
        tmp = folder / f".{MANIFEST}.{build}.tmp"
        try:
            write_synced(folder / vec_name, to_bytes(index.faiss))
            write_synced(folder / chunk_name, "".join(
                json.dumps(c.to_dict(), ensure_ascii=False) + "\n" for c in chunks).encode("utf-8"))
            written = dict(manifest, format_version=FORMAT_VERSION, build=build,
                           data={"vectors": {"file": vec_name, "sha256": file_sha256(folder / vec_name)},
                                 "chunks": {"file": chunk_name, "sha256": file_sha256(folder / chunk_name)}},
                           counts={"chunks": len(chunks), "documents": len(manifest.get("files", {}))})
            text = json.dumps(written, ensure_ascii=False, indent=1).encode("utf-8")
            write_synced(tmp, text)
            os.replace(tmp, folder / MANIFEST)
        except BaseException as e:
            for name in (vec_name, chunk_name, tmp.name):
                with contextlib.suppress(OSError):
                    (folder / name).unlink()
            if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
                raise DiskFullError(f"disk full: the index in {folder} could not be saved; the previous "
                                    f"index is unchanged (free some space and try again)") from e
            raise
        fsync_dir(folder)
        build_out = Build(manifest=written, chunks=tuple(chunks), index=index)
        try:
            write_atomic(folder / BACKUP, text)
        except OSError as e:
            # Committed all the same; the old backup still has its files, which are kept for it.
            log.warning("could not write %s (%s); old data files are kept for it", BACKUP, e)
            return build_out
        remove_unreferenced(folder, {vec_name, chunk_name})
        return build_out


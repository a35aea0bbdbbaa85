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

Every save also writes manifest.backup.json, a copy of the new manifest, after manifest.json:
a damaged manifest.json (empty, truncated, invalid, fields of the wrong type) is recovered from
it (`recover_manifest`). Data files are deleted only once both name the new build, so whichever
of the two a reader falls back on still has its files. A full disk during a save removes the
build's partial files and raises DiskFullError; the previous index stays as it was.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from ..chunk import Chunk
from ..config import FORMAT_VERSION
from ..errors import DiskFullError, IndexCorruptError, ManifestDamagedError
from ..ingest import file_sha256

MANIFEST = "manifest.json"
BACKUP = "manifest.backup.json"
LOCK = ".lock"
log = logging.getLogger(__name__)


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
        tmp = folder / f".{MANIFEST}.{build}.tmp"
        try:
            # Serialised here, written by Python: a full disk is an OSError, not a C++ error.
            _write_synced(folder / vec_name, faiss.serialize_index(self.vectors).tobytes())
            _write_synced(folder / chunk_name, "".join(
                json.dumps(c.to_dict(), ensure_ascii=False) + "\n" for c in self.chunks).encode("utf-8"))
            manifest = dict(self.manifest, format_version=FORMAT_VERSION, build=build,
                            data={"vectors": {"file": vec_name, "sha256": file_sha256(folder / vec_name)},
                                  "chunks": {"file": chunk_name, "sha256": file_sha256(folder / chunk_name)}},
                            counts={"chunks": len(self.chunks),
                                    "documents": len(self.manifest.get("files", {}))})
            text = json.dumps(manifest, ensure_ascii=False, indent=1).encode("utf-8")
            _write_synced(tmp, text)
            os.replace(tmp, folder / MANIFEST)
        except BaseException as e:
            for name in (vec_name, chunk_name, tmp.name):
                with contextlib.suppress(OSError):
                    (folder / name).unlink()
            if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
                raise DiskFullError(f"disk full: the index in {folder} could not be saved; the previous "
                                    f"index is unchanged (free some space and try again)") from e
            raise
        _fsync_dir(folder)
        try:
            _write_atomic(folder / BACKUP, text)
        except OSError as e:
            # Committed all the same; the old backup still has its files, which are kept for it.
            log.warning("could not write %s (%s); old data files are kept for it", BACKUP, e)
            return manifest
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


def read_manifest(folder: Path, name: str = MANIFEST, any_version: bool = False) -> dict:
    """The manifest, checked for shape (`check_manifest`).

    Raises:
        FileNotFoundError: there is none.
        ManifestDamagedError: unreadable, not JSON, or fields of the wrong type.
        IndexCorruptError: another format version (unless any_version).
    """
    path = Path(folder) / name
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise
    except OSError as e:
        raise ManifestDamagedError(f"{path} is unreadable: {e}") from e
    try:
        manifest = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError) as e:
        raise ManifestDamagedError(f"{path} is unreadable: {e}") from e
    if not isinstance(manifest, dict):
        raise ManifestDamagedError(f"{path} is not a JSON object")
    if manifest.get("format_version") != FORMAT_VERSION:
        if any_version:
            return manifest
        raise IndexCorruptError(f"{path}: index format {manifest.get('format_version')} is not "
                                f"{FORMAT_VERSION}; rebuild with `python -m qa index`")
    problem = check_manifest(manifest)
    if problem:
        raise ManifestDamagedError(f"{path}: {problem}")
    return manifest


def _is(value, kind, of=None) -> bool:
    if not isinstance(value, kind) or isinstance(value, bool):
        return False
    if of is None:
        return True
    items = value.values() if isinstance(value, dict) else value
    return all(isinstance(x, of) and not isinstance(x, bool) for x in items)


def check_manifest(m: dict) -> str | None:
    """What is wrong with a manifest's fields (types of what is there), or None."""
    data = m.get("data")
    if not _is(m.get("build"), str):
        return "build is not a string"
    if not _is(data, dict) or not all(_is(data.get(k), dict) and _is(data[k].get("file"), str)
                                      and _is(data[k].get("sha256"), str) for k in ("vectors", "chunks")):
        return "data does not name the vectors and chunks files"
    if any(Path(data[k]["file"]).name != data[k]["file"] for k in ("vectors", "chunks")):
        return "data names a file outside the index folder"
    if not _is(m.get("counts"), dict) or not _is(m["counts"].get("chunks"), int):
        return "counts are missing"
    optional = {"sources": (list, str), "excluded": (list, str), "terms": (list, str),
                "files": (dict, str), "source_hashes": (dict, str), "documents": (list, dict),
                "skipped": (dict, dict), "model": (dict, None), "settings": (dict, None)}
    for key, (kind, of) in optional.items():
        if key in m and not _is(m[key], kind, of):
            return f"{key} is not a {kind.__name__}" + (f" of {of.__name__}" if of else "")
    if "model" in m and not _is(m["model"].get("id"), str):
        return "model.id is not a string"
    for d in m.get("documents", ()):
        if not (_is(d.get("path"), str) and _is(d.get("sha256"), str)):
            return "a document entry has no path or sha256"
    for v in m.get("skipped", {}).values():
        if not (_is(v.get("sha256"), str) and _is(v.get("reason"), str)):
            return "a skipped entry has no sha256 or reason"
    return None


def recover_manifest(folder: Path) -> dict:
    """manifest.json if it is sound, else its backup (restored as manifest.json when the folder
    is writable) if the backup and its data files are sound.

    Raises:
        FileNotFoundError: neither exists (no index yet).
        ManifestDamagedError: manifest.json is damaged and there is no usable backup.
        IndexCorruptError: another format version.
    """
    folder = Path(folder)
    try:
        return read_manifest(folder)
    except (FileNotFoundError, ManifestDamagedError) as e:
        damage = e
    try:
        backup = read_manifest(folder, BACKUP)
        StoredIndex._load(folder, backup)
    except FileNotFoundError:
        raise damage from None
    except IndexCorruptError as e:
        if isinstance(damage, FileNotFoundError):
            raise damage from None
        raise ManifestDamagedError(f"{damage}; its backup {BACKUP} is not usable either ({e})") from e
    log.warning("%s; recovered the index from %s (build %s)", damage, BACKUP, backup["build"])
    try:
        _write_atomic(folder / MANIFEST, (folder / BACKUP).read_bytes())
    except OSError as e:
        log.warning("could not restore %s from its backup (%s); reading the backup", MANIFEST, e)
    return backup


def remove_unreferenced(folder: Path, keep: set[str]) -> None:
    """Delete data files and temporaries of other builds (older, or left by a crash)."""
    for p in folder.iterdir():
        if p.name in keep or p.name in (MANIFEST, BACKUP, LOCK):
            continue
        if p.name.startswith(("vectors-", "chunks-", f".{MANIFEST}.")):
            with contextlib.suppress(OSError):
                p.unlink()


_held = threading.local()


@contextlib.contextmanager
def build_lock(folder: Path):
    """Exclusive lock so that two processes never build into the same folder at once.

    Re-entrant within a thread. Yields True, or False when the folder cannot be written
    (read-only file system, no permission): then the index may be read but not updated.
    A `.lock` that is a directory is damage: removed if empty, otherwise the folder is read-only.
    """
    folder = Path(folder)
    key = str(folder.resolve())
    depth = getattr(_held, "locks", {})
    _held.locks = depth
    if depth.get(key):
        depth[key] += 1
        try:
            yield True
        finally:
            depth[key] -= 1
        return
    try:
        folder.mkdir(parents=True, exist_ok=True)
        lock = folder / LOCK
        if lock.is_dir() and not lock.is_symlink():
            log.warning("%s is a directory, not a lock file; removing it", lock)
            lock.rmdir()
        f = open(lock, "a")
    except OSError as e:
        if e.errno in (errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOTEMPTY, errno.EISDIR, errno.ENOSPC):
            log.info("index folder %s is not writable (%s): opening it read-only", folder, e.strerror)
            yield False
            return
        raise
    with f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        depth[key] = 1
        try:
            yield True
        finally:
            depth[key] = 0
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def _write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        _write_synced(tmp, data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(path.parent)


def _fsync(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

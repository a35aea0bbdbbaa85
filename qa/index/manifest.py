"""The manifest of a local index folder: reading and checking it, the writer lock, atomic writes
(the folder layout is described in faiss_store.py)."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import threading
import uuid
from pathlib import Path

from ..config import FORMAT_VERSION
from ..errors import IndexCorruptError, ManifestDamagedError

MANIFEST = "manifest.json"
BACKUP = "manifest.backup.json"
LOCK = ".lock"
log = logging.getLogger(__name__)


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
    """What is wrong with a folder manifest's fields (types of what is there), or None."""
    data = m.get("data")
    if not _is(data, dict) or not all(_is(data.get(k), dict) and _is(data[k].get("file"), str)
                                      and _is(data[k].get("sha256"), str) for k in ("vectors", "chunks")):
        return "data does not name the vectors and chunks files"
    if any(Path(data[k]["file"]).name != data[k]["file"] for k in ("vectors", "chunks")):
        return "data names a file outside the index folder"
    return check_fields(m)


def check_fields(m: dict) -> str | None:
    """What is wrong with the fields every store's manifest has (build, counts, sources,
    documents...), or None."""
    if not _is(m.get("build"), str):
        return "build is not a string"
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


def write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        write_synced(tmp, data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_dir(path.parent)


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

"""Parse documents in a separate worker process with a time limit and a memory cap.

A hostile file (a Word document holding millions of paragraphs, HTML nested thousands deep)
must not stall or crash the service. Each document is parsed by one long-lived worker process
(started on first use as a fresh interpreter, so it shares no locks with the server's threads); a parse
that takes longer than PARSE_SECONDS is stopped by killing the worker, which is started again
for the next document. The worker's address space is capped at PARSE_MEMORY_BYTES, so a parse
that would need more fails there with MemoryError instead of swapping the machine. Whatever
goes wrong comes back as SourceError with the reason, so the document is refused or skipped,
never fatal. Only Document objects travel back, over a pipe between these two processes.

QA_PARSE_SECONDS and QA_PARSE_MEMORY_MB change the limits; QA_PARSE_IN_PROCESS=1 parses in
this process (no time or memory limit; errors are still turned into SourceError).
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import threading
from multiprocessing.connection import Connection
from pathlib import Path

from ..errors import ParseLimitError, SourceError
from .document import Document, format_of
from .limits import MAX_OCR_SECONDS
from .read import parse_bytes

log = logging.getLogger(__name__)


def _env_number(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name) or default)
    except ValueError:
        return default


PARSE_SECONDS = _env_number("QA_PARSE_SECONDS", 120)
PARSE_MEMORY_BYTES = int(_env_number("QA_PARSE_MEMORY_MB", 3072) * 1024 * 1024)

STARTUP_SECONDS = 120
_lock = threading.Lock()
_worker: tuple | None = None  # (process, connection)


def parse_isolated(data: bytes, path: str, timeout: float | None = None) -> Document:
    """Parse the bytes of a file named `path` in the worker process.

    Raises:
        ParseLimitError: over the time limit or the memory cap.
        SourceError: the document cannot be read (any error of the parser, with its reason).
    """
    if timeout is None:
        # a file that may need OCR (images, PDF scans) gets the OCR time limit (qa.ingest.limits, checked
        # between pages) and a minute more; every other parse is bounded by its format's limits
        ocr = format_of(path) in ("image", "pdf")
        timeout = max(PARSE_SECONDS, MAX_OCR_SECONDS + 60) if ocr else PARSE_SECONDS
    if os.environ.get("QA_PARSE_IN_PROCESS") == "1":
        return _parse(data, path)
    name = Path(path).name
    with _lock:
        process, conn = _started()
        try:
            conn.send((data, path))
            ready = conn.poll(timeout)
            result = conn.recv() if ready else None
        except (EOFError, OSError, BrokenPipeError):
            _stop()
            raise ParseLimitError(f"{path}: the parser stopped while reading it (too large or too complex "
                                  f"for the memory limit of {PARSE_MEMORY_BYTES // 2**20} MB)") from None
        if not ready:
            _stop()
            log.warning("parse of %s stopped after %.0f s", name, timeout)
            raise ParseLimitError(f"{path}: reading it took longer than {timeout:.0f} s; refused "
                                  f"(split it into smaller documents)")
    kind, value = result
    if kind == "ok":
        return value
    if kind == "limit":
        raise ParseLimitError(value)
    raise SourceError(value)


def read_isolated(path: Path, timeout: float | None = None) -> Document:
    """Read and parse one file in the worker. Raises SourceError (ParseLimitError for limits)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise SourceError(f"{path}: cannot read ({e.strerror})") from e
    return parse_isolated(data, str(path), timeout)


def _parse(data: bytes, path: str) -> Document:
    from ..terms import default_tokenizer

    try:
        return parse_bytes(data, path, tokenizer=default_tokenizer())
    except SourceError:
        raise
    except RecursionError:
        raise SourceError(f"{path}: nested too deeply to be read") from None
    except MemoryError:
        raise ParseLimitError(f"{path}: needs more than {PARSE_MEMORY_BYTES // 2**20} MB of memory to "
                              f"read; refused") from None
    except Exception as e:  # noqa: BLE001 - a parser's bug on a hostile file: refuse the file, go on
        raise SourceError(f"{path}: cannot be read ({type(e).__name__}: {str(e)[:200]})") from e


def _serve(conn, memory_bytes: int) -> None:
    """The worker's loop: parse what arrives, send back ("ok", Document) or (kind, reason)."""
    try:
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    except (ImportError, ValueError, OSError):
        pass
    from ..terms import default_tokenizer
    default_tokenizer()  # jieba's dictionary, once per worker
    conn.send(("ready", None))
    while True:
        try:
            data, path = conn.recv()
        except (EOFError, OSError):
            return
        try:
            reply = ("ok", _parse(data, path))
        except ParseLimitError as e:
            reply = ("limit", str(e))
        except SourceError as e:
            reply = ("error", str(e))
        del data
        try:
            conn.send(reply)
        except MemoryError:
            conn.send(("limit", f"{path}: too large to hand back; refused"))


def _started():
    """The worker, started if needed: `python -m qa.ingest.worker FD`, talking over a socket pair
    (a fresh interpreter, so that nothing of this process, its threads or its main script, is
    carried over; multiprocessing's spawn would re-run the main script)."""
    global _worker
    if _worker is not None and _worker[0].poll() is None:
        return _worker
    parent_sock, child_sock = socket.socketpair()
    env = dict(os.environ)
    # the folder that holds the `qa` package (this file is qa/ingest/worker.py), so the worker
    # imports this very checkout whatever the current folder
    env["PYTHONPATH"] = os.pathsep.join(p for p in [str(Path(__file__).resolve().parents[2]),
                                                      env.get("PYTHONPATH", "")] if p)
    try:
        # runpy warns that `qa` (whose __init__ imports this module) came first: expected, and
        # it would otherwise be printed under every CLI command
        quiet = "ignore:'qa.ingest.worker' found in sys.modules:RuntimeWarning"
        process = subprocess.Popen([sys.executable, "-W", quiet, "-m", "qa.ingest.worker",
                                    str(child_sock.fileno()), str(PARSE_MEMORY_BYTES)],
                                   pass_fds=[child_sock.fileno()], env=env,
                                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    finally:
        child_sock.close()
    parent = Connection(parent_sock.detach())
    # Starting takes a few seconds (imports, jieba's dictionary): not part of any document's time.
    try:
        ready = parent.poll(STARTUP_SECONDS) and parent.recv()[0] == "ready"
    except (EOFError, OSError):
        ready = False
    if not ready:
        process.kill()
        parent.close()
        raise SourceError("the document parser could not be started")
    _worker = (process, parent)
    return _worker


def warm() -> None:
    """Start the worker now (servers call this at start, so the first upload does not wait)."""
    if os.environ.get("QA_PARSE_IN_PROCESS") == "1":
        return
    with _lock:
        _started()


def _stop() -> None:
    global _worker
    if _worker is None:
        return
    process, conn = _worker
    _worker = None
    process.kill()
    process.wait(5)
    conn.close()


if __name__ == "__main__":
    _serve(Connection(int(sys.argv[1])), int(sys.argv[2]))

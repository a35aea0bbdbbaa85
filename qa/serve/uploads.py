"""Uploads into the knowledge-base folder: validate, copy atomically, index; and delete (for the UI and REST).

The browser tab and the REST API call these functions; they never write outside `qa.kb_dir`.
An upload is checked before anything is written: size (at most MAX_UPLOAD_BYTES), a safe file
name, a supported suffix whose bytes really are of that type (PDF header, Word zip package, text
that decodes), and a full parse that finds text. A rejected upload raises UploadError with a
message for people and changes nothing, neither the folder nor the index.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import threading
import unicodedata
import uuid
import zipfile
from pathlib import Path

from .. import config
from ..errors import DiskFullError, IndexTimeError, SourceError, UploadError
from ..ingest import SUFFIX_FORMATS, decode_text, format_of, parse_isolated

MAX_UPLOAD_BYTES = 20 * 1024 * 1024
#: A .docx is a zip: refuse packages that would inflate beyond this (zip bombs).
MAX_UNZIPPED_BYTES = 200 * 1024 * 1024
MAX_NAME_CHARS = 120
#: File systems allow 255 bytes a name; the stem is cut (at a character) to leave room for the
#: suffix and for the hidden temporary names an upload goes through.
MAX_NAME_BYTES = 200
#: Most text one uploaded document may hold (characters): embedding it must take under a minute.
MAX_UPLOAD_CHARS = 1_000_000
ALLOWED_SUFFIXES = tuple(SUFFIX_FORMATS)

_UNSAFE_NAME = re.compile(r'[\x00-\x1f\x7f<>:"/\\|?*]')
# Magic numbers of common binary files that must never pass as text.
_BINARY_MAGIC = (b"%PDF-", b"PK\x03\x04", b"\x89PNG", b"GIF8", b"\xff\xd8\xff", b"MZ", b"\x7fELF",
                 b"\xd0\xcf\x11\xe0", b"Rar!", b"7z\xbc\xaf", b"\x1f\x8b")
_upload_lock = threading.Lock()


def sanitize_filename(name: str) -> str:
    """A safe file name for the knowledge-base folder: the base name only, no path, control or
    reserved characters, no leading dots; Chinese characters are kept.

    Raises:
        UploadError: nothing usable is left, or the suffix is not a supported document type.
    """
    if not isinstance(name, str):
        raise UploadError("文件名无效", "bad_name")
    name = unicodedata.normalize("NFC", name).replace("\\", "/").split("/")[-1]
    name = _UNSAFE_NAME.sub("_", name).strip().lstrip(".").strip()
    stem, dot, suffix = name.rpartition(".")
    if not dot:
        stem, suffix = name, ""
    suffix = suffix.lower()
    if f".{suffix}" not in ALLOWED_SUFFIXES:
        shown = f".{suffix}" if suffix else "（无扩展名）"
        raise UploadError(f"不支持的文件类型 {shown}；支持：{' '.join(ALLOWED_SUFFIXES)}", "unsupported_type")
    stem = stem.strip(" .")[: MAX_NAME_CHARS] or "document"
    room = MAX_NAME_BYTES - len(suffix.encode("utf-8")) - 1
    while len(stem.encode("utf-8")) > room:
        stem = stem[:-1]
    return f"{stem.rstrip(' .') or 'document'}.{suffix}"


def _read_upload(data) -> bytes:
    """The upload's bytes from bytes, a file path (Gradio) or a binary file object (REST); at most
    MAX_UPLOAD_BYTES + 1 are read so that an oversized upload is refused without reading it all."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    if isinstance(data, (str, os.PathLike)):
        path = Path(data)
        if path.stat().st_size > MAX_UPLOAD_BYTES:
            return b"\x00" * (MAX_UPLOAD_BYTES + 1)
        with open(path, "rb") as f:
            return f.read(MAX_UPLOAD_BYTES + 1)
    if hasattr(data, "read"):
        return data.read(MAX_UPLOAD_BYTES + 1)
    raise UploadError("无法读取上传的文件", "unreadable")


def too_much_text(name: str, chars: int) -> str:
    return (f"{name}：文字太多（{chars} 字，上限 {MAX_UPLOAD_CHARS} 字），未加入知识库；"
            f"请拆成几个较小的文档")


def too_slow(name: str) -> str:
    return (f"{name}：建立索引超时（超过 {config.MAX_EMBED_SECONDS:g} 秒上限），未加入知识库；原有索引不变。"
            f"请拆成几个较小的文档，或在服务器上用 python -m qa add 加入（没有时间上限）")


def sniff(data: bytes, name: str) -> None:
    """Check that the bytes are of the type the suffix claims (content, not just the name).

    Raises:
        UploadError: empty, too large, or the content does not match the suffix.
    """
    if len(data) > MAX_UPLOAD_BYTES:
        raise UploadError(f"文件太大：超过 {MAX_UPLOAD_BYTES // (1024 * 1024)} MB 上限", "too_large")
    if not data.strip():
        raise UploadError(f"{name}：文件是空的", "empty")
    fmt = format_of(name)
    if fmt == "pdf":
        if b"%PDF-" not in data[:1024]:
            raise UploadError(f"{name}：不是 PDF 文件（缺少 %PDF 文件头）")
    elif fmt == "docx":
        if not data.startswith(b"PK\x03\x04"):
            raise UploadError(f"{name}：不是 Word .docx 文件（不是 zip 包；旧版 .doc 请另存为 .docx）")
        try:
            import io
            with zipfile.ZipFile(io.BytesIO(data)) as z:
                names = set(z.namelist())
                unzipped = sum(i.file_size for i in z.infolist())
        except zipfile.BadZipFile as e:
            raise UploadError(f"{name}：Word 文件已损坏（{e}）") from e
        if "word/document.xml" not in names:
            raise UploadError(f"{name}：不是 Word .docx 文件（缺少 word/document.xml）")
        if unzipped > MAX_UNZIPPED_BYTES:
            raise UploadError(f"{name}：Word 文件解压后过大")
    elif fmt in ("image", "pptx", "xlsx"):
        pass  # their readers check the content (qa.ingest.limits first) when save_upload parses them
    else:
        if data.startswith(_BINARY_MAGIC):
            raise UploadError(f"{name}：内容是二进制文件，不是文本")
        try:
            text = decode_text(data, name)
        except SourceError as e:
            raise UploadError(f"{name}：无法作为文本读取（需 UTF-8、GB18030/GBK 或 Big5 编码）：{e}") from e
        if fmt == "html" and "<" not in text:
            raise UploadError(f"{name}：不是 HTML 文件（没有标签）")
        if fmt != "html":
            chars = len(text) - sum(text.count(c) for c in " \n\t\r\u3000")
            if chars > MAX_UPLOAD_CHARS:  # refused before the (long) parse
                raise UploadError(too_much_text(name, chars), "too_large")


def require_writer(qa) -> None:
    """Refuse a write at once on a read-only replica (QA(replica=True)), before a byte is read or
    written, with the engine's own ReadOnlyIndexError (its add and remove would raise it too)."""
    if getattr(qa, "replica", False):
        qa.check_writer()


def save_upload(qa, filename: str, data) -> dict:
    """Validate an uploaded file, copy it into `qa.kb_dir` and index it.

    Args:
        qa: the QA engine.
        filename: the name the browser sent (only its sanitised base name is used).
        data: bytes, a path to a temporary file, or a binary file object.
    Returns:
        {"path": file in the KB folder, "name", "document": its documents() entry,
         "replaced": True if a file of that name was replaced, "report": qa.add's report}
    Raises:
        UploadError: refused (type, size, name, content, unreadable, embedding past
            config.MAX_EMBED_SECONDS); nothing was changed.
        ReadOnlyIndexError: the engine is a read-only replica.
    """
    require_writer(qa)
    name = sanitize_filename(filename)
    raw = _read_upload(data)
    sniff(raw, name)
    kb_dir = Path(qa.kb_dir).resolve()
    dest = (kb_dir / name).resolve()
    if dest.parent != kb_dir:  # belt and braces: the sanitised name has no separators
        raise UploadError("文件名无效", "bad_name")
    try:
        doc = parse_isolated(raw, str(dest))  # time and memory limited, in a worker process
    except SourceError as e:
        # the reason names the file as the client does: the server's folders are not its business
        reason = str(e).replace(str(dest), name).replace(str(kb_dir), "")
        raise UploadError(f"{name}：无法读取，未加入知识库。原因：{reason}", "unreadable") from e
    if not doc.paragraphs:
        raise UploadError(f"{name}：没有可检索的文字", "unreadable")
    chars = sum(len(p.text) for p in doc.paragraphs)
    if chars > MAX_UPLOAD_CHARS:
        raise UploadError(too_much_text(name, chars), "too_large")
    with _upload_lock:
        kb_dir.mkdir(parents=True, exist_ok=True)
        tmp = kb_dir / f".upload-{uuid.uuid4().hex}.tmp"  # hidden: folder scans skip it
        backup = None
        replaced = dest.exists()
        try:
            with open(tmp, "wb") as f:
                f.write(raw)
                f.flush()
                os.fsync(f.fileno())
            if replaced:
                backup = kb_dir / f".backup-{uuid.uuid4().hex}.tmp"  # hidden, and short: names count bytes
                os.replace(dest, backup)
            os.replace(tmp, dest)
            report = qa.add([dest], parsed={str(dest): doc}, time_limit=config.MAX_EMBED_SECONDS)
        except BaseException as e:
            with contextlib.suppress(OSError):
                tmp.unlink()
            if backup is not None:
                with contextlib.suppress(OSError):
                    os.replace(backup, dest)
            elif not replaced:
                with contextlib.suppress(OSError):
                    dest.unlink()
            if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
                raise UploadError(f"{name}：磁盘已满（disk full），未加入知识库；原有索引不变",
                                  "disk_full") from e
            if isinstance(e, DiskFullError):
                raise UploadError(f"{name}：磁盘已满（disk full），未加入知识库；原有索引不变：{e}",
                                  "disk_full") from e
            if isinstance(e, IndexTimeError):
                raise UploadError(too_slow(name), "too_slow") from e
            raise
        if backup is not None:
            with contextlib.suppress(OSError):
                backup.unlink()
    entry = next((d for d in qa.documents() if d["path"] == str(dest)), None)
    return {"path": str(dest), "name": name, "document": entry, "replaced": replaced, "report": report,
            "sha256": hashlib.sha256(raw).hexdigest()}


def delete_document(qa, path) -> dict:
    """Take a document out of the knowledge base; a file that lives in the KB folder (an upload)
    is deleted too, a file elsewhere is left alone.

    Args:
        path: the document's path as in `qa.documents()`, or an uploaded file's bare name.
    Raises:
        SourceError: not a document of the knowledge base.
        ReadOnlyIndexError: the engine is a read-only replica (nothing is deleted).
    """
    require_writer(qa)
    kb_dir = Path(qa.kb_dir).resolve()
    target = Path(path)
    if not target.is_absolute() and len(target.parts) == 1:
        target = kb_dir / target.name
    target = target.resolve()
    with _upload_lock:
        if target.parent == kb_dir and target.is_file() and str(target) in stray_uploads(qa):
            # In the folder but not in the index (an upload cut off by a crash): just delete it.
            target.unlink()
            return {"path": str(target), "deleted_file": True, "report": {"removed": [], "unchanged": len(
                qa.documents())}}
        report = qa.remove([target])
        deleted = False
        if target.parent == kb_dir and target.is_file():
            target.unlink()
            deleted = True
    return {"path": str(target), "deleted_file": deleted, "report": report}


def stray_uploads(qa) -> list[str]:
    """Files in the knowledge-base folder that the index neither holds nor lists as skipped (an
    upload whose indexing was cut off): listed so that they can be deleted."""
    kb_dir = Path(qa.kb_dir)
    if not kb_dir.is_dir():
        return []
    known = {d["path"] for d in qa.documents()} | {s["path"] for s in qa.skipped()}
    return sorted(str(p.resolve()) for p in kb_dir.iterdir()
                  if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in ALLOWED_SUFFIXES
                  and str(p.resolve()) not in known)


def list_documents(qa) -> dict:
    """What the knowledge base holds: {"documents": qa.documents(), "skipped": qa.skipped(),
    "unindexed": stray_uploads(qa), "kb_dir": folder uploads go to, "max_upload_bytes",
    "formats": accepted suffixes}."""
    return {"documents": qa.documents(), "skipped": qa.skipped(), "unindexed": stray_uploads(qa),
            "kb_dir": str(qa.kb_dir), "max_upload_bytes": MAX_UPLOAD_BYTES, "formats": list(ALLOWED_SUFFIXES)}

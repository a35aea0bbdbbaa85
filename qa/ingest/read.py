"""The top of ingest: find document files, read each by its format, load a folder's Documents."""

from __future__ import annotations

import logging
from pathlib import Path

from ..errors import SourceError
from .document import DOCUMENT_SUFFIXES, Document, format_of
from .docx import read_docx
from .html import read_html
from .image import read_image
from .pdf import read_pdf
from .pptx import read_pptx
from .sheets import read_csv, read_xlsx
from .text import read_text

log = logging.getLogger(__name__)

#: The reader of every format but "text", whose reader also takes the tokenizer that repairs its
#: reading order (ingest.text).
READERS = {"html": read_html, "docx": read_docx, "pdf": read_pdf, "image": read_image,
           "pptx": read_pptx, "xlsx": read_xlsx, "csv": read_csv}


def find_source_files(sources) -> list[Path]:
    """Expand files and folders into a sorted list of document files (suffixes in SUFFIX_FORMATS).

    Raises:
        SourceError: a named source does not exist, or nothing readable was found.
    """
    files: list[Path] = []
    for src in sources:
        p = Path(src)
        if p.is_dir():
            files.extend(f for f in sorted(p.rglob("*"))
                         if f.is_file() and f.suffix.lower() in DOCUMENT_SUFFIXES
                         and not any(part.startswith(".") for part in f.relative_to(p).parts))
        elif p.is_file():
            files.append(p)
        else:
            raise SourceError(f"{src}: no such file or folder")
    unique = sorted({f.resolve() for f in files})
    if not unique:
        raise SourceError(f"no document files ({' '.join(DOCUMENT_SUFFIXES)}) found in "
                          f"{', '.join(map(str, sources))}")
    return unique


def load_documents(sources, tokenizer=None) -> list[Document]:
    """Read every source file; unreadable ones are skipped with a warning.

    Raises:
        SourceError: no file could be read at all.
    """
    docs = []
    for path in find_source_files(sources):
        try:
            docs.append(read_document(path, tokenizer=tokenizer))
        except SourceError as e:
            log.warning("skipped %s", e)
    if not docs:
        raise SourceError("none of the sources could be read as text: " + ", ".join(map(str, sources)))
    return docs


def read_document(path: Path, tokenizer=None) -> Document:
    """Read and parse one file (format by suffix). Raises SourceError when it cannot be read."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise SourceError(f"{path}: cannot read ({e.strerror})") from e
    return parse_bytes(data, str(path), tokenizer=tokenizer)


def parse_bytes(data: bytes, path: str, tokenizer=None) -> Document:
    """Parse the bytes of a file named `path` (format by suffix). Raises SourceError."""
    fmt = format_of(path)
    if fmt == "text":
        return read_text(data, str(path), tokenizer=tokenizer)
    return read_bytes(data, path, fmt)


def read_bytes(data: bytes, name: str, fmt: str) -> Document:
    """Parse the bytes of a non-text file of format `fmt` (html, docx, pdf, image, pptx, xlsx, csv)."""
    if not data.strip():
        raise SourceError(f"{name}: file is empty")
    return READERS[fmt](data, name)

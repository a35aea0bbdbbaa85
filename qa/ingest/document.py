"""The document model at the bottom of ingest: Documents and their parts, supported suffixes, decoding."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import SourceError

#: File suffix -> format name: the one list of what is read (folders, `add`, uploads, the UI's
#: file picker all use it). "text" files are read by ingest.text, "csv" and "xlsx" by ingest.sheets,
#: each other format by the ingest module of its name (ingest.read dispatches).
SUFFIX_FORMATS = {".txt": "text", ".md": "text", ".markdown": "text", ".html": "html", ".htm": "html",
                  ".docx": "docx", ".pdf": "pdf", ".pptx": "pptx", ".xlsx": "xlsx", ".csv": "csv",
                  ".png": "image", ".jpg": "image", ".jpeg": "image", ".webp": "image", ".tif": "image",
                  ".tiff": "image"}
TEXT_SUFFIXES = tuple(s for s, f in SUFFIX_FORMATS.items() if f == "text")
#: Text files read as Markdown (# headings).
MARKDOWN_SUFFIXES = (".md", ".markdown")
#: Every suffix a folder is searched for.
DOCUMENT_SUFFIXES = tuple(SUFFIX_FORMATS)
#: Characters that may end a complete paragraph (sentence enders, closing quotes, colon lead-ins).
PARAGRAPH_ENDERS = set("。！？!?；;…”’」』）)】:：.")
#: Control characters (all but tab and newlines): removed from lines, a sign of binary data in bulk.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
CLAUSE_SEPARATORS = re.compile(r"[,，;；]")
MAX_HEADING_CHARS = 40
MAX_HEADING_CLAUSE = 20


@dataclass(frozen=True)
class Piece:
    """A run of text from one line of the source file (1-based line number)."""

    line: int
    text: str


@dataclass(frozen=True)
class Block:
    """A paragraph as it stands in the file: consecutive non-empty lines."""

    pieces: tuple[Piece, ...]
    kind: str  # "title", "subtitle", "heading", "caption" or "body"
    blank_before: int

    @property
    def text(self) -> str:
        return join_pieces(self.pieces)

    @property
    def first_line(self) -> int:
        return self.pieces[0].line


@dataclass(frozen=True)
class Paragraph:
    """A paragraph in reading order, possibly repaired from fragments in several places."""

    pieces: tuple[Piece, ...]
    kind: str
    section: str | None

    @property
    def text(self) -> str:
        return join_pieces(self.pieces)


@dataclass(frozen=True)
class Document:
    """One source file, parsed: its title, section headings and paragraphs in reading order."""

    path: str
    title: str
    sha256: str
    paragraphs: tuple[Paragraph, ...]
    sections: tuple[str, ...]
    line_count: int
    #: "text" (Piece.line is a file line) or "html", "docx", "pdf", "image", "pptx", "xlsx", "csv"
    #: (Piece.line is a paragraph unit, numbered from 1 in reading order).
    format: str = "text"
    #: PDF and images: the first unit number of each page; slides: of each slide.
    page_starts: tuple[int, ...] = ()
    #: PDF and images: pages without any text, even after OCR, reported rather than dropped silently.
    empty_pages: tuple[int, ...] = ()
    #: Pages that could not be read, with the reason: ((page, reason), ...).
    skipped_pages: tuple[tuple[int, str], ...] = ()
    #: Text read by OCR: (unit, page, x0, y0, x1, y1, confidence), the box as fractions (0-1) of the
    #: page's width and height, confidence the lowest of its lines' recognition scores.
    ocr_boxes: tuple[tuple[int, int, float, float, float, float, float], ...] = ()
    #: Spreadsheets: the sheet row of each unit (unit n is row unit_rows[n-1]; 0 for a sheet heading).
    unit_rows: tuple[int, ...] = ()


def join_pieces(pieces) -> str:
    """Join line texts: nothing between CJK characters, one space between Latin words."""
    out = ""
    for p in pieces:
        if out and p.text and out[-1].isascii() and out[-1].isalnum() and p.text[0].isascii() \
                and p.text[0].isalnum():
            out += " "
        out += p.text
    return out


def looks_like_heading(text: str) -> bool:
    """A short line without a sentence ending whose comma-separated parts are all short.

    The clause test keeps a body paragraph cut off after a comma (", 本届") from being taken for a
    heading: headings with commas list short items ("明责，增能，赋权，落实…").
    """
    if not text or len(text) > MAX_HEADING_CHARS or text[-1] in PARAGRAPH_ENDERS:
        return False
    parts = CLAUSE_SEPARATORS.split(text)
    return len(parts) == 1 or max(len(part) for part in parts) <= MAX_HEADING_CLAUSE


def is_markdown(path) -> bool:
    """Whether a text file is read as Markdown (by its suffix)."""
    return str(path).lower().endswith(MARKDOWN_SUFFIXES)


def format_of(path) -> str:
    """The format name of a file by its suffix (SUFFIX_FORMATS); unknown suffixes are tried as text."""
    return SUFFIX_FORMATS.get(Path(path).suffix.lower(), "text")


def file_sha256(path: Path) -> str:
    """The hex SHA-256 of a file's bytes, read in 1 MB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def decode_text(data: bytes, name: str = "<bytes>") -> str:
    """Decode UTF-8 (with or without BOM) or GB18030/GBK; refuse binary data.

    Raises:
        SourceError: the bytes are empty, binary, or in no supported encoding.
    """
    if not data.strip():
        raise SourceError(f"{name}: file is empty")
    if b"\x00" in data[:8192]:
        raise SourceError(f"{name}: looks like a binary file (NUL bytes), not text")
    for encoding in ("utf-8-sig", _legacy_chinese_encoding(data)):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise SourceError(f"{name}: not UTF-8, GB18030 or Big5 text")
    sample = text[:4096]
    if sample and len(CONTROL_CHARACTERS.findall(sample)) / len(sample) > 0.05:
        raise SourceError(f"{name}: looks like a binary file (control characters), not text")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _legacy_chinese_encoding(data: bytes) -> str:
    """GB18030 (simplified) unless the bytes are Big5 (traditional): Big5 bytes mostly decode as
    GB18030 too, as mojibake, so charset-normalizer tells them apart (on enough text to judge)."""
    if len(data) >= 32:
        try:
            data.decode("big5")
        except UnicodeDecodeError:
            return "gb18030"
        from charset_normalizer import from_bytes

        best = from_bytes(data[:65536]).best()
        if best is not None and best.encoding in ("big5", "cp950", "big5hkscs"):
            return "big5hkscs"
    return "gb18030"

"""Read documents: decode text, find title and headings, repair reading order (other formats: formats.py)."""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import SourceError

log = logging.getLogger(__name__)

#: File suffix -> format name: the one list of what is read (folders, `add`, uploads, the UI's
#: file picker all use it). "text" files are read here, "csv" by ingest.sheets, the rest by ingest.formats.
SUFFIX_FORMATS = {".txt": "text", ".md": "text", ".markdown": "text", ".html": "html", ".htm": "html",
                  ".docx": "docx", ".pdf": "pdf", ".pptx": "pptx", ".xlsx": "xlsx", ".csv": "csv",
                  ".png": "image", ".jpg": "image", ".jpeg": "image", ".webp": "image", ".tif": "image",
                  ".tiff": "image"}
TEXT_SUFFIXES = tuple(s for s, f in SUFFIX_FORMATS.items() if f == "text")
#: Every suffix a folder is searched for.
DOCUMENT_SUFFIXES = tuple(SUFFIX_FORMATS)
#: Characters that may end a complete paragraph (sentence enders, closing quotes, colon lead-ins).
PARAGRAPH_ENDERS = set("。！？!?；;…”’」』）)】:：.")
CLAUSE_SEPARATORS = re.compile(r"[,，;；]")
MAX_HEADING_CHARS = 40
MAX_HEADING_CLAUSE = 20
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_MD_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


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


def file_sha256(path: Path) -> str:
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
    if sample and len(_CONTROL.findall(sample)) / len(sample) > 0.05:
        raise SourceError(f"{name}: looks like a binary file (control characters), not text")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def format_of(path) -> str:
    """The format name of a file by its suffix (SUFFIX_FORMATS); unknown suffixes are tried as text."""
    return SUFFIX_FORMATS.get(Path(path).suffix.lower(), "text")


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
    from .formats import read_bytes  # local import: formats builds on this module
    from .limits import check_text_size

    fmt = format_of(path)
    if fmt == "csv":
        from .sheets import read_csv
        return read_csv(data, str(path))
    if fmt != "text":
        return read_bytes(data, path, fmt)
    text = decode_text(data, str(path))
    check_text_size(len(text), str(path))
    doc = parse_document(text, str(path), tokenizer=tokenizer)
    return Document(path=doc.path, title=doc.title, sha256=hashlib.sha256(data).hexdigest(),
                    paragraphs=doc.paragraphs, sections=doc.sections, line_count=doc.line_count)


def parse_document(text: str, path: str = "<text>", tokenizer=None) -> Document:
    """Parse decoded text into a Document (title, sections, paragraphs in repaired reading order)."""
    from .repair import reading_order  # local import: repair depends on Block/Paragraph above

    markdown = path.lower().endswith((".md", ".markdown"))
    lines = text.split("\n")
    blocks = classify_blocks(split_blocks(lines, markdown), markdown)
    if not blocks:
        raise SourceError(f"{path}: contains no text")
    title_block = next((b for b in blocks if b.kind == "title"), None)
    title = title_block.text if title_block else Path(path).stem
    paragraphs = reading_order(blocks, tokenizer=tokenizer)
    sections = tuple(dict.fromkeys(p.section for p in paragraphs if p.section))
    return Document(path=path, title=title, sha256=hashlib.sha256(text.encode()).hexdigest(),
                    paragraphs=tuple(paragraphs), sections=sections, line_count=len(lines))


def split_blocks(lines: list[str], markdown: bool) -> list[tuple[list[Piece], int, bool]]:
    """Group consecutive non-empty lines; returns (pieces, blank lines before, is_md_heading)."""
    blocks: list[tuple[list[Piece], int, bool]] = []
    current: list[Piece] = []
    blank = 0
    pending_blank = 0
    for number, raw in enumerate(lines, start=1):
        line = _CONTROL.sub("", raw).strip()
        heading = _MD_HEADING.match(line) if markdown else None
        if not line:
            if current:
                blocks.append((current, pending_blank, False))
                current = []
                blank = 0
            blank += 1
            continue
        if heading:
            if current:
                blocks.append((current, pending_blank, False))
                current = []
            blocks.append(([Piece(number, heading.group(2))], blank, True))
            blank = 0
            continue
        if not current:
            pending_blank = blank
            blank = 0
        current.append(Piece(number, line))
    if current:
        blocks.append((current, pending_blank, False))
    return blocks


def looks_like_heading(text: str) -> bool:
    """A short line without a sentence ending whose comma-separated parts are all short.

    The clause test keeps a body paragraph cut off after a comma (", 本届") from being taken for a
    heading: headings with commas list short items ("明责，增能，赋权，落实…").
    """
    if not text or len(text) > MAX_HEADING_CHARS or text[-1] in PARAGRAPH_ENDERS:
        return False
    parts = CLAUSE_SEPARATORS.split(text)
    return len(parts) == 1 or max(len(part) for part in parts) <= MAX_HEADING_CLAUSE


def classify_blocks(raw_blocks, markdown: bool) -> list[Block]:
    """Label blocks title / subtitle / heading / caption / body.

    In plain text a heading is a short unpunctuated single line; one that stands after two or
    more blank lines is an isolated caption (photo captions in extracted newspaper pages) and
    stays searchable content.
    """
    blocks: list[Block] = []
    seen_body = False
    for i, (pieces, blank_before, md_heading) in enumerate(raw_blocks):
        text = join_pieces(pieces)
        single = len(pieces) == 1
        if md_heading:
            kind = "title" if i == 0 and text.strip() else "heading"
        elif i == 0 and single and (looks_like_heading(text) or len(text) <= 60 and
                                    text[-1] not in PARAGRAPH_ENDERS):
            kind = "title"
        elif single and seen_body and blank_before >= 2 and len(text) <= 2 * MAX_HEADING_CHARS \
                and text[-1] not in PARAGRAPH_ENDERS:
            kind = "caption"
        elif single and looks_like_heading(text):
            kind = "heading" if seen_body else "subtitle"
        else:
            kind = "body"
        if kind == "body":
            seen_body = True
        blocks.append(Block(pieces=tuple(pieces), kind=kind, blank_before=blank_before))
    return blocks

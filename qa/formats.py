"""Read HTML, Word (.docx) and PDF files into Documents whose line numbers are paragraph units.

Text files keep real line numbers. The other formats have no lines a person could look up, so
each visible paragraph (heading, paragraph, table row; for PDF, a paragraph on a page) gets a
sequential *unit* number that stands where a line number stands in `Piece.line`. Chunks then
carry unit ranges in `Chunk.lines`, and the engine turns them into 第5段 or 第3页第2段 using the
document's `page_starts`. Headings become section labels, as in text files.
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from .errors import SourceError
from .ingest import _CONTROL, PARAGRAPH_ENDERS, Document, Paragraph, Piece, decode_text, looks_like_heading

log = logging.getLogger(__name__)

#: File suffix -> format name. Text files are read by ingest.parse_document.
SUFFIX_FORMATS = {".txt": "text", ".md": "text", ".markdown": "text", ".html": "html", ".htm": "html",
                  ".docx": "docx", ".pdf": "pdf"}
SUPPORTED_SUFFIXES = tuple(SUFFIX_FORMATS)

# Page furniture that PDF text layers carry on every page: "3", "- 3 -", "第3页", "3 / 12".
_PAGE_NUMBER = re.compile(r"^[-–—\s]*(?:第\s*)?\d{1,4}(?:\s*页)?(?:\s*/\s*\d{1,4})?[-–—\s]*$")


@dataclass(frozen=True)
class Unit:
    """One visible paragraph of a non-text document: its text, kind and (PDF) page."""

    text: str
    kind: str  # "title", "heading" or "body"
    page: int = 0


def format_of(path) -> str:
    """'text', 'html', 'docx' or 'pdf' by suffix; unknown suffixes are tried as text."""
    return SUFFIX_FORMATS.get(Path(path).suffix.lower(), "text")


def _is_cjk(ch: str) -> bool:
    return "\u2e80" <= ch <= "\u9fff" or "\uf900" <= ch <= "\uffef" or "\u3000" <= ch <= "\u303f"


def squash(text: str) -> str:
    """Collapse whitespace; drop it entirely next to CJK characters (layout breaks, not word gaps)."""
    out = ""
    for part in text.split():
        if out and not (_is_cjk(out[-1]) or _is_cjk(part[0])):
            out += " "
        out += part
    return out


def units_to_document(path: str, data: bytes, units: list[Unit], title: str | None, fmt: str,
                      page_starts: tuple[int, ...] = (), empty_pages: tuple[int, ...] = ()) -> Document:
    """Number the units from 1 and group body units into Paragraphs under their heading.

    A PDF paragraph that runs over a page break (ends without a sentence ender, next page starts
    with body text) becomes one Paragraph with two pieces, so its passage cites both pages.
    """
    units = [u for u in units if u.text]
    if not any(u.kind == "body" for u in units):
        raise SourceError(f"{path}: contains no text")
    if title is None:
        first = units[0]
        heading_first = first.kind in ("title", "heading") and len(first.text) <= 80
        title = first.text if heading_first else Path(path).stem
    paragraphs: list[Paragraph] = []
    section: str | None = None
    for number, u in enumerate(units, start=1):
        if u.kind in ("title", "heading"):
            if u.kind == "heading" or u.text != title:
                section = u.text
            continue
        piece = Piece(number, u.text)
        prev = paragraphs[-1] if paragraphs else None
        if (fmt == "pdf" and prev is not None and prev.section == section and units[number - 2].kind == "body"
                and units[number - 2].page != u.page and prev.text[-1] not in PARAGRAPH_ENDERS):
            paragraphs[-1] = Paragraph(prev.pieces + (piece,), "body", section)
        else:
            paragraphs.append(Paragraph((piece,), "body", section))
    sections = tuple(dict.fromkeys(p.section for p in paragraphs if p.section))
    return Document(path=path, title=title, sha256=hashlib.sha256(data).hexdigest(),
                    paragraphs=tuple(paragraphs), sections=sections, line_count=len(units),
                    format=fmt, page_starts=page_starts, empty_pages=empty_pages)


# ----- HTML -----

_SKIP_TAGS = {"script", "style", "noscript", "template", "head", "svg", "math", "iframe", "object",
              "embed", "canvas", "select", "option", "textarea", "input", "button"}
_HEADING_TAGS = {"h1", "h2", "h3", "h4", "h5", "h6"}
_BLOCK_TAGS = {"p", "div", "section", "article", "main", "header", "footer", "nav", "aside", "li", "ul",
               "ol", "dl", "dt", "dd", "blockquote", "pre", "figure", "figcaption", "table", "thead",
               "tbody", "tfoot", "caption", "form", "fieldset", "address", "details", "summary", "hr",
               "body", "html", "center"}
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.I)


def _hidden(tag) -> bool:
    return (tag.has_attr("hidden") or tag.get("aria-hidden") == "true"
            or bool(_HIDDEN_STYLE.search(tag.get("style") or "")))


def decode_html(data: bytes, name: str) -> str:
    """Use the charset the page declares (<meta charset>), else UTF-8 / GB18030 like text files."""
    from bs4.dammit import EncodingDetector

    declared = EncodingDetector.find_declared_encoding(data[:4096], is_html=True)
    if declared and b"\x00" not in data[:8192]:
        try:
            return data.decode(declared)
        except (LookupError, UnicodeDecodeError):
            log.info("%s: declared charset %s does not fit; guessing", name, declared)
    return decode_text(data, name)


def html_units(markup: str) -> tuple[list[Unit], str | None]:
    """Visible paragraphs of an HTML page in document order, and its <title>."""
    from bs4 import BeautifulSoup
    from bs4.element import NavigableString, PreformattedString, Tag

    soup = BeautifulSoup(markup, "html.parser")
    title_tag = soup.find("title")
    title = squash(title_tag.get_text()) if title_tag else None
    units: list[Unit] = []
    buffer: list[str] = []

    def visible_text(tag) -> str:
        parts: list[str] = []
        for child in tag.children:
            if isinstance(child, PreformattedString):  # comments, CDATA, doctype
                continue
            if isinstance(child, NavigableString):
                parts.append(str(child))
            elif isinstance(child, Tag) and child.name not in _SKIP_TAGS and not _hidden(child):
                parts.append(visible_text(child) + (" " if child.name in _BLOCK_TAGS | {"td", "th"} else ""))
        return "".join(parts)

    def flush() -> None:
        text = squash("".join(buffer))
        buffer.clear()
        if text:
            units.append(Unit(text, "body"))

    def walk(node) -> None:
        for child in node.children:
            if isinstance(child, PreformattedString):
                continue
            if isinstance(child, NavigableString):
                buffer.append(str(child))
                continue
            if not isinstance(child, Tag) or child.name in _SKIP_TAGS or _hidden(child):
                continue
            if child.name in _HEADING_TAGS:
                flush()
                text = squash(visible_text(child))
                if text:
                    units.append(Unit(text, "heading"))
            elif child.name == "tr":
                flush()
                cells = [squash(visible_text(c)) for c in child.find_all(["td", "th"], recursive=False)]
                row = " | ".join(c for c in cells if c)
                if row:
                    units.append(Unit(row, "body"))
            elif child.name == "br":
                buffer.append("\n")
            elif child.name in _BLOCK_TAGS:
                flush()
                walk(child)
                flush()
            else:
                walk(child)

    walk(soup)
    flush()
    return units, title or None


def read_html(data: bytes, name: str) -> Document:
    markup = decode_html(data, name)
    units, title = html_units(markup)
    if title is None:
        title = next((u.text for u in units if u.kind == "heading"), None)
    return units_to_document(name, data, units, title, "html")


# ----- Word -----

def docx_units(data: bytes, name: str) -> tuple[list[Unit], str | None]:
    """Paragraphs (headings by style: Title, Heading N, 标题 N) and table rows, in body order."""
    import docx
    from docx.table import Table

    try:
        document = docx.Document(io.BytesIO(data))
        title = (document.core_properties.title or "").strip() or None
        units: list[Unit] = []
        for block in document.iter_inner_content():
            if isinstance(block, Table):
                for row in block.rows:
                    cells, seen = [], set()
                    for cell in row.cells:
                        # merged cells appear once per grid column; keep one copy
                        if id(cell._tc) in seen:
                            continue
                        seen.add(id(cell._tc))
                        cells.append(squash(cell.text))
                    text = " | ".join(c for c in cells if c)
                    if text:
                        units.append(Unit(text, "body"))
                continue
            text = squash(block.text)
            if not text:
                continue
            style = (block.style.name if block.style is not None else "") or ""
            low = style.lower()
            if low == "title" or style == "标题":
                units.append(Unit(text, "title"))
                title = title or text
            elif low.startswith("heading") or style.startswith("标题"):
                units.append(Unit(text, "heading"))
            else:
                units.append(Unit(text, "body"))
    except SourceError:
        raise
    except Exception as e:  # noqa: BLE001 - python-docx raises many types for damaged packages
        raise SourceError(f"{name}: not a readable Word .docx file ({type(e).__name__}: {e})") from e
    return units, title


def read_docx(data: bytes, name: str) -> Document:
    units, title = docx_units(data, name)
    return units_to_document(name, data, units, title, "docx")


# ----- PDF -----

def _width(text: str) -> int:
    return sum(2 if _is_cjk(ch) else 1 for ch in text)


def _join(a: str, b: str) -> str:
    if a and b and a[-1].isascii() and a[-1].isalnum() and b[0].isascii() and b[0].isalnum():
        return a + " " + b
    return a + b


def page_units(text: str, page: int) -> list[Unit]:
    """Rebuild paragraphs from a page's text lines.

    PDF text layers break lines where the layout wrapped them. A line that ends with a sentence
    ender ends a paragraph (a full line that happens to end a sentence splits a paragraph in two,
    which costs little: passages run across paragraphs of one section); so does a blank line. A
    short unpunctuated line standing alone is a heading.
    """
    lines = [squash(_CONTROL.sub("", line)) for line in text.split("\n")]
    lines = [line if not _PAGE_NUMBER.match(line) else "" for line in lines]
    full = max((_width(line) for line in lines if line), default=0)
    units: list[Unit] = []
    current = ""

    def close() -> None:
        nonlocal current
        if current:
            units.append(Unit(current, "body", page))
        current = ""

    for i, line in enumerate(lines):
        if not line:
            close()
            continue
        nxt = next((x for x in lines[i + 1:] if x), "")
        short = _width(line) < 0.85 * full
        if not current and short and nxt and looks_like_heading(line):
            units.append(Unit(line, "heading", page))
            continue
        current = _join(current, line)
        if line[-1] in PARAGRAPH_ENDERS:
            close()
    close()
    return units


def read_pdf(data: bytes, name: str) -> Document:
    """Text layer of every page; pages without text are noted, a PDF with none is refused.

    Raises:
        SourceError: not a PDF, encrypted, damaged, or without any text layer (scanned).
    """
    from pypdf import PdfReader

    if not data.lstrip()[:5] == b"%PDF-" and b"%PDF-" not in data[:1024]:
        raise SourceError(f"{name}: not a PDF file (no %PDF header)")
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise SourceError(f"{name}: the PDF is encrypted with a password; skipped")
        texts = [page.extract_text() or "" for page in reader.pages]
        meta_title = (reader.metadata.title if reader.metadata else None) or None
    except SourceError:
        raise
    except Exception as e:  # noqa: BLE001 - pypdf raises many types for damaged files
        raise SourceError(f"{name}: not a readable PDF ({type(e).__name__}: {e})") from e
    if not texts:
        raise SourceError(f"{name}: the PDF has no pages")
    units: list[Unit] = []
    page_starts: list[int] = []
    empty: list[int] = []
    for number, text in enumerate(texts, start=1):
        page_starts.append(len(units) + 1)
        found = page_units(text, number)
        if not found:
            empty.append(number)
        units.extend(found)
    if len(empty) == len(texts):
        raise SourceError(f"{name}: the PDF has no text layer (a scanned document?); skipped — "
                          f"run OCR on it first")
    if empty:
        log.warning("%s: pages without text (scanned?): %s", name, ", ".join(map(str, empty)))
    title = meta_title.strip() if isinstance(meta_title, str) and meta_title.strip() else None
    return units_to_document(name, data, units, title, "pdf", tuple(page_starts), tuple(empty))


def read_bytes(data: bytes, name: str, fmt: str) -> Document:
    """Parse the bytes of a non-text file of format `fmt` ('html', 'docx' or 'pdf')."""
    if not data.strip():
        raise SourceError(f"{name}: file is empty")
    reader = {"html": read_html, "docx": read_docx, "pdf": read_pdf}[fmt]
    return reader(data, name)


def page_and_paragraph(unit: int, page_starts: tuple[int, ...]) -> tuple[int, int]:
    """(page, paragraph on that page), both 1-based, of a PDF unit number."""
    import bisect

    page = bisect.bisect_right(page_starts, unit)
    return page, unit - page_starts[page - 1] + 1

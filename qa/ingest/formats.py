"""Read HTML, Word (.docx), PDF (OCR for pages without text), images and slides into Documents
whose line numbers are paragraph units.

Text files keep real line numbers. The other formats have no lines a person could look up, so
each visible paragraph (heading, paragraph, table row; for PDF, a paragraph on a page) gets a
sequential *unit* number that stands where a line number stands in `Piece.line`. Chunks then
carry unit ranges in `Chunk.lines`, and the engine turns them into 第5段, 第3页第2段 or 第4张幻灯片
using the document's `page_starts`. Headings become section labels, as in text files. Every
reader applies the limits of qa/limits.py before and while it parses.
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import SourceError
from . import limits
from .document import (
    CONTROL_CHARACTERS,
    PARAGRAPH_ENDERS,
    Document,
    Paragraph,
    Piece,
    decode_text,
    looks_like_heading,
)

log = logging.getLogger(__name__)

# Page furniture that PDF text layers carry on every page: "3", "- 3 -", "第3页", "3 / 12".
_PAGE_NUMBER = re.compile(r"^[-–—\s]*(?:第\s*)?\d{1,4}(?:\s*页)?(?:\s*/\s*\d{1,4})?[-–—\s]*$")


@dataclass(frozen=True)
class Unit:
    """One visible paragraph of a non-text document: its text, kind and (PDF) page."""

    text: str
    kind: str  # "title", "heading" or "body"
    page: int = 0
    #: OCR only: (x0, y0, x1, y1) as fractions of the page, and the lowest line score.
    box: tuple[float, float, float, float] | None = None
    score: float | None = None
    #: Spreadsheets: the sheet row the unit stands in.
    row: int = 0


def _is_wide(ch: str) -> bool:
    """Full-width: CJK characters and punctuation, joined without a space when lines are joined."""
    return "\u2e80" <= ch <= "\u9fff" or "\uf900" <= ch <= "\uffef" or "\u3000" <= ch <= "\u303f"


def squash(text: str) -> str:
    """Collapse whitespace; drop it entirely next to CJK characters (layout breaks, not word gaps)."""
    out = ""
    for part in text.split():
        if out and not (_is_wide(out[-1]) or _is_wide(part[0])):
            out += " "
        out += part
    return out


def units_to_document(path: str, data: bytes, units: list[Unit], title: str | None, fmt: str,
                      page_starts: tuple[int, ...] = (), empty_pages: tuple[int, ...] = (),
                      skipped_pages: tuple[tuple[int, str], ...] = ()) -> Document:
    """Number the units from 1 and group body units into Paragraphs under their heading.

    A PDF paragraph that runs over a page break (ends without a sentence ender, next page starts
    with body text) becomes one Paragraph with two pieces, so its passage cites both pages.
    Spreadsheet rows (units with a `row`) stay one Paragraph each.

    Raises:
        SourceError: no body text, or more than limits.MAX_PARAGRAPHS / MAX_DOCUMENT_CHARS.
    """
    units = [u for u in units if u.text]
    limits.check_paragraphs(len(units), sum(len(u.text) for u in units), path)
    if not any(u.kind == "body" for u in units):
        skipped = "; ".join(f"page {p}: {r}" for p, r in skipped_pages)
        raise SourceError(f"{path}: contains no text" + (f" ({skipped})" if skipped else ""))
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
            # a spreadsheet row stands alone (kind "row"): a passage never runs into the next row
            paragraphs.append(Paragraph((piece,), "row" if u.row else "body", section))
    sections = tuple(dict.fromkeys(p.section for p in paragraphs if p.section))
    boxes = tuple((n, u.page, *(round(v, 4) for v in u.box), round(u.score, 3))
                  for n, u in enumerate(units, start=1) if u.box is not None)
    rows = tuple(u.row for u in units) if any(u.row for u in units) else ()
    return Document(path=path, title=title, sha256=hashlib.sha256(data).hexdigest(),
                    paragraphs=tuple(paragraphs), sections=sections, line_count=len(units),
                    format=fmt, page_starts=page_starts, empty_pages=empty_pages,
                    skipped_pages=skipped_pages, ocr_boxes=boxes, unit_rows=rows)


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

    limits.check_package(data, name, "docx")
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
    return sum(2 if _is_wide(ch) else 1 for ch in text)


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
    lines = [squash(CONTROL_CHARACTERS.sub("", line)) for line in text.split("\n")]
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
    """Text layer of every page; pages without one are read by OCR; pages that yield no text even
    then are noted (empty_pages, with the reason in skipped_pages), a PDF with none is refused.

    Raises:
        SourceError: not a PDF, encrypted, damaged, more than limits.MAX_PDF_PAGES pages, or no
            text on any page even after OCR.
    """
    from pypdf import PdfReader

    if not data.lstrip()[:5] == b"%PDF-" and b"%PDF-" not in data[:1024]:
        raise SourceError(f"{name}: not a PDF file (no %PDF header)")
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise SourceError(f"{name}: the PDF is encrypted with a password; skipped")
        limits.check_pdf_pages(len(reader.pages), name)
        texts = [page.extract_text() or "" for page in reader.pages]
        meta_title = (reader.metadata.title if reader.metadata else None) or None
    except SourceError:
        raise
    except Exception as e:  # noqa: BLE001 - pypdf raises many types for damaged files
        raise SourceError(f"{name}: not a readable PDF ({type(e).__name__}: {e})") from e
    if not texts:
        raise SourceError(f"{name}: the PDF has no pages")
    layers = [page_units(text, number) for number, text in enumerate(texts, start=1)]
    scans = [number for number, found in enumerate(layers, start=1) if not found]
    reasons: dict[int, str] = {}
    for number in scans:
        pixels = _largest_image(reader.pages[number - 1])
        if pixels > limits.MAX_IMAGE_PIXELS:
            reasons[number] = (f"not read: an image on the page has {pixels:,} pixels "
                               f"(limit {limits.MAX_IMAGE_PIXELS:,})")
    scans = [number for number in scans if number not in reasons]
    scanned, ocr_reasons = ocr_pdf_pages(data, name, scans) if scans else ({}, {})
    reasons.update(ocr_reasons)
    units: list[Unit] = []
    page_starts: list[int] = []
    empty: list[int] = []
    for number, found in enumerate(layers, start=1):
        page_starts.append(len(units) + 1)
        found = found or scanned.get(number, [])
        if not found:
            empty.append(number)
        units.extend(found)
    skipped = tuple((p, reasons[p]) for p in empty if p in reasons)
    if len(empty) == len(texts):
        detail = "; ".join(f"page {p}: {r}" for p, r in skipped)
        raise SourceError(f"{name}: the PDF has no text layer and OCR found no text; skipped"
                          + (f" ({detail})" if detail else ""))
    if empty:
        log.warning("%s: pages without text: %s", name,
                    ", ".join(f"{p} ({reasons.get(p, 'no text')})" for p in empty))
    title = meta_title.strip() if isinstance(meta_title, str) and meta_title.strip() else None
    return units_to_document(name, data, units, title, "pdf", tuple(page_starts), tuple(empty), skipped)


def _largest_image(page) -> int:
    """Pixels of the largest image drawn directly on a PDF page (0 if none or unreadable): pdfium
    decodes an image whole before scaling it, so a bomb must be refused before rendering."""
    try:
        objects = page["/Resources"].get_object().get("/XObject")
        if objects is None:
            return 0
        largest = 0
        for ref in objects.get_object().values():
            obj = ref.get_object()
            if obj.get("/Subtype") == "/Image":
                largest = max(largest, int(obj.get("/Width", 0)) * int(obj.get("/Height", 0)))
        return largest
    except Exception:  # noqa: BLE001 - damaged resources: pdfium will say so when it renders
        return 0


def ocr_units(image, page: int) -> list[Unit]:
    """OCR one page image into Units with their boxes (fractions of the page) and scores."""
    from . import ocr

    lines = ocr.read_lines(image)
    width, height = image.size
    units = []
    for block in ocr.layout(lines, width):
        text = ""
        for line in block.lines:
            text = _join(text, squash(CONTROL_CHARACTERS.sub("", line.text)))
        if not text or _PAGE_NUMBER.match(text):
            continue
        x0, y0, x1, y1 = block.box
        box = (max(0.0, x0 / width), max(0.0, y0 / height), min(1.0, x1 / width), min(1.0, y1 / height))
        kind = "heading" if block.heading else "body"
        units.append(Unit(text, kind, page, box=box, score=block.score))
    return units


class _OcrBudget:
    """The pages and seconds OCR may still spend on one file (limits.MAX_OCR_PAGES, MAX_OCR_SECONDS)."""

    def __init__(self, name: str, pages: int):
        import time

        from tqdm.auto import tqdm

        self.clock = time.monotonic
        self.start = self.clock()
        self.done = 0
        # a bar on a terminal only (tqdm disables itself elsewhere), for files of several pages
        self.bar = tqdm(total=pages, desc=f"OCR {Path(name).name}", unit="页", disable=None if pages > 1
                        else True, leave=False)

    def refusal(self) -> str | None:
        if self.done >= limits.MAX_OCR_PAGES:
            return f"not read: OCR reads at most {limits.MAX_OCR_PAGES} pages per file"
        if self.done and self.clock() - self.start > limits.MAX_OCR_SECONDS:
            return f"not read: OCR time limit ({limits.MAX_OCR_SECONDS:.0f} s per file) reached"
        return None

    def step(self) -> None:
        self.done += 1
        self.bar.update(1)

    def close(self) -> None:
        self.bar.close()


def ocr_pdf_pages(data: bytes, name: str, pages: list[int]) -> tuple[dict[int, list[Unit]], dict[int, str]]:
    """OCR the given (1-based) pages of a PDF: ({page: units}, {page: reason it has no text})."""
    import pypdfium2 as pdfium

    found: dict[int, list[Unit]] = {}
    reasons: dict[int, str] = {}
    try:
        document = pdfium.PdfDocument(data)
    except Exception as e:  # noqa: BLE001 - pdfium raises PdfiumError and others
        return {}, {p: f"cannot be rendered for OCR ({e})" for p in pages}
    budget = _OcrBudget(name, len(pages))
    try:
        for number in pages:
            refusal = budget.refusal()
            if refusal:
                reasons[number] = refusal
                continue
            try:
                page = document[number - 1]
                width, height = page.get_size()
                # 200 dpi, as scans are made, but the long side at most RENDER_LONG_SIDE pixels
                scale = min(limits.RENDER_LONG_SIDE / max(width, height, 1.0), 200 / 72)
                image = page.render(scale=scale).to_pil()
                units = ocr_units(image, number)
            except SourceError as e:
                reasons[number] = str(e)
                units = []
            except Exception as e:  # noqa: BLE001 - a damaged page must not sink the file
                reasons[number] = f"cannot be read by OCR ({type(e).__name__}: {e})"
                units = []
            budget.step()
            if units:
                found[number] = units
            else:
                reasons.setdefault(number, "OCR found no text on the page")
    finally:
        budget.close()
        document.close()
    return found, reasons


# ----- images -----

def read_image(data: bytes, name: str) -> Document:
    """OCR a photo or scan (.png .jpg .webp .tif; each frame of a multi-page TIFF is a page).

    The size in the header is checked before any pixel is decoded; EXIF rotation is applied.

    Raises:
        SourceError: not an image, more than limits.MAX_IMAGE_PIXELS, or no text found.
    """
    from PIL import Image, ImageOps

    try:
        image = Image.open(io.BytesIO(data))  # reads the header only
    except Image.DecompressionBombError as e:  # Pillow's own limit, far above ours
        raise SourceError(f"{name}: refused: the image is larger than {limits.MAX_IMAGE_PIXELS:,} pixels "
                          f"(a decompression bomb? {e})") from e
    except Exception as e:  # noqa: BLE001 - Pillow raises UnidentifiedImageError, OSError, ...
        raise SourceError(f"{name}: not a readable image ({type(e).__name__}: {e})") from e
    frames = min(getattr(image, "n_frames", 1), limits.MAX_OCR_PAGES + 1)
    units: list[Unit] = []
    page_starts: list[int] = []
    empty: list[int] = []
    reasons: dict[int, str] = {}
    budget = _OcrBudget(name, frames)
    try:
        for number in range(1, frames + 1):
            page_starts.append(len(units) + 1)
            refusal = budget.refusal()
            if refusal:
                empty.append(number)
                reasons[number] = refusal
                continue
            try:
                image.seek(number - 1)
                limits.check_image_size(*image.size, name)
                frame = ImageOps.exif_transpose(image)
                if max(frame.size) > limits.RENDER_LONG_SIDE:
                    frame = frame.copy()
                    frame.thumbnail((limits.RENDER_LONG_SIDE, limits.RENDER_LONG_SIDE))
                found = ocr_units(frame, number)
            except SourceError:
                raise
            except Exception as e:  # noqa: BLE001 - truncated or damaged image data
                raise SourceError(f"{name}: not a readable image ({type(e).__name__}: {e})") from e
            budget.step()
            if not found:
                empty.append(number)
                reasons[number] = "OCR found no text"
            units.extend(found)
    finally:
        budget.close()
    skipped = tuple((p, reasons[p]) for p in empty)
    if len(empty) == frames:
        raise SourceError(f"{name}: OCR found no text in the image; skipped"
                          + (f" ({reasons[1]})" if frames == 1 and reasons[1] != "OCR found no text" else ""))
    return units_to_document(name, data, units, None, "image", tuple(page_starts), tuple(empty), skipped)


# ----- slides -----

def read_pptx(data: bytes, name: str) -> Document:
    """Slides in order: each slide's title is a section; its text boxes (one paragraph each), table
    rows (`cell | cell`) and speaker notes follow. Units carry the slide number as their page.

    Raises:
        SourceError: not a readable .pptx, over a limit, or without text.
    """
    from pptx import Presentation

    limits.check_package(data, name, "pptx")
    try:
        deck = Presentation(io.BytesIO(data))
        title = (deck.core_properties.title or "").strip() or None
        units: list[Unit] = []
        page_starts: list[int] = []
        for number, slide in enumerate(deck.slides, start=1):
            page_starts.append(len(units) + 1)
            heading = slide.shapes.title
            if heading is not None and squash(heading.text_frame.text):
                units.append(Unit(squash(heading.text_frame.text), "heading", number))
            for shape in _reading_order(slide.shapes):
                if heading is not None and shape.shape_id == heading.shape_id:
                    continue
                units.extend(_shape_units(shape, number))
            if slide.has_notes_slide:
                notes = slide.notes_slide.notes_text_frame
                text = squash(notes.text) if notes is not None else ""
                if text:
                    units.append(Unit(text, "body", number))
    except SourceError:
        raise
    except Exception as e:  # noqa: BLE001 - python-pptx raises many types for damaged packages
        raise SourceError(f"{name}: not a readable PowerPoint .pptx file ({type(e).__name__}: {e})") from e
    if title is None:
        title = next((u.text for u in units if u.kind == "heading"), Path(name).stem)
    return units_to_document(name, data, units, title, "pptx", tuple(page_starts))


def _reading_order(shapes):
    """Shapes top to bottom, then left to right (placeholders without a position keep their place)."""
    return sorted(shapes, key=lambda s: ((s.top or 0) // 100_000, s.left or 0))


def _shape_units(shape, slide: int) -> list[Unit]:
    if shape.shape_type is not None and getattr(shape, "shapes", None) is not None:  # a group
        return [u for inner in _reading_order(shape.shapes) for u in _shape_units(inner, slide)]
    if getattr(shape, "has_table", False) and shape.has_table:
        rows = []
        for row in shape.table.rows:
            cells = [squash(cell.text) for cell in row.cells]
            text = " | ".join(c for c in cells if c)
            if text:
                rows.append(Unit(text, "body", slide))
        return rows
    if getattr(shape, "has_text_frame", False) and shape.has_text_frame:
        # a text box's bullet points are one paragraph: alone, each is too short to answer anything
        parts = [squash(p.text if hasattr(p, "text") else "") for p in shape.text_frame.paragraphs]
        text = " ".join(p for p in parts if p)
        return [Unit(text, "body", slide)] if text else []
    return []


def read_bytes(data: bytes, name: str, fmt: str) -> Document:
    """Parse the bytes of a non-text file of format `fmt` (html, docx, pdf, image, pptx, xlsx)."""
    if not data.strip():
        raise SourceError(f"{name}: file is empty")
    from .sheets import read_xlsx

    reader = {"html": read_html, "docx": read_docx, "pdf": read_pdf, "image": read_image,
              "pptx": read_pptx, "xlsx": read_xlsx}[fmt]
    return reader(data, name)


def page_and_paragraph(unit: int, page_starts: tuple[int, ...]) -> tuple[int, int]:
    """(page, paragraph on that page), both 1-based, of a PDF unit number."""
    import bisect

    page = bisect.bisect_right(page_starts, unit)
    return page, unit - page_starts[page - 1] + 1

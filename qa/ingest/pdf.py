"""PDF files into Documents: the text layer of each page, and OCR of the pages that have none."""

from __future__ import annotations

import io
import logging

from ..errors import SourceError
from . import limits
from .document import CONTROL_CHARACTERS, PARAGRAPH_ENDERS, Document, looks_like_heading
from .image import OcrBudget, ocr_units
from .units import PAGE_NUMBER, Unit, is_wide, join_lines, squash, units_to_document

log = logging.getLogger(__name__)


def _width(text: str) -> int:
    return sum(2 if is_wide(ch) else 1 for ch in text)


def page_units(text: str, page: int) -> list[Unit]:
    """Rebuild paragraphs from a page's text lines.

    PDF text layers break lines where the layout wrapped them. A line that ends with a sentence
    ender ends a paragraph (a full line that happens to end a sentence splits a paragraph in two,
    which costs little: passages run across paragraphs of one section); so does a blank line. A
    short unpunctuated line standing alone is a heading.
    """
    lines = [squash(CONTROL_CHARACTERS.sub("", line)) for line in text.split("\n")]
    lines = [line if not PAGE_NUMBER.match(line) else "" for line in lines]
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
        current = join_lines(current, line)
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


def ocr_pdf_pages(data: bytes, name: str, pages: list[int]) -> tuple[dict[int, list[Unit]], dict[int, str]]:
    """OCR the given (1-based) pages of a PDF: ({page: units}, {page: reason it has no text})."""
    import pypdfium2 as pdfium

    found: dict[int, list[Unit]] = {}
    reasons: dict[int, str] = {}
    try:
        document = pdfium.PdfDocument(data)
    except Exception as e:  # noqa: BLE001 - pdfium raises PdfiumError and others
        return {}, {p: f"cannot be rendered for OCR ({e})" for p in pages}
    budget = OcrBudget(name, len(pages))
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

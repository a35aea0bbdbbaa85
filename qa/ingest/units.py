"""Units, the numbered paragraphs every non-text format is read into, and how they become a Document.

Text files keep real line numbers. The other formats have no lines a person could look up, so
each visible paragraph (heading, paragraph, table row; for PDF, a paragraph on a page) gets a
sequential *unit* number that stands where a line number stands in `Piece.line`. Chunks then
carry unit ranges in `Chunk.lines`, and the engine turns them into 第5段, 第3页第2段 or 第4张幻灯片
using the document's `page_starts`. Headings become section labels, as in text files. Every
reader applies the limits of ingest.limits before and while it parses.
"""

from __future__ import annotations

import bisect
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import SourceError
from . import limits
from .document import PARAGRAPH_ENDERS, Document, Paragraph, Piece

# Page furniture that PDF text layers carry on every page: "3", "- 3 -", "第3页", "3 / 12".
PAGE_NUMBER = re.compile(r"^[-–—\s]*(?:第\s*)?\d{1,4}(?:\s*页)?(?:\s*/\s*\d{1,4})?[-–—\s]*$")


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


def is_wide(ch: str) -> bool:
    """Full-width: CJK characters and punctuation, joined without a space when lines are joined."""
    return "\u2e80" <= ch <= "\u9fff" or "\uf900" <= ch <= "\uffef" or "\u3000" <= ch <= "\u303f"


def squash(text: str) -> str:
    """Collapse whitespace; drop it entirely next to CJK characters (layout breaks, not word gaps)."""
    out = ""
    for part in text.split():
        if out and not (is_wide(out[-1]) or is_wide(part[0])):
            out += " "
        out += part
    return out


def join_lines(a: str, b: str) -> str:
    """Join two lines of a paragraph: a space only between Latin letters or digits."""
    if a and b and a[-1].isascii() and a[-1].isalnum() and b[0].isascii() and b[0].isalnum():
        return a + " " + b
    return a + b


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


def page_and_paragraph(unit: int, page_starts: tuple[int, ...]) -> tuple[int, int]:
    """(page, paragraph on that page), both 1-based, of a PDF unit number."""
    page = bisect.bisect_right(page_starts, unit)
    return page, unit - page_starts[page - 1] + 1

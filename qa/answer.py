"""The results a question gets: Citation, Hit and Answer (frozen, printable)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .config import LOW_OCR_CONFIDENCE
from .ingest import page_and_paragraph

if TYPE_CHECKING:
    from .chunk import Chunk

#: A passage whose next line range starts more than this many lines after the previous one ends
#: skips text that is not part of it (one or two blank lines between paragraphs are not a skip).
MAX_LINE_GAP = 3


def line_runs(lines) -> list[list[tuple[int, int]]]:
    """Line ranges (reading order) split where the passage continues elsewhere in the file: a range
    that starts before the previous one (the text went back up: a column break repaired by the
    reader) or more than MAX_LINE_GAP lines after it (text of another column in between)."""
    runs: list[list[tuple[int, int]]] = []
    for a, b in lines:
        if runs and 0 < a - runs[-1][-1][1] <= MAX_LINE_GAP:
            runs[-1].append((a, b))
        else:
            runs.append([(a, b)])
    return runs


def format_line_ranges(lines: tuple[tuple[int, int], ...]) -> str:
    """Chinese rendering of line ranges: ((43, 43), (45, 45)) -> '第43、45行'; (25, 27) -> '第25–27行';
    a passage continued across a column break says so:
    ((67, 67), (29, 31)) -> '第67行，接第29–31行（分栏续接）'."""
    runs = [f"第{'、'.join(str(a) if a == b else f'{a}–{b}' for a, b in run)}行" for run in line_runs(lines)]
    if len(runs) <= 1:
        return "".join(runs)
    return "，接".join(runs) + "（分栏续接）"


def format_paragraph_ranges(ranges) -> str:
    """((5, 5),) -> '第5段'; ((5, 7),) -> '第5–7段'."""
    parts = [str(a) if a == b else f"{a}–{b}" for a, b in ranges]
    return f"第{'、'.join(parts)}段" if parts else ""


@dataclass(frozen=True)
class Citation:
    """Where a passage stands: document title, file path, section heading and the place in the file.

    Text and Markdown files: `lines` are 1-based inclusive line ranges in reading order; the text
    of those lines (whitespace removed) contains the passage (whitespace removed).
    Word and HTML: `lines` is empty; `paragraphs` are 1-based ranges of the document's visible
    paragraphs (headings, paragraphs and table rows, counted in order).
    PDF and images: `lines` is empty; `pages` are the 1-based pages the passage stands on and
    `paragraphs[i]` the range of paragraphs (headings included) on `pages[i]`. Text read by OCR
    also has `regions`: (page, x0, y0, x1, y1) with the box as fractions (0-1) of the page's width
    and height from its top left, for a viewer to highlight; and `ocr_confidence`, the lowest
    recognition score of its lines (`low_confidence` below 0.8: check against the scan).
    Slides: `pages` are slide numbers (第3张幻灯片). Spreadsheets: `section` is the sheet and
    `rows` the sheet's 1-based row ranges (工作表·第5行); CSV: `rows` are the file's rows.
    """

    source: str
    path: str
    lines: list[tuple[int, int]]
    section: str | None = None
    format: str = "text"
    pages: tuple[int, ...] = ()
    paragraphs: tuple[tuple[int, int], ...] = ()
    rows: tuple[tuple[int, int], ...] = ()
    regions: tuple[tuple[int, float, float, float, float], ...] = ()
    ocr_confidence: float | None = None

    @property
    def low_confidence(self) -> bool:
        """True when the passage was read by OCR with a low score (kept, but worth checking)."""
        return self.ocr_confidence is not None and self.ocr_confidence < LOW_OCR_CONFIDENCE

    @property
    def location(self) -> str:
        """The place in the file in Chinese: 第25–27行, 第5段, 第3页第2段, 第3页第4段、第4页第1段,
        第4张幻灯片, or (spreadsheets, after the sheet's name) 第12行."""
        if self.format == "pptx" and self.pages:
            return "第" + "、".join(map(str, self.pages)) + "张幻灯片"
        if self.rows:
            return format_line_ranges(self.rows)
        if self.pages:
            if len(self.paragraphs) == len(self.pages):
                return "、".join(f"第{p}页{format_paragraph_ranges([r])}"
                                for p, r in zip(self.pages, self.paragraphs, strict=True))
            return "第" + "、".join(map(str, self.pages)) + "页"
        if self.paragraphs:
            return format_paragraph_ranges(self.paragraphs)
        return format_line_ranges(tuple(self.lines)) if self.lines else ""

    def __str__(self) -> str:
        parts = [f"《{self.source}》"]
        if self.section:
            parts.append(self.section)
        if self.location:
            parts.append(self.location)
        return " · ".join(parts)

    def to_dict(self) -> dict:
        return {"source": self.source, "path": self.path, "section": self.section,
                "lines": [list(r) for r in self.lines], "format": self.format,
                "pages": list(self.pages), "paragraphs": [list(r) for r in self.paragraphs],
                "rows": [list(r) for r in self.rows], "regions": [list(r) for r in self.regions],
                "ocr_confidence": self.ocr_confidence, "low_confidence": self.low_confidence,
                "location": self.location, "display": str(self)}


@dataclass(frozen=True)
class Hit:
    """One passage, its relevance score (higher is better) and where it comes from."""

    text: str
    score: float
    citation: Citation
    confidence: float = 0.0

    def to_dict(self) -> dict:
        return {"text": self.text, "score": self.score, "confidence": self.confidence,
                "citation": self.citation.to_dict()}


@dataclass(frozen=True)
class Answer:
    """The answer to one question: `found` says whether the best hit is relevant enough.

    `hits` holds at most k distinct passages, best first; it is filled with the closest passages
    even when `found` is False, so a caller can show them as low-confidence.
    """

    question: str
    found: bool
    hits: list[Hit] = field(default_factory=list)
    confidence: float = 0.0

    @property
    def best(self) -> Hit | None:
        return self.hits[0] if self.hits else None

    def to_dict(self) -> dict:
        return {"question": self.question, "found": self.found, "confidence": self.confidence,
                "hits": [h.to_dict() for h in self.hits]}


def citation_for(chunk: Chunk, places: dict[str, dict]) -> Citation:
    """The Citation of a passage: line ranges for text files; for other formats the chunk's
    'lines' are paragraph units (formats.py), turned into paragraphs, pages and paragraphs,
    slides, or sheet rows; text read by OCR also gets its regions on the page and its score."""
    entry = places.get(chunk.path, {})
    fmt = entry.get("format", "text")
    if fmt == "text":
        return Citation(source=chunk.source, path=chunk.path, lines=[tuple(r) for r in chunk.lines],
                        section=chunk.section)
    units = [u for a, b in chunk.lines for u in range(a, b + 1)]
    if entry.get("unit_rows"):
        rows = entry["unit_rows"]
        numbers = sorted({rows[u - 1] for u in units if 0 < u <= len(rows) and rows[u - 1]})
        return Citation(source=chunk.source, path=chunk.path, lines=[], section=chunk.section, format=fmt,
                        rows=_ranges(numbers))
    boxes = entry.get("ocr_boxes") or {}
    found = [boxes[str(u)] for u in units if str(u) in boxes]
    ocr = {"regions": _regions(found), "ocr_confidence": min(b[5] for b in found)} if found else {}
    if entry.get("page_starts"):
        starts = tuple(entry["page_starts"])
        per_page: dict[int, list[int]] = {}
        for unit in units:
            page, paragraph = page_and_paragraph(unit, starts)
            per_page.setdefault(page, []).append(paragraph)
        paragraphs = () if fmt == "pptx" else tuple((min(v), max(v)) for v in per_page.values())
        return Citation(source=chunk.source, path=chunk.path, lines=[], section=chunk.section, format=fmt,
                        pages=tuple(per_page), paragraphs=paragraphs, **ocr)
    return Citation(source=chunk.source, path=chunk.path, lines=[], section=chunk.section, format=fmt,
                    paragraphs=tuple(tuple(r) for r in chunk.lines))


def _ranges(numbers: list[int]) -> tuple[tuple[int, int], ...]:
    """Sorted numbers as inclusive runs: [3, 4, 5, 9] -> ((3, 5), (9, 9))."""
    out: list[list[int]] = []
    for n in numbers:
        if out and n == out[-1][1] + 1:
            out[-1][1] = n
        else:
            out.append([n, n])
    return tuple((a, b) for a, b in out)


def _regions(boxes: list[list]) -> tuple[tuple[int, float, float, float, float], ...]:
    """One box per page enclosing the passage's OCR boxes: (page, x0, y0, x1, y1) as page fractions."""
    per_page: dict[int, list[float]] = {}
    for page, x0, y0, x1, y1, *_ in boxes:
        r = per_page.get(page)
        per_page[page] = [x0, y0, x1, y1] if r is None else \
            [min(r[0], x0), min(r[1], y0), max(r[2], x1), max(r[3], y1)]
    return tuple((page, *r) for page, r in per_page.items())

"""Offline OCR of scanned pages and photos (RapidOCR's PP-OCRv4 ONNX models, shipped in its wheel),
and the layout step that orders the recognised lines into paragraphs (columns included).

The engine is loaded once per process on first use (about 1 s). Lines are kept down to a low
recognition score; a paragraph carries the lowest score of its lines, and the caller marks
paragraphs under LOW_CONFIDENCE as such instead of dropping them.
"""

from __future__ import annotations

import math
import statistics
import threading
from dataclasses import dataclass

from ..config import LOW_OCR_CONFIDENCE
from ..errors import SourceError
from .document import looks_like_heading

#: Lines recognised with a lower score are discarded as noise.
MIN_LINE_SCORE = 0.3
#: Paragraphs whose lowest line score is below this are kept but marked low-confidence.
LOW_CONFIDENCE = LOW_OCR_CONFIDENCE

_engine = None
_engine_lock = threading.Lock()
_run_lock = threading.Lock()  # one page at a time: the models use every core already


@dataclass(frozen=True)
class Line:
    """One recognised text line: its text, score (0-1), its box in the page's pixels (page_box),
    and x0..y1 in the deskewed frame that layout works in (the page turned so lines run level)."""

    text: str
    score: float
    x0: float
    y0: float
    x1: float
    y1: float
    page_box: tuple[float, float, float, float]

    @property
    def height(self) -> float:
        return self.y1 - self.y0


@dataclass(frozen=True)
class Block:
    """A paragraph found on the page: its lines in reading order; `heading` if it stands alone
    in larger type or as a short line between gaps."""

    lines: tuple[Line, ...]
    heading: bool = False

    @property
    def box(self) -> tuple[float, float, float, float]:
        """The paragraph's box in the page's pixels (x0, y0, x1, y1)."""
        boxes = [x.page_box for x in self.lines]
        return (min(b[0] for b in boxes), min(b[1] for b in boxes),
                max(b[2] for b in boxes), max(b[3] for b in boxes))

    @property
    def score(self) -> float:
        return min(x.score for x in self.lines)


def engine():
    """The shared RapidOCR engine (loaded on first use).

    Raises:
        SourceError: rapidocr-onnxruntime is not installed.
    """
    global _engine
    with _engine_lock:
        if _engine is None:
            try:
                from rapidocr_onnxruntime import RapidOCR
            except ImportError as e:
                raise SourceError("OCR is not available: install it with "
                                  "`pip install 'rapidocr-onnxruntime>=1.4,<1.5'`") from e
            _engine = RapidOCR(text_score=MIN_LINE_SCORE)
        return _engine


def read_lines(image) -> list[Line]:
    """Recognise the text lines of a PIL image (any mode)."""
    import numpy as np

    if image.convert("L").getextrema()[0] > 200:
        return []  # a blank page: nothing darker than light grey
    rgb = np.asarray(image.convert("RGB"))
    ocr = engine()
    with _run_lock:
        # no 180° line classifier: on upright pages it turned some lines over into garbage
        # (2 of 20 lines lost on a generated A4 page); a photo a few degrees off needs none
        result, _ = ocr(rgb, use_cls=False)
    found = [(quad, str(text).strip(), float(score)) for quad, text, score in result or ()]
    return deskewed_lines([(q, t, s) for q, t, s in found if t])


def deskewed_lines(found) -> list[Line]:
    """Lines from (quad, text, score), the quad's corners clockwise from top left; the page is
    turned by the median slant of its long lines (a photo taken a few degrees off), so that layout
    can compare tops, lefts and heights."""
    slants = []
    for quad, _, _ in found:
        (ax, ay), (bx, by) = quad[0], quad[1]
        if bx - ax > 3 * _edge(quad[0], quad[3]):
            slants.append(math.atan2(by - ay, bx - ax))
    angle = statistics.median(slants) if slants else 0.0
    cos, sin = math.cos(-angle), math.sin(-angle)
    lines = []
    for quad, text, score in found:
        points = [(float(x), float(y)) for x, y in quad]
        turned = [(x * cos - y * sin, x * sin + y * cos) for x, y in points]
        height = (_edge(points[0], points[3]) + _edge(points[1], points[2])) / 2
        middle = sum(y for _, y in turned) / 4
        xs, ys = [x for x, _ in points], [y for _, y in points]
        lines.append(Line(text, score, min(x for x, _ in turned), middle - height / 2,
                          max(x for x, _ in turned), middle + height / 2,
                          (min(xs), min(ys), max(xs), max(ys))))
    return lines


def _edge(a, b) -> float:
    return math.hypot(float(b[0]) - float(a[0]), float(b[1]) - float(a[1]))


def _columns(lines: list[Line], page_width: float) -> list[list[Line]]:
    """Group lines into columns: lines whose horizontal extents overlap stand in one column."""
    groups: list[list[Line]] = []
    spans: list[list[float]] = []
    for line in sorted(lines, key=lambda x: x.x0):
        for span, group in zip(spans, groups, strict=True):
            overlap = min(span[1], line.x1) - max(span[0], line.x0)
            if overlap > 0.3 * min(span[1] - span[0], line.x1 - line.x0):
                group.append(line)
                span[0], span[1] = min(span[0], line.x0), max(span[1], line.x1)
                break
        else:
            groups.append([line])
            spans.append([line.x0, line.x1])
    return [g for _, g in sorted(zip(spans, groups, strict=True), key=lambda sg: sg[0][0])]


def layout(lines: list[Line], page_width: float) -> list[Block]:
    """Order lines into paragraphs: full-width lines cut the page into bands; inside a band the
    columns are read left to right, each top to bottom; a paragraph ends at a vertical gap, at an
    indented line, or after a line that stops short of the column's right edge."""
    if not lines:
        return []
    typical = statistics.median(x.height for x in lines)
    extent = max(x.x1 for x in lines) - min(x.x0 for x in lines)
    wide = [x for x in lines if x.x1 - x.x0 > 0.6 * extent]
    bands: list[tuple[list[Line], bool]] = []  # (lines, is a full-width line)
    rest = sorted((x for x in lines if x not in wide), key=lambda x: x.y0)
    for w in sorted(wide, key=lambda x: x.y0):
        above = [x for x in rest if (x.y0 + x.y1) / 2 < (w.y0 + w.y1) / 2]
        rest = [x for x in rest if x not in above]
        if above:
            bands.append((above, False))
        bands.append(([w], True))
    if rest:
        bands.append((rest, False))
    blocks: list[Block] = []
    for band, _ in bands:
        for column in _columns(band, page_width):
            blocks.extend(_paragraphs(sorted(column, key=lambda x: (x.y0 + x.y1) / 2), typical))
    return _join_wide_runs(blocks, typical, 0.6 * extent)


def _paragraphs(column: list[Line], typical: float) -> list[Block]:
    left = min(x.x0 for x in column)
    right = max(x.x1 for x in column)
    out: list[list[Line]] = []
    for line in column:
        prev = out[-1][-1] if out else None
        if prev is None:
            out.append([line])
            continue
        gap = line.y0 - prev.y1
        indented = line.x0 - left > 1.2 * typical
        short_before = right - prev.x1 > 1.5 * typical
        bigger = (abs(line.height - prev.height) > 0.3 * typical
                  and max(line.height, prev.height) > 1.25 * typical)
        if gap > 0.8 * typical or indented or short_before or bigger:
            out.append([line])
        else:
            out[-1].append(line)
    return [Block(tuple(ls), heading=_is_heading(ls, typical)) for ls in out]


def _is_heading(lines: list[Line], typical: float) -> bool:
    text = "".join(x.text for x in lines)
    return len(lines) == 1 and looks_like_heading(text) and lines[0].height > 1.2 * typical


def _join_wide_runs(blocks: list[Block], typical: float, wide: float) -> list[Block]:
    """Full-width lines were taken out one by one; consecutive ones of one paragraph join again
    (with the paragraph's short last line)."""
    out: list[Block] = []
    for b in blocks:
        prev = out[-1] if out else None
        if (prev is not None and not prev.heading and not b.heading
                and all(x.x1 - x.x0 > wide for x in prev.lines)
                and (len(b.lines) == 1 or all(x.x1 - x.x0 > wide for x in b.lines))
                and -0.3 * typical <= b.lines[0].y0 - prev.lines[-1].y1 <= 0.8 * typical
                and -(3 if len(prev.lines) == 1 else 1.2) * typical
                <= b.lines[0].x0 - min(x.x0 for x in prev.lines) <= 1.2 * typical
                and abs(b.lines[0].height - prev.lines[-1].height) <= 0.3 * typical
                and max(x.x1 for x in prev.lines) - prev.lines[-1].x1 <= 1.5 * typical):
            out[-1] = Block(prev.lines + b.lines)
        else:
            out.append(b)
    return out

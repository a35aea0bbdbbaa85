"""The results a question gets: Citation, Hit and Answer (frozen, printable)."""

from __future__ import annotations

from dataclasses import dataclass, field


def format_line_ranges(lines: tuple[tuple[int, int], ...]) -> str:
    """Chinese rendering of line ranges: ((43, 43), (45, 45)) -> '第43、45行'; (25, 27) -> '第25–27行'."""
    parts = [str(a) if a == b else f"{a}–{b}" for a, b in lines]
    return f"第{'、'.join(parts)}行" if parts else ""


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
    PDF: `lines` is empty; `pages` are the 1-based pages the passage stands on and `paragraphs[i]`
    the range of paragraphs (headings included) on `pages[i]`.
    """

    source: str
    path: str
    lines: list[tuple[int, int]]
    section: str | None = None
    format: str = "text"
    pages: tuple[int, ...] = ()
    paragraphs: tuple[tuple[int, int], ...] = ()

    @property
    def location(self) -> str:
        """The place in the file in Chinese: 第25–27行, 第5段, 第3页第2段 or 第3页第4段、第4页第1段."""
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

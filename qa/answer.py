"""The results a question gets: Citation, Hit and Answer (frozen, printable)."""

from __future__ import annotations

from dataclasses import dataclass, field


def format_line_ranges(lines: tuple[tuple[int, int], ...]) -> str:
    """Chinese rendering of line ranges: ((43, 43), (45, 45)) -> '第43、45行'; (25, 27) -> '第25–27行'."""
    parts = [str(a) if a == b else f"{a}–{b}" for a, b in lines]
    return f"第{'、'.join(parts)}行" if parts else ""


@dataclass(frozen=True)
class Citation:
    """Where a passage stands: document title, file path, section heading and 1-based line ranges.

    `lines` are inclusive ranges in reading order; the text of those lines (whitespace removed)
    contains the passage (whitespace removed).
    """

    source: str
    path: str
    lines: list[tuple[int, int]]
    section: str | None = None

    def __str__(self) -> str:
        parts = [f"《{self.source}》"]
        if self.section:
            parts.append(self.section)
        if self.lines:
            parts.append(format_line_ranges(tuple(self.lines)))
        return " · ".join(parts)

    def to_dict(self) -> dict:
        return {"source": self.source, "path": self.path, "section": self.section,
                "lines": [list(r) for r in self.lines], "display": str(self)}


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

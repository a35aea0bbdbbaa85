"""Split paragraphs into sentences and build passages (Chunks) of whole sentences."""

from __future__ import annotations

import bisect
import hashlib
import re
from dataclasses import dataclass

from .ingest import Document, Paragraph, Piece

# A sentence ends at a run of 。！？!?；;… ("真的吗？！"), plus any closing quotes/brackets after it.
_SENTENCE_END = re.compile(r"(?:[。！？!?；;…]+|\.(?=\s|$))[”’」』）)】\"']*")


@dataclass(frozen=True)
class Chunk:
    """A passage: whole sentences from one paragraph, with where they stand in the source.

    `text` is the source text shown to people; `embed_text` adds the section heading for context.
    `lines` are 1-based inclusive ranges in reading order.
    """

    id: int
    path: str
    source: str
    section: str | None
    text: str
    embed_text: str
    lines: tuple[tuple[int, int], ...]
    paragraph: int
    sentences: tuple[int, int]
    # The sentence the window is centred on, where each sentence starts in `text`, and each
    # sentence's own line ranges: lets retrieval assemble disjoint passages from windows.
    centre: int = -1
    starts: tuple[int, ...] = ()
    sentence_lines: tuple[tuple[tuple[int, int], ...], ...] = ()

    def sentence_parts(self) -> list[tuple[int, str, tuple[tuple[int, int], ...]]]:
        """(sentence index, text, line ranges) of each sentence of the window."""
        first = self.sentences[0]
        ends = (*self.starts[1:], len(self.text))
        return [(first + n, self.text[a:b], self.sentence_lines[n])
                for n, (a, b) in enumerate(zip(self.starts, ends, strict=True))]

    def spanning(self, text: str, lines: tuple[tuple[int, int], ...], sentences: tuple[int, int]) -> Chunk:
        """This chunk with another text, line ranges and sentence span (a passage assembled from
        windows); like dataclasses.replace, at a third of its cost per answer."""
        return Chunk(self.id, self.path, self.source, self.section, text, self.embed_text, lines,
                     self.paragraph, sentences, self.centre, self.starts, self.sentence_lines)

    def to_dict(self) -> dict:
        return {"id": self.id, "path": self.path, "source": self.source, "section": self.section,
                "text": self.text, "embed_text": self.embed_text,
                "lines": [list(r) for r in self.lines], "paragraph": self.paragraph,
                "sentences": list(self.sentences), "centre": self.centre, "starts": list(self.starts),
                "sentence_lines": [[list(r) for r in ls] for ls in self.sentence_lines]}

    @classmethod
    def from_dict(cls, d: dict) -> Chunk:
        return cls(id=int(d["id"]), path=d["path"], source=d["source"], section=d["section"],
                   text=d["text"], embed_text=d["embed_text"],
                   lines=tuple((int(a), int(b)) for a, b in d["lines"]),
                   paragraph=int(d["paragraph"]), sentences=tuple(d["sentences"]),
                   centre=int(d.get("centre", -1)), starts=tuple(int(x) for x in d.get("starts", ())),
                   sentence_lines=tuple(tuple((int(a), int(b)) for a, b in ls)
                                        for ls in d.get("sentence_lines", ())))


def split_sentences(text: str) -> list[str]:
    """Split Chinese (and English) text into sentences, keeping closing quotes with their sentence.

    >>> split_sentences('他说:“好。”然后走了。')
    ['他说:“好。”', '然后走了。']
    """
    out, start = [], 0
    for m in _SENTENCE_END.finditer(text):
        piece = text[start:m.end()]
        if piece.strip():
            out.append(piece)
        start = m.end()
    if text[start:].strip():
        out.append(text[start:])
    return out


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Character spans [start, end) of split_sentences(text) within text."""
    spans, pos = [], 0
    for s in split_sentences(text):
        start = text.index(s, pos)
        spans.append((start, start + len(s)))
        pos = start + len(s)
    return spans


class PieceMap:
    """Where each piece (source line) of a stream's text stands, worked out once, so that each
    window and sentence finds its lines without scanning the text again."""

    def __init__(self, pieces: tuple[Piece, ...], text: str):
        self.spans: list[tuple[int, int, int]] = []  # (start, end, line), in text order
        pos = 0
        for piece in pieces:
            at = text.index(piece.text, pos) if piece.text else pos
            pos = at + len(piece.text)
            self.spans.append((at, pos, piece.line))
        self.ends = [end for _, end, _ in self.spans]

    def lines(self, start: int, end: int) -> tuple[tuple[int, int], ...]:
        """Line ranges (reading order) of the pieces that characters [start, end) of the text come
        from, consecutive lines merged."""
        ranges: list[list[int]] = []
        for at, piece_end, line in self.spans[bisect.bisect_right(self.ends, start):]:
            if at >= end:
                break
            if piece_end <= start:
                continue
            if ranges and ranges[-1][1] + 1 == line:
                ranges[-1][1] = line
            else:
                ranges.append([line, line])
        return tuple((a, b) for a, b in ranges)


def chunk_id(path: str, lines, text: str) -> int:
    """A stable 63-bit id from where the passage stands and what it says."""
    h = hashlib.blake2b(f"{path}\x00{lines}\x00{text}".encode(), digest_size=8).digest()
    return int.from_bytes(h, "big") & ((1 << 63) - 1)


def windows(spans: list[tuple[int, int]], max_chars: int, overlap: int) -> list[tuple[int, int]]:
    """Sentence windows [first, last), one per centre sentence (see centred_windows)."""
    return [(first, last) for first, last, _ in centred_windows(spans, max_chars, overlap)]


def centred_windows(spans: list[tuple[int, int]], max_chars: int,
                    overlap: int) -> list[tuple[int, int, int]]:
    """Sentence windows [first, last): one centred on each sentence, reaching up to `overlap`
    sentences to each side while the window stays within max_chars.

    Every sentence is thus the centre of a passage that also carries its context: a question
    answered by one sentence finds a passage built around that sentence ("sentence window"
    retrieval), rather than whichever fixed block it happened to fall into.
    """
    out: list[tuple[int, int, int]] = []
    for centre in range(len(spans)):
        first, last = centre, centre + 1
        for _ in range(overlap):
            if last < len(spans) and spans[last][1] - spans[first][0] <= max_chars:
                last += 1
            if first > 0 and spans[last - 1][1] - spans[first - 1][0] <= max_chars:
                first -= 1
        if not out or out[-1][:2] != (first, last):
            out.append((first, last, centre))
    return out


def streams(doc: Document) -> list[tuple[int, tuple[Paragraph, ...]]]:
    """Runs of consecutive body paragraphs under one section (passages may span paragraphs,
    never sections); every other paragraph (caption, subtitle) stands alone.

    Returns:
        (index of the first paragraph, paragraphs) per run.
    """
    runs: list[tuple[int, list[Paragraph]]] = []
    for i, p in enumerate(doc.paragraphs):
        prev = runs[-1][1][-1] if runs else None
        if prev is not None and p.kind == "body" and prev.kind == "body" and p.section == prev.section:
            runs[-1][1].append(p)
        else:
            runs.append((i, [p]))
    return [(i, tuple(ps)) for i, ps in runs]


def chunk_stream(doc: Document, index: int, paragraphs: tuple[Paragraph, ...], max_chars: int,
                 overlap: int) -> list[Chunk]:
    """Passages of a run of paragraphs: overlapping windows of whole sentences (a sentence never
    spans two paragraphs), each at most max_chars unless one sentence is longer."""
    text = "\n".join(p.text for p in paragraphs)
    pieces = tuple(piece for p in paragraphs for piece in p.pieces)
    spans, offset = [], 0
    for p in paragraphs:
        spans.extend((offset + a, offset + b) for a, b in sentence_spans(p.text))
        offset += len(p.text) + 1
    section = paragraphs[0].section
    context = section or doc.title
    places = PieceMap(pieces, text)
    sentence_lines = [places.lines(a, b) for a, b in spans]
    chunks = []
    for first, last, centre in centred_windows(spans, max_chars, overlap):
        start, end = spans[first][0], spans[last - 1][1]
        passage = text[start:end]
        lines = places.lines(start, end)
        chunks.append(Chunk(id=chunk_id(doc.path, lines, passage), path=doc.path, source=doc.title,
                            section=section, text=passage,
                            embed_text=f"{context}：{passage}" if context else passage,
                            lines=lines, paragraph=index, sentences=(first, last), centre=centre,
                            starts=tuple(a - start for a, _ in spans[first:last]),
                            sentence_lines=tuple(sentence_lines[first:last])))
    return chunks


def chunk_documents(docs, max_chars: int = 180, overlap: int = 1) -> list[Chunk]:
    """All passages of all documents, in document then reading order; duplicates dropped."""
    chunks, seen = [], set()
    for doc in docs:
        for index, paragraphs in streams(doc):
            for c in chunk_stream(doc, index, paragraphs, max_chars, overlap):
                if c.id not in seen:
                    seen.add(c.id)
                    chunks.append(c)
    return chunks

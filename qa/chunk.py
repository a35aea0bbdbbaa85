"""Split paragraphs into sentences: one Chunk per sentence, grouped into blocks.

A sentence is what gets embedded (each once: building an index costs one encode of the text) and
what passages are assembled from; a block (a paragraph, or a part of a long one) is what BM25
ranks, since whole paragraphs are where question words and their answer meet.
"""

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
    """A sentence (or, once retrieval has assembled one, a passage of consecutive sentences) and
    where it stands in the source.

    `text` is the source text shown to people; `embed_text` is what was embedded (the sentence).
    `lines` are 1-based inclusive ranges in reading order. `paragraph` numbers the stream (run of
    body paragraphs under one section) whose sentences `sentences` indexes; `block` numbers the
    BM25 unit within the document.
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
    block: int = 0

    def spanning(self, text: str, lines: tuple[tuple[int, int], ...], sentences: tuple[int, int]) -> Chunk:
        """This chunk with another text, line ranges and sentence span (a passage assembled from
        sentences); like dataclasses.replace, at a third of its cost per answer."""
        return Chunk(self.id, self.path, self.source, self.section, text, self.embed_text, lines,
                     self.paragraph, sentences, self.block)

    def to_dict(self) -> dict:
        return {"id": self.id, "path": self.path, "source": self.source, "section": self.section,
                "text": self.text, "embed_text": self.embed_text,
                "lines": [list(r) for r in self.lines], "paragraph": self.paragraph,
                "sentences": list(self.sentences), "block": self.block}

    @classmethod
    def from_dict(cls, d: dict) -> Chunk:
        return cls(id=int(d["id"]), path=d["path"], source=d["source"], section=d["section"],
                   text=d["text"], embed_text=d["embed_text"],
                   lines=tuple((int(a), int(b)) for a, b in d["lines"]),
                   paragraph=int(d["paragraph"]), sentences=tuple(d["sentences"]),
                   block=int(d.get("block", 0)))


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


def block_starts(lengths: list[int], block_chars: int) -> list[int]:
    """Where each block starts among a paragraph's sentences (given their lengths): the whole
    paragraph, or for a long one parts of about equal size, none over block_chars unless one
    sentence is.

    >>> block_starts([100, 100, 100], 1000)
    [0]
    >>> block_starts([400, 400, 400, 400], 1000)
    [0, 2]
    """
    total = sum(lengths)
    if total <= block_chars:
        return [0]
    parts = -(-total // block_chars)
    target = total / parts
    starts, size = [0], 0
    for i, n in enumerate(lengths):
        if size and size + n / 2 > target * len(starts):
            starts.append(i)
        size += n
    return starts


def chunk_stream(doc: Document, index: int, paragraphs: tuple[Paragraph, ...], block: int,
                 block_chars: int) -> list[Chunk]:
    """The sentences of a run of paragraphs as Chunks (a sentence never spans two paragraphs),
    numbered in the stream, each with its block: blocks are numbered from `block` on."""
    text = "\n".join(p.text for p in paragraphs)
    pieces = tuple(piece for p in paragraphs for piece in p.pieces)
    spans, blocks, offset = [], [], 0
    for number, p in enumerate(paragraphs):
        own = [(offset + a, offset + b) for a, b in sentence_spans(p.text)]
        if own and number < len(paragraphs) - 1:
            # the paragraph's last sentence keeps its line break, so passages show paragraphs
            own[-1] = (own[-1][0], own[-1][1] + 1)
        starts = set(block_starts([b - a for a, b in own], block_chars))
        for n in range(len(own)):
            if n in starts:
                block += 1
            blocks.append(block - 1)
        spans.extend(own)
        offset += len(p.text) + 1
    section = paragraphs[0].section
    places = PieceMap(pieces, text)
    chunks = []
    for n, (start, end) in enumerate(spans):
        sentence = text[start:end]
        lines = places.lines(start, end)
        chunks.append(Chunk(id=chunk_id(doc.path, lines, sentence), path=doc.path, source=doc.title,
                            section=section, text=sentence, embed_text=sentence.strip(), lines=lines,
                            paragraph=index, sentences=(n, n + 1), block=blocks[n]))
    return chunks


def chunk_documents(docs, block_chars: int = 1000) -> list[Chunk]:
    """All sentences of all documents as Chunks, in document then reading order; a sentence
    repeated at the same place (same lines and text) is kept once."""
    chunks, seen = [], set()
    for doc in docs:
        block = 0
        for index, paragraphs in streams(doc):
            stream = chunk_stream(doc, index, paragraphs, block, block_chars)
            if stream:
                block = stream[-1].block + 1
            for c in stream:
                if c.id not in seen:
                    seen.add(c.id)
                    chunks.append(c)
    return chunks

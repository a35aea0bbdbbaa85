"""Plain text and Markdown into Documents: blocks of lines, their kinds, then reading-order repair."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from ..errors import SourceError
from .document import (
    CONTROL_CHARACTERS,
    MAX_HEADING_CHARS,
    PARAGRAPH_ENDERS,
    Block,
    Document,
    Piece,
    decode_text,
    is_markdown,
    join_pieces,
    looks_like_heading,
)
from .limits import check_text_size
from .repair import reading_order

_MD_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


def read_text(data: bytes, path: str, tokenizer=None) -> Document:
    """Decode and parse the bytes of a text file; the Document's hash is that of the bytes.

    Raises:
        SourceError: undecodable, over limits.MAX_DOCUMENT_CHARS, or without text.
    """
    text = decode_text(data, path)
    check_text_size(len(text), path)
    doc = parse_document(text, path, tokenizer=tokenizer)
    return Document(path=doc.path, title=doc.title, sha256=hashlib.sha256(data).hexdigest(),
                    paragraphs=doc.paragraphs, sections=doc.sections, line_count=doc.line_count)


def parse_document(text: str, path: str = "<text>", tokenizer=None) -> Document:
    """Parse decoded text into a Document (title, sections, paragraphs in repaired reading order)."""
    markdown = is_markdown(path)
    lines = text.split("\n")
    blocks = classify_blocks(split_blocks(lines, markdown), markdown)
    if not blocks:
        raise SourceError(f"{path}: contains no text")
    title_block = next((b for b in blocks if b.kind == "title"), None)
    title = title_block.text if title_block else Path(path).stem
    paragraphs = reading_order(blocks, tokenizer=tokenizer)
    sections = tuple(dict.fromkeys(p.section for p in paragraphs if p.section))
    return Document(path=path, title=title, sha256=hashlib.sha256(text.encode()).hexdigest(),
                    paragraphs=tuple(paragraphs), sections=sections, line_count=len(lines))


def split_blocks(lines: list[str], markdown: bool) -> list[tuple[list[Piece], int, bool]]:
    """Group consecutive non-empty lines; returns (pieces, blank lines before, is_md_heading)."""
    blocks: list[tuple[list[Piece], int, bool]] = []
    current: list[Piece] = []
    blank = 0
    pending_blank = 0
    for number, raw in enumerate(lines, start=1):
        line = CONTROL_CHARACTERS.sub("", raw).strip()
        heading = _MD_HEADING.match(line) if markdown else None
        if not line:
            if current:
                blocks.append((current, pending_blank, False))
                current = []
                blank = 0
            blank += 1
            continue
        if heading:
            if current:
                blocks.append((current, pending_blank, False))
                current = []
            blocks.append(([Piece(number, heading.group(2))], blank, True))
            blank = 0
            continue
        if not current:
            pending_blank = blank
            blank = 0
        current.append(Piece(number, line))
    if current:
        blocks.append((current, pending_blank, False))
    return blocks


def classify_blocks(raw_blocks, markdown: bool) -> list[Block]:
    """Label blocks title / subtitle / heading / caption / body.

    In plain text a heading is a short unpunctuated single line; one that stands after two or
    more blank lines is an isolated caption (photo captions in extracted newspaper pages) and
    stays searchable content.
    """
    blocks: list[Block] = []
    seen_body = False
    for i, (pieces, blank_before, md_heading) in enumerate(raw_blocks):
        text = join_pieces(pieces)
        single = len(pieces) == 1
        if md_heading:
            kind = "title" if i == 0 and text.strip() else "heading"
        elif i == 0 and single and (looks_like_heading(text) or len(text) <= 60 and
                                    text[-1] not in PARAGRAPH_ENDERS):
            kind = "title"
        elif single and seen_body and blank_before >= 2 and len(text) <= 2 * MAX_HEADING_CHARS \
                and text[-1] not in PARAGRAPH_ENDERS:
            kind = "caption"
        elif single and looks_like_heading(text):
            kind = "heading" if seen_body else "subtitle"
        else:
            kind = "body"
        if kind == "body":
            seen_body = True
        blocks.append(Block(pieces=tuple(pieces), kind=kind, blank_before=blank_before))
    return blocks

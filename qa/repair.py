"""Repair reading order: join paragraphs that stop mid-sentence with their continuation.

Text extracted from multi-column pages often breaks a paragraph at a column end and puts the
rest several paragraphs later ("…继而引发了居" … "民对物业和业委会的大量投诉。"). We find, for every
body paragraph that ends without a sentence ender, the paragraph that continues it:

* evidence: the word segmenter, run across the join, produces a dictionary word that spans the
  break ("居|民", "党|组织", "淋|漓尽致"); words frequent in the document itself weigh more;
* adjacency: the next paragraph in the file is the default continuation;
* structure: the links must leave one readable sequence — a choice that would make the text
  loop back on itself is impossible, which settles ties such as two breaks both ending in "居".

The chosen links are searched exhaustively (small numbers) for the best total evidence.
"""

from __future__ import annotations

import math
from dataclasses import replace

from .ingest import PARAGRAPH_ENDERS, Block, Paragraph

ADJACENT_PRIOR = 1.0
#: A word formed across the break outweighs mere adjacency, even when the document uses it nowhere else.
WORD_EVIDENCE = 1.5
MIN_LINK_SCORE = 1.0
CANDIDATES_PER_BREAK = 4
MAX_SEARCH_NODES = 20000
JOIN_CONTEXT = 6


def is_incomplete(block: Block) -> bool:
    return block.kind == "body" and block.text[-1] not in PARAGRAPH_ENDERS


def spanning_word(tail: str, head: str, tokenizer) -> str | None:
    """The dictionary word the segmenter finds across the join of tail and head, if any.

    Without a dictionary word that spans the join, the segmenter (dictionary only, no HMM) cannot
    return one, so the join is first checked against the dictionary alone: most pairs of
    paragraphs fail there, for ~30 dictionary lookups instead of a segmentation.
    """
    if not any(tokenizer.known(tail[-a:] + head[:b])
               for a in range(1, len(tail) + 1) for b in range(1, len(head) + 1)):
        return None
    joined = tail + head
    start = 0
    for word in tokenizer.cut_plain(joined):
        end = start + len(word)
        if start < len(tail) < end and len(word) >= 2:
            return word
        start = end
    return None


def link_scores(blocks: list[Block], tokenizer) -> dict[int, list[tuple[float, int]]]:
    """For each incomplete body block, its best candidate continuations as (score, block index)."""
    body = [i for i, b in enumerate(blocks) if b.kind == "body"]
    full = "\n".join(b.text for b in blocks)
    cache: dict[str, int] = {}

    def doc_count(word: str) -> int:
        if word not in cache:
            cache[word] = full.count(word)
        return cache[word]

    result: dict[int, list[tuple[float, int]]] = {}
    for pos, i in enumerate(body):
        if not is_incomplete(blocks[i]):
            continue
        tail = blocks[i].text[-JOIN_CONTEXT:]
        next_body = body[pos + 1] if pos + 1 < len(body) else None
        scored = []
        for j in body[1:]:
            if j == i:
                continue
            word = spanning_word(tail, blocks[j].text[:JOIN_CONTEXT], tokenizer)
            score = WORD_EVIDENCE + math.log1p(doc_count(word)) if word else 0.0
            if j == next_body and not any(blocks[m].kind == "heading" for m in range(i + 1, j)):
                score += ADJACENT_PRIOR
            if score >= MIN_LINK_SCORE:
                scored.append((score, j))
        scored.sort(reverse=True)
        if scored:
            result[i] = scored[:CANDIDATES_PER_BREAK]
    return result


def follow(blocks_len: int, links: dict[int, int]) -> list[int]:
    """Reading order of block indices given continuation links, or [] if the links form a loop.

    After a block comes its continuation if it has one, otherwise the next block in the file,
    unless that block is some other block's continuation (then this run ends).
    """
    targets = set(links.values())
    order: list[int] = []
    seen: set[int] = set()
    for root in range(blocks_len):
        if root in seen or root in targets:
            continue
        i = root
        while i is not None and i not in seen:
            seen.add(i)
            order.append(i)
            if i in links:
                i = links[i]
            elif i + 1 < blocks_len and i + 1 not in targets:
                i = i + 1
            else:
                i = None
    return order if len(order) == blocks_len else []


def choose_links(blocks: list[Block], candidates: dict[int, list[tuple[float, int]]]) -> dict[int, int]:
    """The one-to-one, loop-free set of links with the highest total score (branch and bound)."""
    breaks = sorted(candidates, key=lambda i: -candidates[i][0][0])
    best: dict = {"score": -1.0, "links": {}}
    nodes = 0
    remaining = [sum(c[0][0] for c in (candidates[b] for b in breaks[k:])) for k in range(len(breaks))]

    def search(k: int, links: dict[int, int], used: set[int], total: float) -> None:
        nonlocal nodes
        nodes += 1
        if nodes > MAX_SEARCH_NODES:
            return
        if k == len(breaks):
            if total > best["score"] and follow(len(blocks), links):
                best.update(score=total, links=dict(links))
            return
        if total + remaining[k] <= best["score"]:
            return
        i = breaks[k]
        for score, j in candidates[i]:
            if j in used:
                continue
            links[i] = j
            used.add(j)
            if follow(len(blocks), links):
                search(k + 1, links, used, total + score)
            used.discard(j)
            del links[i]
        search(k + 1, links, used, total)

    search(0, {}, set(), 0.0)
    return best["links"]


def demote_broken_headings(blocks: list[Block], tokenizer) -> list[Block]:
    """Heading-like lines that are really the first half of a broken paragraph become body.

    A short line cut off mid-sentence ("…多数代表表示支") looks like a heading; what gives it away is
    that it forms a word with the start of some body paragraph ("支|持，方案将…").
    """
    heads = [b.text[:JOIN_CONTEXT] for b in blocks if b.kind == "body"]
    out = []
    for b in blocks:
        if b.kind in ("heading", "subtitle") and b.text[-1] not in PARAGRAPH_ENDERS and any(
                spanning_word(b.text[-JOIN_CONTEXT:], head, tokenizer) for head in heads):
            b = replace(b, kind="body")
        out.append(b)
    return out


def reading_order(blocks: list[Block], tokenizer=None) -> list[Paragraph]:
    """Paragraphs in repaired reading order, each with the section heading it falls under.

    Headings and the title become section labels, not paragraphs; continued fragments are merged
    into one paragraph whose pieces keep their own line numbers.
    """
    if tokenizer is None:
        from .terms import default_tokenizer
        tokenizer = default_tokenizer()
    blocks = demote_broken_headings(blocks, tokenizer)
    links = choose_links(blocks, link_scores(blocks, tokenizer))
    order = follow(len(blocks), links) or list(range(len(blocks)))
    continued = set(links.values())
    paragraphs: list[Paragraph] = []
    section: str | None = None
    pending: list = []
    pending_kind = "body"
    pending_section: str | None = None
    for i in order:
        block = blocks[i]
        if block.kind == "heading":
            section = block.text
            continue
        if block.kind == "title":
            continue
        if pending and i in continued:
            pending.extend(block.pieces)
        else:
            if pending:
                paragraphs.append(Paragraph(tuple(pending), pending_kind, pending_section))
            pending = list(block.pieces)
            pending_kind = block.kind
            # A caption describes a picture, not the section it happens to stand in.
            pending_section = None if block.kind == "caption" else section
        if i not in links:
            paragraphs.append(Paragraph(tuple(pending), pending_kind, pending_section))
            pending = []
    if pending:
        paragraphs.append(Paragraph(tuple(pending), pending_kind, pending_section))
    return paragraphs

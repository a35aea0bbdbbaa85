"""Repair reading order: join paragraphs that stop mid-sentence with their continuation.

Text extracted from multi-column pages often breaks a paragraph at a column end and puts the
rest several paragraphs later ("…继而引发了居" … "民对物业和业委会的大量投诉。"). We find, for every
body paragraph that ends without a sentence ender, the paragraph that continues it:

* evidence: the word segmenter, run across the join, produces a dictionary word that spans the
  break ("居|民", "党|组织", "淋|漓尽致"); words frequent in the document itself weigh more;
* adjacency: the next paragraph in the file is the default continuation;
* structure: the links must leave one readable sequence — a choice that would make the text
  loop back on itself is impossible, which settles ties such as two breaks both ending in "居".

The chosen links are searched exhaustively for the best total evidence while the document has
few breaks. Text with many breaks (no sentence endings at all) is repaired in linear time: each
break looks for its continuation among the WINDOW body paragraphs around it and links are chosen
greedily, best first; past MAX_WORD_BREAKS breaks only adjacency joins a break to the next paragraph.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import replace

from .document import PARAGRAPH_ENDERS, Block, Paragraph

ADJACENT_PRIOR = 1.0
#: A word formed across the break outweighs mere adjacency, even when the document uses it nowhere else.
WORD_EVIDENCE = 1.5
MIN_LINK_SCORE = 1.0
CANDIDATES_PER_BREAK = 4
MAX_SEARCH_NODES = 20000
#: Breaks the exhaustive search takes on (its recursion is this deep); more are linked greedily.
MAX_SEARCH_BREAKS = 48
#: Block steps the exhaustive search may take (each node re-reads the order: O(blocks)).
MAX_SEARCH_STEPS = 2_000_000
#: Break x body-paragraph pairs scored in full; beyond, each break looks only at its neighbourhood.
MAX_FULL_PAIRS = 20_000
#: Body paragraphs before and after a break that may continue it, when not all are looked at.
WINDOW = 8
#: Beyond this many breaks, the word evidence is not looked for at all (adjacency joins only).
MAX_WORD_BREAKS = 20_000
#: Links a loop check may follow before it gives up and refuses the link.
MAX_LOOP_STEPS = 1000
JOIN_CONTEXT = 6


def is_incomplete(block: Block) -> bool:
    return block.kind == "body" and block.text[-1] not in PARAGRAPH_ENDERS


def spanning_word(tail: str, head: str, tokenizer, ends: list[str] | None = None) -> str | None:
    """The dictionary word the segmenter finds across the join of tail and head, if any.

    Without a dictionary word that spans the join, the segmenter (dictionary only, no HMM) cannot
    return one, so the join is first checked against the dictionary alone: most pairs of
    paragraphs fail there, for a few dictionary lookups instead of a segmentation.

    Args:
        ends: word_ends(tail, tokenizer), when tail is tried against many heads.
    """
    if not _joins_a_word(tail, head, tokenizer, ends):
        return None
    joined = tail + head
    start = 0
    for word in tokenizer.cut_plain(joined):
        end = start + len(word)
        if start < len(tail) < end and len(word) >= 2:
            return word
        start = end
    return None


def word_ends(tail: str, tokenizer) -> list[str]:
    """The ends of `tail`, shortest first, that some dictionary word begins with (every end when
    the tokenizer cannot tell): only these can start a word across a join."""
    ends = [tail[-a:] for a in range(1, len(tail) + 1)]
    starts = getattr(tokenizer, "starts_word", None)
    return ends if starts is None else [e for e in ends if starts(e)]


def _joins_a_word(tail: str, head: str, tokenizer, ends: list[str] | None = None) -> bool:
    """Whether an end of `tail` and a start of `head` make a dictionary word: the start is
    lengthened only while some word still begins with the join (jieba keeps word prefixes)."""
    starts = getattr(tokenizer, "starts_word", None)
    for end in word_ends(tail, tokenizer) if ends is None else ends:
        for b in range(1, len(head) + 1):
            join = end + head[:b]
            if tokenizer.known(join):
                return True
            if starts is not None and not starts(join):
                break
    return False


def link_scores(blocks: list[Block], tokenizer) -> dict[int, list[tuple[float, int]]]:
    """For each incomplete body block, its best candidate continuations as (score, block index).

    Every body block is a candidate while breaks x body blocks stays under MAX_FULL_PAIRS;
    otherwise the WINDOW body blocks on each side of the break (linear in the document's size).
    """
    body = [i for i, b in enumerate(blocks) if b.kind == "body"]
    breaks = [pos for pos, i in enumerate(body) if is_incomplete(blocks[i])]
    everywhere = len(breaks) * len(body) <= MAX_FULL_PAIRS
    use_words = len(breaks) <= MAX_WORD_BREAKS
    full = "\n".join(b.text for b in blocks) if use_words else ""
    cache: dict[str, int] = {}

    def doc_count(word: str) -> int:
        if word not in cache:
            cache[word] = full.count(word)
        return cache[word]

    result: dict[int, list[tuple[float, int]]] = {}
    for pos in breaks:
        i = body[pos]
        tail = blocks[i].text[-JOIN_CONTEXT:]
        ends = word_ends(tail, tokenizer) if use_words else []
        next_body = body[pos + 1] if pos + 1 < len(body) else None
        if everywhere:
            near = body[1:]
        elif use_words:
            near = body[max(1, pos - WINDOW):pos + WINDOW + 1]
        else:
            near = [next_body] if next_body is not None else []
        scored = []
        for j in near:
            if j == i:
                continue
            word = spanning_word(tail, blocks[j].text[:JOIN_CONTEXT], tokenizer, ends) if use_words else None
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
    """The one-to-one, loop-free set of links with the highest total score (branch and bound),
    or, when the search would take more than MAX_SEARCH_STEPS, the greedy choice."""
    n = len(blocks)
    if len(candidates) > MAX_SEARCH_BREAKS or len(candidates) * n > MAX_SEARCH_STEPS:
        return greedy_links(n, candidates)
    breaks = sorted(candidates, key=lambda i: -candidates[i][0][0])
    best: dict = {"score": -1.0, "links": {}}
    nodes = 0
    max_nodes = min(MAX_SEARCH_NODES, max(len(breaks) + 1, MAX_SEARCH_STEPS // max(n, 1)))
    remaining = [0.0] * (len(breaks) + 1)
    for k in range(len(breaks) - 1, -1, -1):
        remaining[k] = remaining[k + 1] + candidates[breaks[k]][0][0]

    def search(k: int, links: dict[int, int], used: set[int], total: float) -> None:
        nonlocal nodes
        nodes += 1
        if nodes > max_nodes:
            return
        if k == len(breaks):
            if total > best["score"] and follow(n, links):
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
            if follow(n, links):
                search(k + 1, links, used, total + score)
            used.discard(j)
            del links[i]
        search(k + 1, links, used, total)

    search(0, {}, set(), 0.0)
    return best["links"]


def greedy_links(n: int, candidates: dict[int, list[tuple[float, int]]]) -> dict[int, int]:
    """Links chosen best first, each to its best target that is still free and makes no loop.

    Linear in practice: a link to the very next block changes no order (it is what `follow` does
    anyway), so only other links are checked for loops, by walking the other links from the
    target (block runs between them are skipped with a sorted list), at most MAX_LOOP_STEPS.
    """
    links: dict[int, int] = {}
    targets: set[int] = set()
    jumps: dict[int, int] = {}  # links to other than the next block
    stops: list[int] = []  # sorted: blocks where following the file order leaves the run

    def loops(i: int, j: int) -> bool:
        x = j
        for _ in range(MAX_LOOP_STEPS):
            k = bisect.bisect_left(stops, x)
            if k == len(stops):
                return False
            p = stops[k]
            if p == i:
                return True
            if p not in jumps:  # the next block is another block's continuation: the run ends
                return False
            x = jumps[p]
        return True  # too long to tell: refused

    stopset: set[int] = set()

    def add_stop(p: int) -> bool:
        if p in stopset:
            return False
        stopset.add(p)
        bisect.insort(stops, p)
        return True

    def drop_stop(p: int) -> None:
        stopset.discard(p)
        stops.remove(p)

    for i in sorted(candidates, key=lambda b: -candidates[b][0][0]):
        for _score, j in candidates[i]:
            if j in targets:
                continue
            if j != i + 1:
                new_source, new_end = add_stop(i), add_stop(j - 1)
                jumps[i] = j
                if loops(i, j):
                    del jumps[i]
                    if new_source:
                        drop_stop(i)
                    if new_end:
                        drop_stop(j - 1)
                    continue
            links[i] = j
            targets.add(j)
            break
    return links if follow(n, links) else {}


def demote_broken_headings(blocks: list[Block], tokenizer) -> list[Block]:
    """Heading-like lines that are really the first half of a broken paragraph become body.

    A short line cut off mid-sentence ("…多数代表表示支") looks like a heading; what gives it away is
    that it forms a word with the start of some body paragraph ("支|持，方案将…"). With many such
    lines, only the WINDOW body paragraphs on each side of each are looked at.
    """
    body = [i for i, b in enumerate(blocks) if b.kind == "body"]
    heads = [blocks[i].text[:JOIN_CONTEXT] for i in body]
    suspects = [n for n, b in enumerate(blocks)
                if b.kind in ("heading", "subtitle") and b.text[-1] not in PARAGRAPH_ENDERS]
    everywhere = len(suspects) * len(heads) <= MAX_FULL_PAIRS
    if len(suspects) > MAX_WORD_BREAKS:
        return list(blocks)
    out = list(blocks)
    for n in suspects:
        b = blocks[n]
        if everywhere:
            near = heads
        else:
            pos = bisect.bisect_left(body, n)
            near = heads[max(0, pos - WINDOW):pos + WINDOW]
        tail = b.text[-JOIN_CONTEXT:]
        ends = word_ends(tail, tokenizer)
        if any(spanning_word(tail, head, tokenizer, ends) for head in near):
            out[n] = replace(b, kind="body")
    return out


def reading_order(blocks: list[Block], tokenizer=None) -> list[Paragraph]:
    """Paragraphs in repaired reading order, each with the section heading it falls under.

    Headings and the title become section labels, not paragraphs; continued fragments are merged
    into one paragraph whose pieces keep their own line numbers.
    """
    if tokenizer is None:
        from ..terms import default_tokenizer
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

"""Two-stage retrieval: rank blocks (BM25 over whole paragraphs + the best sentence cosine),
then cut from each top block the window of sentences that covers the question best (the maths
is in rank.py)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .answerable import Cues
from .chunk import Chunk
from .index.sparse import SparseIndex
from .rank import best_window, block_scores, pad_window
from .script import has_cjk

DENSE_CANDIDATES = 50
#: Blocks taken from the BM25 side for every question (the dense side adds its own).
SPARSE_CANDIDATES = 20
#: Weight of a window's share of its block's question words next to the block's score, when
#: passages after the first are chosen (Retriever.search).
WINDOW_WEIGHT = 0.5
#: Share of a heading's or title's word weight when sentences are picked (Retriever.window_weights).
CONTEXT_WEIGHT = 0.1
#: What a block loses when the question asks for a kind of answer (a rank, a count, a year…:
#: qa.answerable) that the block does not hold, among the blocks this close to the best one
#: (Retriever.ranked_blocks). A fused score runs ~1-2, so this only settles near ties: "第几个设立的"
#: then takes the paragraph that says 第100个 over one that shares as many words and gives no rank.
#: 0.05 and 0.1 gave the same Chinese article questions (+3 of 360: 318 -> 321 at hit@1; CMRC and
#: DRCD unchanged to the fourth decimal); 0.1 also let one more near-topic question through.
KIND_MARGIN = 0.05
#: What a block gains when it defines a term the question quotes and asks about ("“一线”是什么意思"
#: and "“一线”即…"): more than words usually part two blocks by, as the definition answers. On the
#: six article sets it moved the three questions about one such term (2 to the top at 0.3-0.5,
#: 3 at 1.0; none lost); no CMRC or DRCD figure moved at any of 0.2, 0.3, 0.5, 1.0.
DEFINITION_BONUS = 0.5
_NO_CUES = Cues()


@dataclass(frozen=True)
class Scored:
    chunk: Chunk
    score: float
    dense: float
    sparse: float


class Retriever:
    """Ranks blocks for a question and cuts each top block's answering window.

    Args:
        chunks: sentence Chunks, in document and reading order.
        index: the build's vectors (qa.index.vector_store.VectorIndex, with its BM25 side).
        blocks: the build's BM25 over blocks, sentence words and heading words
            (qa.index.blocks.Blocks; BM25 rows are in the order of `blocks.keys`).
    """

    def __init__(self, chunks, index, blocks, sparse_weight: float, dense_weight: float,
                 max_chars: int = 310, cross_lingual_dense_weight: float | None = None):
        self.chunks = list(chunks)
        ids = np.fromiter((c.id for c in self.chunks), dtype=np.int64, count=len(self.chunks))
        self.ids = ids
        self._order = np.argsort(ids)
        self._sorted_ids = ids[self._order]
        self.index = index.with_sparse(blocks.bm25)
        self.sparse: SparseIndex = blocks.bm25
        self.sparse_weight = sparse_weight
        self.dense_weight = dense_weight
        self.cross_lingual_dense_weight = dense_weight if cross_lingual_dense_weight is None \
            else cross_lingual_dense_weight
        self.max_chars = max_chars
        self.sentence_words = list(blocks.sentence_words)
        self.context_words = list(blocks.context_words)
        self.lengths = [len(c.text) for c in self.chunks]
        row_of = {key: i for i, key in enumerate(blocks.keys)}
        self.block_of = np.fromiter((row_of[(c.path, c.block)] for c in self.chunks), dtype=np.int64,
                                    count=len(self.chunks))
        # positions of each block's sentences, and of each stream's (for padding past a block)
        self.members: list[list[int]] = [[] for _ in blocks.keys]
        self.streams: dict[tuple[str, int], list[int]] = {}
        for at, c in enumerate(self.chunks):
            self.members[self.block_of[at]].append(at)
            self.streams.setdefault((c.path, c.paragraph), []).append(at)
        self.place = {at: n for positions in self.streams.values() for n, at in enumerate(positions)}
        self.stream_lengths = {key: [self.lengths[at] for at in positions]
                               for key, positions in self.streams.items()}
        # each block's chunk ids, concatenated, and where each block's run starts
        self._block_ids = np.fromiter((ids[at] for m in self.members for at in m), dtype=np.int64,
                                      count=len(self.chunks))
        self._block_start = np.zeros(len(self.members) + 1, dtype=np.int64)
        np.cumsum([len(m) for m in self.members], out=self._block_start[1:])
        sample = self.chunks[:: max(1, len(self.chunks) // 200)]
        self.corpus_cjk = bool(sample) and sum(has_cjk(c.text) for c in sample) * 2 > len(sample)

    def is_cross_lingual(self, question: str) -> bool:
        """Whether the question is in another script than the corpus (their cosines run lower)."""
        return has_cjk(question) != self.corpus_cjk

    def dense_candidates(self, query_vector: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Positions (into self.chunks) and cosines of the dense top sentences, best first."""
        scores, ids = self.index.search_dense(query_vector, DENSE_CANDIDATES)
        return self._order[np.searchsorted(self._sorted_ids, ids)], scores.astype(np.float32)

    def ranked_blocks(self, query_vector: np.ndarray, tokens: list[str], limit: int, english=None,
                      cross_lingual: bool = False, cues: Cues = _NO_CUES):
        """The best `limit` blocks, best first, with what ranked them.

        Only candidates are scored: the BM25 top SPARSE_CANDIDATES (or `limit`) and the blocks
        of the dense top sentences. A block outside both has a BM25 score no better than the
        BM25 candidates' and no sentence among the dense top, so it can only pass a candidate
        that is weak on the other side; this is a cut, not an exact bound (a test compares the
        top blocks with scoring every block under a much tighter cut).

        A cross-lingual question (is_cross_lingual) weighs the cosine by cross_lingual_dense_weight:
        its words reach the text only through dictionary translations, which often miss or mislead.

        cues: what the question says of its answer (qa.answerable.cues). A candidate that defines
            the term the question asks about gains DEFINITION_BONUS; then, when the question asks
            for a kind of answer, the blocks within KIND_MARGIN of the best that hold none lose
            KIND_MARGIN.

        Returns:
            (blocks, scores, best cosine per block, BM25 per block, coverage, best cosine overall)
        """
        dense_at, cosines = self.dense_candidates(query_vector)
        dense_blocks = np.unique(self.block_of[dense_at])
        query = self.sparse.query_vector(tokens, english)
        coverage = self.sparse.coverage(tokens, english)
        # the BM25 top, and the BM25 scores of the dense side's blocks (from the same sums)
        top_scores, sparse_top, dense_sparse = self.index.sparse_candidates(
            query, max(limit, SPARSE_CANDIDATES), dense_blocks)
        candidates = np.union1d(dense_blocks, sparse_top)
        best_cos = self.best_cosines(candidates, query_vector)
        sparse = np.zeros(len(candidates), dtype=np.float32)
        sparse[np.searchsorted(candidates, dense_blocks)] = dense_sparse
        sparse[np.searchsorted(candidates, sparse_top)] = top_scores
        dense_weight = self.cross_lingual_dense_weight if cross_lingual else self.dense_weight
        fused = block_scores(sparse, best_cos, coverage, self.sparse_weight, dense_weight)
        if cues.definition is not None:
            fused[[i for i, b in enumerate(candidates) if cues.defines(self.block_text(int(b)))]] \
                += DEFINITION_BONUS
        if cues.kind is not None and len(fused):
            close = np.flatnonzero(fused >= fused.max() - KIND_MARGIN)
            lacking = [i for i in close if not cues.holds_kind(self.block_text(int(candidates[i])))]
            fused[lacking] -= KIND_MARGIN
        order = np.lexsort((candidates, -fused))[:limit]
        top_cosine = max(0.0, float(cosines.max())) if len(cosines) else 0.0
        return candidates[order], fused[order], best_cos[order], sparse[order], coverage, top_cosine

    def block_text(self, block: int) -> str:
        return "".join(self.chunks[at].text for at in self.members[block])

    def best_cosines(self, blocks: np.ndarray, query_vector: np.ndarray) -> np.ndarray:
        """Cosine of each block's best sentence with the question, (len(blocks),) float32."""
        starts, ends = self._block_start[blocks], self._block_start[blocks + 1]
        ids = np.concatenate([self._block_ids[a:b] for a, b in zip(starts, ends, strict=True)])
        cos = self.index.vectors(ids) @ query_vector
        return np.maximum.reduceat(cos, np.cumsum(ends - starts) - (ends - starts)).astype(np.float32)

    def search(self, query_vector: np.ndarray, tokens: list[str], k: int, english=None,
               cross_lingual: bool = False, cues: Cues = _NO_CUES) -> tuple[list[Scored], float, float]:
        """Top passages (no sentence shown twice), the question's lexical coverage, and the best
        cosine.

        The first passage is the top block's best window. After that every block offers its best
        window not yet shown, valued at the block's score plus WINDOW_WEIGHT times the share of
        the block's question weight the window covers; the best offer is taken and its block
        offers its next window. So a block far ahead of the rest gives its second window before
        a weak block gives its first. A passage's score is the value of its offer (capped by the
        score before it, so scores never rise down the list).
        """
        if not self.chunks:
            return [], 0.0, 0.0
        blocks, fused, best_cos, sparse, coverage, top_cosine = self.ranked_blocks(
            query_vector, tokens, max(2 * k, 8), english, cross_lingual, cues)
        words = set(tokens)
        if english:
            words.update(self.sparse.translated(english))
        shown: set[int] = set()
        out: list[Scored] = []
        offers: list[tuple[float, int, list[int], float]] = []  # (priority, block rank, span, value)
        weights: dict[int, dict[str, float]] = {}

        def offer(i: int, seen: set[int]) -> None:
            block = int(blocks[i])
            if block not in weights:
                members = self.members[block]
                weights[block] = self.window_weights(words, [self.sentence_words[at] for at in members],
                                                     self.context_words[block])
            found = self.passage(block, weights[block], query_vector, seen)
            if found is not None:
                span, cover = found
                value = float(fused[i]) + WINDOW_WEIGHT * cover
                offers.append((value, i, span, value))

        # A block's first offer is worked out only once it could win: it is worth at most its
        # score + WINDOW_WEIGHT (a cover is at most 1), and blocks come best first. It is worked
        # out as if nothing were shown yet, so the passages are those of offering every block at
        # the start (an offer that overlaps what was taken since is offered again when picked).
        pending = 0
        while len(out) < k:
            while pending < len(blocks) and (not offers or float(fused[pending]) + WINDOW_WEIGHT
                                             >= max(o[0] for o in offers)):
                offer(pending, set())
                if pending == 0 and offers:
                    offers[0] = (math.inf, *offers[0][1:])  # the top block's window comes first
                pending += 1
            if not offers:
                break
            best = max(range(len(offers)), key=lambda n: (offers[n][0], -offers[n][1]))
            _, i, span, value = offers.pop(best)
            if shown.intersection(span):  # overlaps a passage taken since it was offered
                offer(i, shown)
                continue
            shown.update(span)
            # the score is what ordered the passage, never above the one before (the first is the
            # top block's, taken first whatever its window's value)
            score = min(value, out[-1].score) if out else value
            out.append(Scored(self.assemble(span), score, float(best_cos[i]), float(sparse[i])))
            offer(i, shown)
        return out, coverage, top_cosine

    def search_distinct(self, query_vector: np.ndarray, tokens: list[str], k: int,
                        english=None, cross_lingual: bool = False,
                        cues: Cues = _NO_CUES) -> tuple[list[Scored], float, float]:
        """`search`, with a passage that stands word for word in several places returned once
        (the best-scored copy): asks for more until k distinct ones are found or none are left."""
        want = k
        while True:
            scored, coverage, top_cos = self.search(query_vector, tokens, want, english, cross_lingual, cues)
            unique, seen = [], set()
            for s in scored:
                key = "".join(s.chunk.text.split())
                if key not in seen:
                    seen.add(key)
                    unique.append(s)
            if len(unique) >= k or len(scored) < want or want >= 4 * k + 10:
                return unique[:k], coverage, top_cos
            want = min(2 * want + len(scored) - len(unique), 4 * k + 10)

    def passage(self, block: int, weights: dict[str, float], query_vector: np.ndarray,
                shown: set[int]) -> tuple[list[int], float] | None:
        """Positions of the sentences of `block`'s best window not yet shown, padded within its
        stream to max_chars, and the share of the block's question weight the window covers
        (None if every sentence of the block is shown)."""
        members = [at for at in self.members[block] if at not in shown]
        if not members:
            return None
        local = [self.sentence_words[at] for at in members]
        first, last = best_window(local, [self.lengths[at] for at in members], weights, self.max_chars,
                                  lambda: self.index.vectors(self.ids[members]) @ query_vector)
        total = sum(weights.values())
        covered = set().union(*local[first:last]) & weights.keys()
        cover = sum(weights[t] for t in covered) / total if total else 0.0
        key = (self.chunks[members[0]].path, self.chunks[members[0]].paragraph)
        stream = self.streams[key]
        a, b = self.place[members[first]], self.place[members[last - 1]] + 1
        if b - a != last - first:  # a shown sentence inside the core: keep only the core's part
            return [members[j] for j in range(first, last)], cover
        lo, hi = a, b
        while lo > 0 and stream[lo - 1] not in shown:
            lo -= 1
        while hi < len(stream) and stream[hi] not in shown:
            hi += 1
        a, b = pad_window(a, b, self.stream_lengths[key], self.max_chars, lo, hi)
        return stream[a:b], cover

    def window_weights(self, words: set[str], sentence_words: list[frozenset],
                       context: frozenset = frozenset()) -> dict[str, float]:
        """Weight of each question word for picking sentences inside one block: its rarity in
        the corpus (BM25's idf over blocks) times its rarity among the block's sentences, and
        CONTEXT_WEIGHT of that for a word of the block's heading or title.

        A word that every sentence of the block is about (the subject of the article, often in the
        question) can hardly tell one sentence from another: in-block rarity and the lower weight
        of the heading's and title's words took the gold paragraph's 300-character window from
        0.924 to 0.939 of CMRC questions containing the answer; leaving those words out entirely
        did as well there but lost "什么是X？" questions about the title X.
        """
        n = len(sentence_words)
        counts: dict[str, int] = {}  # sentences holding each question word (one set op a sentence)
        for w in sentence_words:
            for t in w.intersection(words):
                counts[t] = counts.get(t, 0) + 1
        out = {}
        for t in words:  # in the question's order, as before
            sf = counts.get(t)
            if not sf:
                continue
            df = self.sparse.df(t)
            idf = math.log1p((self.sparse.n_docs - df + 0.5) / (df + 0.5))
            out[t] = idf * math.log1p((n - sf + 0.5) / (sf + 0.5)) * (CONTEXT_WEIGHT if t in context else 1.0)
        return out

    def assemble(self, positions: list[int]) -> Chunk:
        """One Chunk for consecutive sentences of a stream: their text and merged line ranges."""
        parts = [self.chunks[at] for at in positions]
        text = "".join(c.text for c in parts).strip()
        lines: list[tuple[int, int]] = []
        for c in parts:
            for a, b in c.lines:
                if lines and lines[-1][0] <= a <= lines[-1][1] + 1 and b >= lines[-1][0]:
                    lines[-1] = (lines[-1][0], max(lines[-1][1], b))
                elif (a, b) not in lines:
                    lines.append((a, b))
        first = parts[0]
        return first.spanning(text, tuple(lines), (first.sentences[0], parts[-1].sentences[1]))

"""Hybrid retrieval: dense (FAISS) + BM25 (qa.sparse), fused; overlapping windows merged.

Fusion maths and the confidence are small pure functions so that they can be tested alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import vectors as vec
from .chunk import Chunk
from .sparse import SparseIndex

DENSE_CANDIDATES = 50


def max_normalize(scores: np.ndarray) -> np.ndarray:
    """Scale non-negative scores into [0, 1] by the best one (all zeros stay zeros).

    BM25 scores have no fixed range (they grow with question length and term rarity), so only
    their ratios to the best score of this question are comparable across questions.
    """
    top = float(scores.max()) if scores.size else 0.0
    return scores / top if top > 0 else np.zeros_like(scores)


def cosine_to_unit(cos: np.ndarray, floor: float = 0.1, ceiling: float = 0.6) -> np.ndarray:
    """Map cosine similarities onto [0, 1] with fixed anchors (not per-question min-max).

    Fixed anchors keep "how similar" meaningful: a per-question min-max would stretch a set of
    uniformly poor matches into a confident-looking 0..1 range.
    """
    return np.clip((cos - floor) / (ceiling - floor), 0.0, 1.0)


def fuse_scores(sparse: np.ndarray, dense: np.ndarray, coverage: float,
                sparse_weight: float, dense_weight: float) -> np.ndarray:
    """Weighted sum of max-normalised BM25 and anchored cosine, BM25 weighted by coverage.

    Equal fixed weights lose to BM25 alone on Chinese questions, yet an English question has no
    words in common with a Chinese text: BM25 then says nothing and must not dilute the dense
    ranking. Scaling BM25's weight by the question's lexical coverage gives each side weight
    where it has evidence.
    """
    ws = sparse_weight * coverage
    wd = dense_weight
    return (ws * max_normalize(sparse) + wd * cosine_to_unit(dense)) / (ws + wd)


#: Cosine anchors (score 0 at the first, 1 at the second) for the confidence's dense part.
#: Same-language cosines run high even between unrelated texts (a Chinese question about the
#: Guangzhou metro reaches 0.3 against this article), while cross-lingual cosines run low even
#: between a question and its answer (often 0.25-0.4), so each gets its own scale. Cross-lingual
#: cosines overlap a lot: on 29 English questions (14 answerable, 15 not, many near the topic:
#: "What time does the Shanghai metro close?") answerable ones ran 0.07-0.37 and the others
#: 0.05-0.22, so below 0.2 the cosine says nothing and an English question must show its words
#: (qa.translate) in the text; (0.08, 0.28) accepted 13/14 and rejected 7/15, these 12/14 and 10/15.
SAME_LANGUAGE_ANCHORS = (0.35, 0.65)
CROSS_LINGUAL_ANCHORS = (0.2, 0.4)


def confidence(top_cosine: float, coverage: float, cross_lingual: bool = False) -> float:
    """How sure we are that the corpus answers the question, in [0, 1].

    Two signals, combined as a soft OR (1 - (1-a)(1-b)) since either alone can carry an in-domain
    question: `coverage`, the share of the question's specific words found in the corpus (the
    strong signal for a question in the corpus' language), and the best cosine on the scale for
    the language pair (the only signal when question and corpus share no words, e.g. English
    questions about a Chinese text).
    """
    floor, ceiling = CROSS_LINGUAL_ANCHORS if cross_lingual else SAME_LANGUAGE_ANCHORS
    dense_part = float(cosine_to_unit(np.float64(top_cosine), floor, ceiling))
    return 1.0 - (1.0 - dense_part) * (1.0 - coverage)


def top_positions(scores: np.ndarray, limit: int) -> np.ndarray:
    """Indices of the `limit` highest scores (unordered), in O(n)."""
    if limit >= len(scores):
        return np.arange(len(scores))
    return np.argpartition(-scores, limit - 1)[:limit]


def has_cjk(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf" for ch in text)


@dataclass(frozen=True)
class Scored:
    chunk: Chunk
    score: float
    dense: float
    sparse: float


class Retriever:
    """Scores chunks for a question vector and its tokens."""

    def __init__(self, chunks, vector_index, sparse: SparseIndex, sparse_weight: float, dense_weight: float,
                 max_chars: int = 240):
        self.chunks = list(chunks)
        # chunk id -> position, as sorted arrays: FAISS returns ids, a query maps 50 of them at once
        ids = np.fromiter((c.id for c in self.chunks), dtype=np.int64, count=len(self.chunks))
        self._order = np.argsort(ids)
        self._sorted_ids = ids[self._order]
        self.vector_index = vector_index
        self._search_params = vec.search_params(vector_index)
        self.sparse = sparse
        self.sparse_weight = sparse_weight
        self.dense_weight = dense_weight
        self.max_chars = max_chars
        self.sentences = sentence_table(self.chunks)
        sample = self.chunks[:: max(1, len(self.chunks) // 200)]
        self.corpus_cjk = bool(sample) and sum(has_cjk(c.text) for c in sample) * 2 > len(sample)

    def is_cross_lingual(self, question: str) -> bool:
        """Whether the question is in another script than the corpus (their cosines run lower)."""
        return has_cjk(question) != self.corpus_cjk

    def dense_candidates(self, query_vector: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Positions (into self.chunks) and cosines of the FAISS top candidates, best first."""
        scores, ids = vec.search(self.vector_index, query_vector, DENSE_CANDIDATES, self._search_params)
        return self._order[np.searchsorted(self._sorted_ids, ids)], scores.astype(np.float32)

    def ranked(self, query_vector: np.ndarray, tokens: list[str], limit: int, english=None):
        """The best `limit` chunks by fused score, best first (ties in corpus order).

        Only candidates are fused: the dense top candidates and the BM25 top `limit`. A chunk
        outside both has no dense score and a BM25 score no better than the `limit` BM25
        candidates, so it cannot rank among the best `limit`: the result is the same as fusing
        every chunk, at a cost that grows with the corpus only by one pass over the BM25 scores.

        Args:
            english: an English question's words and their translations (SparseIndex.coverage).
        Returns:
            (positions, fused, dense, sparse, coverage, best cosine): arrays align with positions.
        """
        dense_at, cosines = self.dense_candidates(query_vector)
        sparse_all = self.sparse.scores(tokens, english)
        coverage = self.sparse.coverage(tokens, english)
        if len(dense_at) == len(self.chunks):  # a small corpus: every chunk is a dense candidate
            candidates = np.arange(len(self.chunks))
        else:
            candidates = np.union1d(dense_at, top_positions(sparse_all, limit))
        dense = np.zeros(len(candidates), dtype=np.float32)
        dense[np.searchsorted(candidates, dense_at)] = cosines
        sparse = sparse_all[candidates]
        fused = fuse_scores(sparse, dense, coverage, self.sparse_weight, self.dense_weight)
        order = np.lexsort((candidates, -fused))[:limit]
        best_cosine = max(0.0, float(cosines.max())) if len(cosines) else 0.0
        return candidates[order], fused[order], dense[order], sparse[order], coverage, best_cosine

    def search(self, query_vector: np.ndarray, tokens: list[str],
               k: int, english=None) -> tuple[list[Scored], float, float]:
        """Top passages, the question's lexical coverage, and the best cosine."""
        if not self.chunks:
            return [], 0.0, 0.0
        limit = min(len(self.chunks), max(8 * k, 20))
        positions, fused, dense, sparse, coverage, best_cosine = self.ranked(query_vector, tokens, limit,
                                                                             english)
        passages: list[Passage] = []
        for i, at in enumerate(positions):
            self._place(passages, self.chunks[at], float(fused[i]), float(dense[i]), float(sparse[i]))
            if len(passages) >= k:
                break
        return [p.scored(self.sentences) for p in passages], coverage, best_cosine

    def _place(self, passages: list[Passage], chunk: Chunk, score: float, dense: float,
               sparse: float) -> None:
        """Add a window to the passages so that no sentence is shown twice.

        A window whose centre sentence is already shown adds nothing; one that overlaps a shown
        passage extends it while the result stays readable (1.5 x max_chars), else only its part
        around its centre that is not yet shown becomes a passage of its own.
        """
        key = (chunk.path, chunk.paragraph)
        first, last = chunk.sentences
        centre = chunk.centre if chunk.centre >= 0 else first
        same = [p for p in passages if p.key == key]
        if any(p.first <= centre < p.last for p in same):
            return
        for p in same:
            if first <= p.last and p.first <= last:
                lo, hi = min(first, p.first), max(last, p.last)
                if self._chars(key, lo, hi) <= 1.5 * self.max_chars and not any(
                        q is not p and q.first < hi and lo < q.last for q in same):
                    p.first, p.last = lo, hi
                    return
        for p in same:  # trim to the unshown part around the centre
            if p.last <= centre:
                first = max(first, p.last)
            elif p.first > centre:
                last = min(last, p.first)
        passages.append(Passage(key, first, last, chunk, score, dense, sparse))

    def _chars(self, key, first: int, last: int) -> int:
        table = self.sentences.get(key, {})
        return sum(len(table[i][0]) for i in range(first, last) if i in table)


class Passage:
    """A run of sentences [first, last) of one stream, being assembled from windows."""

    def __init__(self, key, first, last, chunk, score, dense, sparse):
        self.key, self.first, self.last = key, first, last
        self.chunk, self.score, self.dense, self.sparse = chunk, score, dense, sparse

    def scored(self, sentences) -> Scored:
        table = sentences.get(self.key, {})
        parts = [table[i] for i in range(self.first, self.last) if i in table]
        if not parts:
            return Scored(self.chunk, self.score, self.dense, self.sparse)
        text = "".join(t for t, _ in parts).strip()
        lines: list[tuple[int, int]] = []
        for _, ranges in parts:
            for a, b in ranges:
                if lines and lines[-1][0] <= a <= lines[-1][1] + 1 and b >= lines[-1][0]:
                    lines[-1] = (lines[-1][0], max(lines[-1][1], b))
                elif (a, b) not in lines:
                    lines.append((a, b))
        return Scored(self.chunk.spanning(text, tuple(lines), (self.first, self.last)), self.score,
                      self.dense, self.sparse)


def sentence_table(chunks) -> dict:
    """(path, stream) -> {sentence index: (text, line ranges)}, gathered from the windows."""
    table: dict = {}
    for c in chunks:
        if c.starts:
            rows = table.setdefault((c.path, c.paragraph), {})
            for i, text, lines in c.sentence_parts():
                # inside a window a sentence keeps the line break that follows its paragraph
                if len(text) > len(rows.get(i, ("",))[0]):
                    rows[i] = (text, lines)
    return table

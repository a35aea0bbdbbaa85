"""Two-stage retrieval: rank blocks (BM25 over whole paragraphs + the best sentence cosine),
then cut from each top block the window of sentences that covers the question best.

Fusion maths, the confidence and the window choice are small pure functions so that they can be
tested alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .chunk import Chunk
from .index import faiss_store as vec
from .index.sparse import SparseIndex
from .script import has_cjk

DENSE_CANDIDATES = 50
#: Blocks taken from the BM25 side for every question (the dense side adds its own).
SPARSE_CANDIDATES = 20
#: Weight of a window's share of its block's question words next to the block's score, when
#: passages after the first are chosen (Retriever.search).
WINDOW_WEIGHT = 0.5
#: Share of a heading's or title's word weight when sentences are picked (Retriever.window_weights).
CONTEXT_WEIGHT = 0.1


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


def block_scores(sparse: np.ndarray, best_cosine: np.ndarray, coverage: float,
                 sparse_weight: float, dense_weight: float) -> np.ndarray:
    """Score of each candidate block: max-normalised BM25, weighted by the question's lexical
    coverage, plus the raw cosine of the block's best sentence.

    BM25 over whole paragraphs (words, character pairs and the Traditional/Simplified fold) is
    the strong signal for a question in the corpus' language: on the public sets it finds the
    answer's paragraph for 0.978 (CMRC) and 0.944 (DRCD) of questions. The best sentence cosine
    adds what BM25 cannot see (paraphrase, another language): 0.5 x cosine took DRCD to 0.949; a
    logistic regression over these and two more features did no better (0.949), on either set
    when trained on the other. An English question shares no words with a Chinese text except
    through its translations, so BM25 weighs by how much of the question those cover.
    """
    return sparse_weight * coverage * max_normalize(sparse) + dense_weight * best_cosine


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


def best_window(sentence_words: list[frozenset], lengths: list[int], weights: dict[str, float],
                max_chars: int, cosines: np.ndarray | None = None) -> tuple[int, int]:
    """The run of sentences [first, last) of at most max_chars (at least one sentence) that
    covers the most question weight; ties go to the shorter, then the earlier run.

    Coverage counts each question word once however often the run repeats it, so a run earns
    its place by holding different question words, as the sentence that answers tends to hold
    the words the question was written from. Without any question word in the block the best
    cosine picks the sentence (an English question with no translated word in the text).
    """
    n = len(lengths)
    keys = weights.keys()
    held = [w & keys for w in sentence_words]  # only question words matter: small sets
    if not any(held):
        at = int(np.argmax(cosines)) if cosines is not None and len(cosines) else 0
        return at, at + 1
    best, span = -1.0, (0, 1)
    for first in range(n):
        if not held[first]:
            continue  # a run that starts without a question word is beaten by the one after it
        covered: set[str] = set()
        size = score = 0.0
        for last in range(first, n):
            size += lengths[last]
            if size > max_chars and last > first:
                break
            new = held[last] - covered
            if not new:
                continue
            covered |= new
            score += sum(weights[t] for t in new)
            if score > best + 1e-9:
                best, span = score, (first, last + 1)
    return span


def pad_window(first: int, last: int, lengths: list[int], max_chars: int, lo: int = 0,
               hi: int | None = None) -> tuple[int, int]:
    """Grow [first, last) to up to max_chars within [lo, hi), a sentence at a time on each side
    in turn, the following one first (what follows the sentence a question matches is often its
    answer: the outcome of a case, a definition's content)."""
    hi = len(lengths) if hi is None else hi
    size = sum(lengths[first:last])
    grown = True
    while grown:
        grown = False
        if last < hi and size + lengths[last] <= max_chars:
            size += lengths[last]
            last += 1
            grown = True
        if first > lo and size + lengths[first - 1] <= max_chars:
            first -= 1
            size += lengths[first]
            grown = True
    return first, last


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
        vector_index: the FAISS index of their vectors (ids = chunk ids).
        sparse: BM25 over the blocks, in the order of `block_keys`.
        block_keys: (path, block) of each BM25 row.
        sentence_words: each chunk's search words (a frozenset), for the window choice.
        context_words: each block's heading/title words: what every sentence of the block is
            about, so they do not pick one sentence over another.
    """

    def __init__(self, chunks, vector_index, sparse: SparseIndex, block_keys, sentence_words,
                 context_words, sparse_weight: float, dense_weight: float, max_chars: int = 310):
        self.chunks = list(chunks)
        ids = np.fromiter((c.id for c in self.chunks), dtype=np.int64, count=len(self.chunks))
        self._order = np.argsort(ids)
        self._sorted_ids = ids[self._order]
        self.vector_index = vector_index
        self._search_params = vec.search_params(vector_index)
        stored_ids, matrix = vec.all_vectors(vector_index) if len(self.chunks) else (ids, None)
        # rows of FAISS's own vectors for each chunk position (a view for an exact index)
        self._matrix = matrix
        by_id = np.argsort(stored_ids)
        self._rows = by_id[np.searchsorted(stored_ids[by_id], ids)]
        self.sparse = sparse
        self.sparse_weight = sparse_weight
        self.dense_weight = dense_weight
        self.max_chars = max_chars
        self.sentence_words = list(sentence_words)
        self.context_words = list(context_words)
        self.lengths = [len(c.text) for c in self.chunks]
        row_of = {key: i for i, key in enumerate(block_keys)}
        self.block_of = np.fromiter((row_of[(c.path, c.block)] for c in self.chunks), dtype=np.int64,
                                    count=len(self.chunks))
        # positions of each block's sentences, and of each stream's (for padding past a block)
        self.members: list[list[int]] = [[] for _ in block_keys]
        self.streams: dict[tuple[str, int], list[int]] = {}
        for at, c in enumerate(self.chunks):
            self.members[self.block_of[at]].append(at)
            self.streams.setdefault((c.path, c.paragraph), []).append(at)
        self.place = {at: n for positions in self.streams.values() for n, at in enumerate(positions)}
        # each block's vector rows, concatenated, and where each block's run starts
        self._block_rows = np.fromiter((self._rows[at] for m in self.members for at in m), dtype=np.int64,
                                       count=len(self.chunks))
        self._block_start = np.zeros(len(self.members) + 1, dtype=np.int64)
        np.cumsum([len(m) for m in self.members], out=self._block_start[1:])
        sample = self.chunks[:: max(1, len(self.chunks) // 200)]
        self.corpus_cjk = bool(sample) and sum(has_cjk(c.text) for c in sample) * 2 > len(sample)

    def is_cross_lingual(self, question: str) -> bool:
        """Whether the question is in another script than the corpus (their cosines run lower)."""
        return has_cjk(question) != self.corpus_cjk

    def dense_candidates(self, query_vector: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Positions (into self.chunks) and cosines of the FAISS top sentences, best first."""
        scores, ids = vec.search(self.vector_index, query_vector, DENSE_CANDIDATES, self._search_params)
        return self._order[np.searchsorted(self._sorted_ids, ids)], scores.astype(np.float32)

    def ranked_blocks(self, query_vector: np.ndarray, tokens: list[str], limit: int, english=None):
        """The best `limit` blocks, best first, with what ranked them.

        Only candidates are scored: the BM25 top SPARSE_CANDIDATES (or `limit`) and the blocks
        of the dense top sentences. A block outside both has a BM25 score no better than the
        BM25 candidates' and no sentence among the dense top, so it can only pass a candidate
        that is weak on the other side; this is a cut, not an exact bound (a test compares the
        top blocks with scoring every block under a much tighter cut).

        Returns:
            (blocks, scores, best cosine per block, BM25 per block, coverage, best cosine overall)
        """
        dense_at, cosines = self.dense_candidates(query_vector)
        sparse_all = self.sparse.scores(tokens, english)
        coverage = self.sparse.coverage(tokens, english)
        candidates = np.union1d(self.block_of[dense_at],
                                top_positions(sparse_all, max(limit, SPARSE_CANDIDATES)))
        best_cos = self.best_cosines(candidates, query_vector)
        sparse = sparse_all[candidates]
        fused = block_scores(sparse, best_cos, coverage, self.sparse_weight, self.dense_weight)
        order = np.lexsort((candidates, -fused))[:limit]
        top_cosine = max(0.0, float(cosines.max())) if len(cosines) else 0.0
        return candidates[order], fused[order], best_cos[order], sparse[order], coverage, top_cosine

    def best_cosines(self, blocks: np.ndarray, query_vector: np.ndarray) -> np.ndarray:
        """Cosine of each block's best sentence with the question, (len(blocks),) float32."""
        starts, ends = self._block_start[blocks], self._block_start[blocks + 1]
        rows = np.concatenate([self._block_rows[a:b] for a, b in zip(starts, ends, strict=True)])
        cos = self._matrix[rows] @ query_vector
        return np.maximum.reduceat(cos, np.cumsum(ends - starts) - (ends - starts)).astype(np.float32)

    def search(self, query_vector: np.ndarray, tokens: list[str],
               k: int, english=None) -> tuple[list[Scored], float, float]:
        """Top passages (no sentence shown twice), the question's lexical coverage, and the best
        cosine.

        The first passage is the top block's best window. After that every block offers its best
        window not yet shown, valued at the block's score plus WINDOW_WEIGHT times the share of
        the block's question weight the window covers; the best offer is taken and its block
        offers its next window. So a block far ahead of the rest gives its second window before
        a weak block gives its first.
        """
        if not self.chunks:
            return [], 0.0, 0.0
        blocks, fused, best_cos, sparse, coverage, top_cosine = self.ranked_blocks(
            query_vector, tokens, max(2 * k, 8), english)
        words = set(tokens)
        if english:
            words.update(self.sparse.translated(english))
        shown: set[int] = set()
        out: list[Scored] = []
        offers: list[tuple[float, int, list[int]]] = []
        weights: dict[int, dict[str, float]] = {}

        def offer(i: int) -> None:
            block = int(blocks[i])
            if block not in weights:
                members = self.members[block]
                weights[block] = self.window_weights(words, [self.sentence_words[at] for at in members],
                                                     self.context_words[block])
            found = self.passage(block, weights[block], query_vector, shown)
            if found is not None:
                span, cover = found
                offers.append((float(fused[i]) + WINDOW_WEIGHT * cover, i, span))

        for i in range(len(blocks)):
            offer(i)
            if i == 0 and offers:
                offers[0] = (math.inf, *offers[0][1:])  # the top block's window comes first
        while offers and len(out) < k:
            best = max(range(len(offers)), key=lambda n: (offers[n][0], -offers[n][1]))
            _, i, span = offers.pop(best)
            if shown.intersection(span):  # overlaps a passage taken since it was offered
                offer(i)
                continue
            shown.update(span)
            out.append(Scored(self.assemble(span), float(fused[i]), float(best_cos[i]), float(sparse[i])))
            offer(i)
        return out, coverage, top_cosine

    def passage(self, block: int, weights: dict[str, float], query_vector: np.ndarray,
                shown: set[int]) -> tuple[list[int], float] | None:
        """Positions of the sentences of `block`'s best window not yet shown, padded within its
        stream to max_chars, and the share of the block's question weight the window covers
        (None if every sentence of the block is shown)."""
        members = [at for at in self.members[block] if at not in shown]
        if not members:
            return None
        local = [self.sentence_words[at] for at in members]
        cos = None if any(w & weights.keys() for w in local) else \
            self._matrix[self._rows[members]] @ query_vector
        first, last = best_window(local, [self.lengths[at] for at in members], weights,
                                  self.max_chars, cos)
        total = sum(weights.values())
        covered = set().union(*local[first:last]) & weights.keys()
        cover = sum(weights[t] for t in covered) / total if total else 0.0
        stream = self.streams[(self.chunks[members[0]].path, self.chunks[members[0]].paragraph)]
        a, b = self.place[members[first]], self.place[members[last - 1]] + 1
        if b - a != last - first:  # a shown sentence inside the core: keep only the core's part
            return [members[j] for j in range(first, last)], cover
        lo, hi = a, b
        while lo > 0 and stream[lo - 1] not in shown:
            lo -= 1
        while hi < len(stream) and stream[hi] not in shown:
            hi += 1
        lengths = [self.lengths[at] for at in stream]
        a, b = pad_window(a, b, lengths, self.max_chars, lo, hi)
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
        out = {}
        for t in words:
            sf = sum(t in w for w in sentence_words)
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

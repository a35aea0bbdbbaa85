"""The maths of ranking, as small pure functions: fusing BM25 with cosines, the confidence that
something relevant was found, and the choice of a passage's sentences inside a block."""

from __future__ import annotations

import numpy as np


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
    adds what BM25 cannot see (paraphrase, another language): 0.5 x cosine took DRCD to 0.949 and
    1.25 x to 0.957 (para@1; CMRC 0.978 -> 0.981); a logistic regression over these and two more
    features did no better than 0.5 x (0.949), on either set when trained on the other. An English
    question shares no words with a Chinese text except through its translations, so BM25 weighs
    by how much of the question those cover.
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


def best_window(sentence_words: list[frozenset], lengths: list[int], weights: dict[str, float],
                max_chars: int, cosines=None) -> tuple[int, int]:
    """The run of sentences [first, last) of at most max_chars (at least one sentence) that
    covers the most question weight; ties go to the shorter, then the earlier run.

    Coverage counts each question word once however often the run repeats it, so a run earns
    its place by holding different question words, as the sentence that answers tends to hold
    the words the question was written from. Without any question word in the block the best
    cosine picks the sentence (an English question with no translated word in the text).

    Args:
        cosines: each sentence's cosine with the question, (n,), or a function giving them
            (called only when no sentence holds a question word), or None (the first sentence).
    """
    n = len(lengths)
    keys = weights.keys()
    held = [w & keys for w in sentence_words]  # only question words matter: small sets
    if not any(held):
        if callable(cosines):
            cosines = cosines()
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

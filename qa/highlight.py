"""Which sentence of a passage best answers a question (for highlighting it in the app)."""

from __future__ import annotations

import re
import threading

import numpy as np

from . import embed
from .chunk import sentence_spans

#: Weight of the cosine next to the bigram overlap (a tie-breaker: see sentence_scores).
COSINE_WEIGHT = 0.1

#: Function and question characters: a bigram with one of them ("区的", "怎么") says how a
#: question is phrased, not what it is about.
_FUNCTION_CHARS = frozenset("的了是在和与及或也都就而又把被之其这那此们着过吗呢吧啊呀么什怎哪谁几何如")


_NUMERALS = "一二三四五六七八九十"
#: "第二个/第2项" in a question; "二是…" / "第二，…" opening a sentence: Chinese enumerations.
_ORDINAL_ASKED = re.compile(r"第\s*([一二三四五六七八九十]|10|[1-9])")
_ORDINAL_OPENS = re.compile(r"^\W*(?:第\s*)?([一二三四五六七八九十]|10|[1-9])\s*(?:是|、|，|,|：|:|\.)")


def ordinal(numeral: str) -> str:
    """A marker for the n-th item, the same for 二 and 2: '#2'."""
    return f"#{_NUMERALS.index(numeral) + 1 if numeral in _NUMERALS else int(numeral)}"


def enumeration_markers(question: str, sentence: str) -> tuple[set[str], set[str]]:
    """Markers tying "第二个…呢？" to the sentence that opens with "二是…" (lists of points are
    common in Chinese writing; the items share their words, so only the number tells them apart)."""
    asked = {ordinal(n) for n in _ORDINAL_ASKED.findall(question)}
    opens = _ORDINAL_OPENS.match(sentence)
    return asked, {ordinal(opens.group(1))} if opens else set()


def char_bigrams(text: str) -> set[str]:
    """Overlapping two-character pieces of the letters, digits and CJK characters of `text`.

    Chinese has no spaces; bigrams match words without a tokenizer ("停车管理" shares 停车, 车管,
    管理 with "停车管理难题"), which is enough to compare one question with a few sentences.
    """
    chars = [c.lower() for c in text if c.isalnum()]
    return {a + b for a, b in zip(chars, chars[1:], strict=False)
            if a not in _FUNCTION_CHARS and b not in _FUNCTION_CHARS}


def sentence_scores(question: str, sentences: list[str], question_vector: np.ndarray | None = None,
                    sentence_vectors: np.ndarray | None = None) -> np.ndarray:
    """How well each sentence answers the question: shared bigrams (weighted) plus cosine similarity.

    Bigram overlap carries Chinese questions; the cosine (when vectors are given) carries English
    ones, which share no characters with a Chinese text.

    Args:
        question_vector: shape (dim,), L2-normalised; sentence_vectors: shape (len(sentences), dim).
    Returns:
        array of shape (len(sentences),); higher is better.
    """
    asked = char_bigrams(question) | enumeration_markers(question, "")[0]
    grams = [(char_bigrams(s) | enumeration_markers("", s)[1]) & asked for s in sentences]
    # A bigram found in every sentence (the passage's subject, 雍景苑) does not tell them apart;
    # one found in a single sentence (条例, 制定) does: weigh each by its rarity in the passage.
    df = {g: sum(g in shared for shared in grams) for g in asked}
    weight = {g: np.log(1 + len(sentences) / df[g]) if df[g] else 0.0 for g in asked}
    total = sum(np.log(1 + len(sentences)) for _ in asked)
    overlap = np.array([sum(weight[g] for g in shared) / total if total else 0.0 for shared in grams])
    if question_vector is None or sentence_vectors is None or not len(sentences):
        return overlap
    cosine = sentence_vectors @ question_vector
    # The cosine favours short sentences that merely name the subject; where words are shared it
    # only breaks ties. Without shared words (an English question) it decides alone.
    return overlap + COSINE_WEIGHT * cosine if overlap.max() > 0 else cosine


class SentenceVectors:
    """Embeddings of passage sentences, computed once per sentence and kept (thread-safe).

    Embedding a passage's sentences costs ~30 ms each with the built-in encoder, far more than the
    search itself; the corpus is fixed while the app runs, so each sentence is embedded once, and
    `warm` can embed the whole corpus in the background after start-up.
    """

    def __init__(self, qa):
        self.qa = qa
        self._vectors: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()

    def __call__(self, sentences: list[str]) -> np.ndarray:
        """Vectors of the sentences; shape (len(sentences), dim)."""
        missing = list(dict.fromkeys(s for s in sentences if s not in self._vectors))
        if missing:
            vectors = embed.encode(self.qa.encoder, missing, prompt=self.qa.passage_prompt)
            with self._lock:
                self._vectors.update(zip(missing, vectors, strict=True))
        return np.stack([self._vectors[s] for s in sentences])

    def warm(self, passages, batch: int = 64) -> None:
        """Embed every sentence of the passages (run it in a background thread)."""
        sentences = list(dict.fromkeys(p[a:b] for p in passages for a, b in sentence_spans(p)))
        for i in range(0, len(sentences), batch):
            self(sentences[i:i + batch])

    def __len__(self) -> int:
        return len(self._vectors)


def best_sentence_span(qa, question: str, passage: str,
                       sentence_vectors: SentenceVectors | None = None) -> tuple[int, int] | None:
    """Character span [start, end) of the passage's sentence that best answers the question.

    Returns None when the passage has at most one sentence (highlighting all of it says nothing).
    Args:
        qa: a QA whose encoder embeds the question (and the sentences, without `sentence_vectors`).
    """
    spans = sentence_spans(passage)
    if len(spans) < 2:
        return None
    sentences = [passage[a:b] for a, b in spans]
    scores = sentence_scores(question, sentences)
    first, second = np.sort(scores)[::-1][:2]
    # Cosines lie in [-1, 1], so a lead over 2 * COSINE_WEIGHT cannot change: skip embedding.
    if first - second <= 2 * COSINE_WEIGHT or first == 0:
        vectors = (sentence_vectors or SentenceVectors(qa))(sentences)
        scores = sentence_scores(question, sentences, qa.encode_query(question), vectors)
    a, b = spans[int(np.argmax(scores))]
    sentence = passage[a:b]
    # a sentence after a line break starts with it; the highlight should not
    a += len(sentence) - len(sentence.lstrip())
    b -= len(sentence) - len(sentence.rstrip())
    return a, b

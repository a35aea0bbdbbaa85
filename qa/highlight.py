"""Which sentence of a passage best answers a question (for highlighting it in the app)."""

from __future__ import annotations

import numpy as np

from . import embed
from .chunk import sentence_spans


def char_bigrams(text: str) -> set[str]:
    """Overlapping two-character pieces of the letters, digits and CJK characters of `text`.

    Chinese has no spaces; bigrams match words without a tokenizer ("停车管理" shares 停车, 车管,
    管理 with "停车管理难题"), which is enough to compare one question with a few sentences.
    """
    chars = [c.lower() for c in text if c.isalnum()]
    return {a + b for a, b in zip(chars, chars[1:], strict=False)}


def sentence_scores(question: str, sentences: list[str], question_vector: np.ndarray | None = None,
                    sentence_vectors: np.ndarray | None = None) -> np.ndarray:
    """How well each sentence answers the question: shared bigrams plus cosine similarity.

    Bigram overlap carries Chinese questions; the cosine (when vectors are given) carries English
    ones, which share no characters with a Chinese text.

    Args:
        question_vector: shape (dim,), L2-normalised; sentence_vectors: shape (len(sentences), dim).
    Returns:
        array of shape (len(sentences),); higher is better.
    """
    asked = char_bigrams(question)
    overlap = np.array([len(asked & char_bigrams(s)) / len(asked) if asked else 0.0 for s in sentences])
    if question_vector is None or sentence_vectors is None or not len(sentences):
        return overlap
    return overlap + sentence_vectors @ question_vector


def best_sentence_span(qa, question: str, passage: str) -> tuple[int, int] | None:
    """Character span [start, end) of the passage's sentence that best answers the question.

    Returns None when the passage has at most one sentence (highlighting all of it says nothing).
    Args:
        qa: a QA whose encoder embeds question and sentences.
    """
    spans = sentence_spans(passage)
    if len(spans) < 2:
        return None
    sentences = [passage[a:b] for a, b in spans]
    vectors = embed.encode(qa.encoder, sentences, prompt=qa.passage_prompt)
    scores = sentence_scores(question, sentences, qa.encode_query(question), vectors)
    a, b = spans[int(np.argmax(scores))]
    sentence = passage[a:b]
    # a sentence after a line break starts with it; the highlight should not
    a += len(sentence) - len(sentence.lstrip())
    b -= len(sentence) - len(sentence.rstrip())
    return a, b

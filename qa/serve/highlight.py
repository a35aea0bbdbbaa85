"""Which sentence of a passage best answers a question (for highlighting it in the app)."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass

import numpy as np

from ..chunk import sentence_spans
from ..index import embed
from ..script import is_cjk

#: Weight of the cosine next to the bigram overlap (a tie-breaker: see sentence_scores).
COSINE_WEIGHT = 0.1
#: Share of its word overlap a sentence loses when it lacks what the question asks for (a number
#: for 多少, a reason for 为什么…).
CUE_WEIGHT = 0.6

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


@dataclass(frozen=True)
class AnswerCue:
    """A kind of answer: the question words that ask for it and what a sentence giving it holds."""

    name: str
    asks: re.Pattern
    gives: re.Pattern


_NUMBER = r"[0-9０-９]|[一二两三四五六七八九十百千万亿]+(?:[个位家名项条次年月天元角块分岁米%％倍成]|多|余)"
#: Question words and the sentences that answer them. The outcome of "怎么解决 / 后来怎么样" is a
#: sentence that reports a result, not the one that names the problem (which shares more words
#: with the question); "多少 / 收费" asks for a number or a price; "为什么" for a reason.
ANSWER_CUES = (
    AnswerCue("outcome",
              re.compile(r"(?:怎么|怎样|如何)(?:解决|处理|改善|改变)|解决了?(?:吗|没)|后来|结果|效果|成效|怎么样了"
                         r"|\b(?:solved?|resolved?|result(?:ed)?|outcome|what happened)\b", re.I),
              re.compile(r"得到|得以|改善|好转|解决|成功|实现|完成|最终|终于|从此|如今|此后|之后|从而|大大|极大"
                         r"|明显|显著|有效|不再|变得|成为|结果")),
    AnswerCue("quantity",
              re.compile(r"多少|几[个位家名项条次年月天元岁倍]|多大|多长|多久|多高|多远|多重"
                         r"|\bhow (?:much|many|long|far|old|big)\b", re.I),
              re.compile(_NUMBER)),
    AnswerCue("price",
              re.compile(r"收费|价格|价钱|费用|花费|多少钱|\b(?:cost|price|fee|charge)[sd]?\b", re.I),
              re.compile(r"[0-9０-９一二两三四五六七八九十百千万]\s*[元角块分]|[元角块]钱|每[小时天月年人次户度]|免费"
                         r"|不收费|打折|折扣|优惠")),
    AnswerCue("reason",
              re.compile(r"为什么|为何|为啥|原因|缘故|何故|\bwhy\b|\breasons?\b", re.I),
              re.compile(r"因为|由于|为了|因此|所以|原因|导致|造成|出于|以便|以免|为此|针对|鉴于|考虑到|旨在|否则")),
    AnswerCue("time",
              re.compile(r"什么时候|何时|哪一?年|哪一?天|几月|几号|几点|多少年|\bwhen\b|\bwhat year\b", re.I),
              re.compile(r"[0-9０-９]{2,4}\s*年|[一二三四五六七八九十〇零]{2,4}年|[0-9０-９]{1,2}\s*[月日号]|年代|世纪|"
                         r"[春夏秋冬]季|期间|以来|当时|那时|随后")),
)


def asked_cues(question: str) -> list[AnswerCue]:
    """The kinds of answer the question asks for (often none: "什么是…" names no kind)."""
    return [cue for cue in ANSWER_CUES if cue.asks.search(question)]


def cue_scores(question: str, sentences: list[str]) -> np.ndarray:
    """Per sentence, the share of the question's answer kinds it holds (0 when none is asked),
    without counting what the sentence shares with the question itself (the question's own
    "解决" or "收费" in a sentence is not an answer to it)."""
    cues = asked_cues(question)
    if not cues:
        return np.zeros(len(sentences))
    # An English question's own words count through their translations ("solve" -> 解决).
    said = question + " ".join(t for _, ts in _english_terms(question) for t in ts)
    asked_words = {m.group(0) for cue in cues for m in cue.gives.finditer(said)}
    return np.array([sum(any(m.group(0) not in asked_words for m in cue.gives.finditer(s)) for cue in cues)
                     / len(cues) for s in sentences])


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
    overlap = word_overlap(question, sentences)
    if asked_cues(question):
        # A sentence without the kind of answer asked for (no result for 怎么解决, no price for 收费)
        # keeps only part of its word overlap: it may restate the question, it does not answer it.
        cues = cue_scores(question, sentences)
        overlap = overlap * (1 - CUE_WEIGHT * (1 - cues))
    if question_vector is None or sentence_vectors is None or not len(sentences):
        return overlap
    cosine = sentence_vectors @ question_vector
    # The cosine favours short sentences that merely name the subject; where words are shared it
    # only breaks ties. Without shared words (an English question) it decides alone.
    return overlap + COSINE_WEIGHT * cosine if overlap.max() > 0 else cosine


def word_overlap(question: str, sentences: list[str]) -> np.ndarray:
    """The question's words each sentence holds, weighted by their rarity in the passage, in [0, 1].

    Chinese words are matched as character bigrams. An English question's words are matched
    through their dictionary translations (qa.translate): each word counts once, by its best
    translation found.
    """
    topic = topic_bigrams(question)
    words = [({g}, TOPIC_WEIGHT if g in topic else 1.0)
             for g in char_bigrams(question) | enumeration_markers(question, "")[0]]
    words += [(set().union(*(char_bigrams(t) for t in translations)), 1.0)
              for _, translations in _english_terms(question) if translations]
    # Single characters too, at a lower weight: "身体是什么颜色" shares no bigram with "体呈淡蓝红色".
    words += [({c}, UNIGRAM_WEIGHT * (TOPIC_WEIGHT if c in "".join(topic) else 1.0))
              for c in content_chars(question)]
    if not words or not sentences:
        return np.zeros(len(sentences))
    grams = [char_bigrams(s) | set(content_chars(s)) | enumeration_markers("", s)[1] for s in sentences]
    # A word found in every sentence (the passage's subject, 雍景苑) does not tell them apart; one
    # found in a single sentence (条例, 制定) does: weigh each by its rarity in the passage.
    n = len(sentences)
    total = sum(w for _, w in words) * np.log(1 + n)
    scores = np.zeros(n)
    for word, w in words:
        present = np.array([bool(word & g) for g in grams])
        if present.any():
            scores += w * present * np.log(1 + n / present.sum())
    return scores / total


#: Weight of a word of the question's topic (what it is about: "黄鳍紫鱼" in "黄鳍紫鱼的身体是什么
#: 颜色的？") next to one of its focus (身体, 颜色): the sentence that names the topic is seldom
#: the one that answers.
TOPIC_WEIGHT = 0.5
#: Weight of a single shared character next to a shared bigram.
UNIGRAM_WEIGHT = 0.3
#: Where a Chinese question's topic ends: the first particle or verb after it ("X的…", "X是…").
_TOPIC_END = re.compile(r"[的是在有被把将和与跟对从为以，,、：:？?]|什么|怎么|如何|哪|谁|几|多少|为什么")


def topic_bigrams(question: str) -> set[str]:
    """Bigrams of the question's opening noun phrase, its topic (none if it is under 2 or over 12
    characters: then there is no clear topic)."""
    end = _TOPIC_END.search(question)
    head = question[:end.start()] if end else ""
    return char_bigrams(head) if 2 <= len(head) <= 12 else set()


def content_chars(text: str) -> list[str]:
    """The CJK characters of `text` that are not function or question characters."""
    return list(dict.fromkeys(c for c in text if is_cjk(c) and c not in _FUNCTION_CHARS))


def _english_terms(question: str):
    """English words of the question with their Chinese translations (none for a Chinese one)."""
    if not re.search(r"[A-Za-z]{3}", question):
        return []
    from ..translate import english_terms

    return english_terms(question)


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

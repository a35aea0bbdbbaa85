"""Chinese tokenization for BM25 and repair, with a term dictionary taken from the corpus itself.

Quoted expressions (“三驾马车”, ‘一三角’), titles in 《》 and headings name the things a document
is about; adding them to jieba's dictionary keeps them whole instead of cut into common words.
"""

from __future__ import annotations

import logging
import re
import threading
import unicodedata

import jieba

jieba.setLogLevel(logging.WARNING)
logging.getLogger("bm25s").setLevel(logging.WARNING)

_QUOTED = re.compile(r"[“‘\"《「『]([^“”‘’\"《》「」『』\n]{2,12})[”’\"》」』]")
_LIST_SPLIT = re.compile(r"[、,，/·\s]+")
_WORD = re.compile(r"\w", re.UNICODE)
TERM_FREQ = 50000

#: Function words and question words that carry no topic (kept short on purpose: IDF does the rest).
STOPWORDS = frozenset("""
的 了 是 在 和 与 及 或 有 也 都 就 而 又 对 把 被 为 以 于 之 其 这 那 此 个 们 着 过 吗 呢 吧 啊 呀
什么 怎么 怎样 怎么样 如何 哪 哪些 哪个 哪里 哪儿 谁 几 多少 为何 为什么 是否 请问 一下 吗 么
a an the of to in on at for and or is are was were be been do does did how what which who whom
why when where i you my your it its this that with by from as about
""".split())

_lock = threading.Lock()
_default = None


def normalize(text: str) -> str:
    """NFKC (full-width letters and digits to ASCII) and lower case, for matching only."""
    return unicodedata.normalize("NFKC", text).lower()


def extract_terms(texts) -> set[str]:
    """Terms worth keeping whole: quoted expressions and their 、-separated items.

    Args:
        texts: iterable of strings (paragraphs, headings).
    Returns:
        set of terms, 2-12 characters, normalised.
    """
    terms: set[str] = set()
    for text in texts:
        for quoted in _QUOTED.findall(normalize(text)):
            quoted = quoted.strip()
            if 2 <= len(quoted) <= 12:
                terms.add(quoted)
            for item in _LIST_SPLIT.split(quoted):
                if 2 <= len(item) <= 8:
                    terms.add(item)
    return {t for t in terms if _WORD.search(t)}


class Tokenizer:
    """A private jieba dictionary plus the corpus terms (jieba's global one is left untouched)."""

    def __init__(self, terms=()):
        self._jieba = jieba.Tokenizer()
        self._jieba.initialize()
        self.terms = frozenset(terms)
        for term in sorted(self.terms):
            self._jieba.add_word(term, freq=TERM_FREQ)
        self._cache: dict[str, list[str]] = {}

    def cut_plain(self, text: str) -> list[str]:
        """Dictionary-only segmentation (no HMM guessing of new words)."""
        return self._jieba.lcut(text, HMM=False)

    def tokens(self, text: str) -> list[str]:
        """Search tokens of a text: words and their dictionary sub-words, minus stop words and punctuation."""
        norm = normalize(text)
        out = []
        for word in self._jieba.cut_for_search(norm, HMM=True):
            word = word.strip()
            if word and _WORD.search(word) and word not in STOPWORDS:
                out.append(word)
        return out

    def known(self, word: str) -> bool:
        return word in self.terms or self._jieba.FREQ.get(word, 0) > 0

    def word_freq(self, word: str) -> int:
        return self._jieba.FREQ.get(word, 0)

    @property
    def total_freq(self) -> int:
        return self._jieba.total


def default_tokenizer() -> Tokenizer:
    """A shared tokenizer with jieba's plain dictionary (built once; used before terms are known)."""
    global _default
    with _lock:
        if _default is None:
            _default = Tokenizer()
        return _default

"""Chinese tokenization for BM25 and repair, with a term dictionary taken from the corpus itself.

Quoted expressions (“三驾马车”, ‘一三角’), titles in 《》 and headings name the things a document
is about; adding them to jieba's dictionary keeps them whole instead of cut into common words.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
import unicodedata
from collections import Counter

import jieba

from .script import CJK, is_cjk
from .segment import Segmenter

jieba.setLogLevel(logging.WARNING)

_QUOTED = re.compile(r"[“‘\"《「『]([^“”‘’\"《》「」『』\n]{2,12})[”’\"》」』]")
_LIST_SPLIT = re.compile(r"[、,，/·\s]+")
_WORD = re.compile(r"\w", re.UNICODE)
TERM_FREQ = 50000

#: Function words and the words questions are framed with ("是什么意思", "包括哪些", "叫什么名字"):
#: they say what kind of answer is wanted, not what it is about. Kept short: IDF does the rest.
STOPWORDS = frozenset("""
的 了 是 在 和 与 及 或 有 也 都 就 而 又 对 把 被 为 以 于 之 其 这 那 此 个 们 着 过 吗 呢 吧 啊 呀
什么 怎么 怎样 怎么样 如何 哪 哪些 哪个 哪里 哪儿 哪位 哪天 哪年 谁 几 几个 第几 多少 为何 为什么 是否
请问 一下 么 意思 指的是 名字 叫做 包括 包含 具体 主要 内容 情况 介绍 告诉 说说 讲讲 由谁 谁来
多久 多长时间 什么时候 何时 哪一年 样子 怎么办 有没有 能否 可以
a an the of to in on at for and or is are was were be been do does did how what which who whom
why when where i you my your it its this that with by from as about please tell me
""".split())

#: A string that recurs this often in a corpus and that jieba would cut apart is taken as a term.
MIN_TERM_COUNT = 3
#: The lengths of the strings that term discovery considers (recurring_terms).
TERM_LENGTHS = (3, 4, 5, 6)
_FUNCTION_CHARS = set("的了和与及或是在对把被为以于之其这那此个们着过也都就而又并从向将")
#: Characters of a question's frame (的, 吗, 怎么, 什么, 哪, 谁 …): a character pair that includes
#: one ("#么解", "#决的") says how the question is asked, not what it is about.
_QUESTION_CHARS = set("的了吗呢吧么什怎哪谁几")
#: Words by which a question points at the document itself ("文章开头说…"), not at what it says.
_META_WORDS = frozenset("文章 本文 文中 开头 结尾 开篇 文末".split())
_CJK_RUN = re.compile(f"[{CJK}]{{2,}}")

_NGRAM_CHARS = re.compile(f"[{CJK}]{{3,}}")

_lock = threading.RLock()
_default = None


@functools.lru_cache(maxsize=1)
def _fold_table() -> dict[int, str]:
    """Traditional -> Simplified, one character for one (OpenCC's TSCharacters, with Taiwan's
    variant forms first mapped to the standard ones: 啟 -> 啓 -> 启).

    Character by character, not phrase by phrase: both the documents and the questions are folded
    the same way, so all that matters is that the two scripts meet in one form, and a table
    lookup (str.translate) costs nothing next to segmentation.
    """
    from pathlib import Path

    import opencc

    folder = Path(opencc.__file__).parent / "dictionary"

    def pairs(name: str) -> dict[str, str]:
        out = {}
        for line in (folder / name).read_text(encoding="utf-8").splitlines():
            parts = line.split("\t")
            if len(parts) == 2 and len(parts[0]) == 1:
                target = parts[1].split(" ")[0]
                if len(target) == 1:
                    out[parts[0]] = target
        return out

    to_simplified = pairs("TSCharacters.txt")
    simplified = set(to_simplified.values())
    table = {ord(t): to_simplified.get(t, t) for t in to_simplified}
    for variant, standard in pairs("TWVariantsRev.txt").items():
        if variant not in simplified:  # 么, 才, 床 are also Simplified characters: kept
            table[ord(variant)] = to_simplified.get(standard, standard)
    return {k: v for k, v in table.items() if chr(k) != v}


def fold(text: str) -> str:
    """Traditional characters as Simplified (國際 -> 国际); everything else unchanged."""
    return text.translate(_fold_table())


def normalize(text: str) -> str:
    """NFKC (full-width letters and digits to ASCII), lower case and Simplified script, for
    matching only: documents and questions in either script find each other, while passages are
    still shown as the document writes them."""
    return fold(unicodedata.normalize("NFKC", text).lower())


def extract_terms(texts) -> set[str]:
    """Terms worth keeping whole: quoted expressions and their 、-separated items.

    Args:
        texts: iterable of strings (paragraphs, headings).
    Returns:
        set of terms, 2-12 characters, normalised.
    """
    return _quoted_terms(map(normalize, texts))


def _quoted_terms(norms) -> set[str]:
    """extract_terms of texts normalised already."""
    terms: set[str] = set()
    for norm in norms:
        for quoted in _QUOTED.findall(norm):
            quoted = quoted.strip()
            if 2 <= len(quoted) <= 12:
                terms.add(quoted)
            for item in _LIST_SPLIT.split(quoted):
                if 2 <= len(item) <= 8:
                    terms.add(item)
    return {t for t in terms if _WORD.search(t)}


def char_bigrams(text: str) -> list[str]:
    """Overlapping character pairs of each Chinese run, marked with "#" so they never collide
    with a word: they let BM25 reward a question that repeats the text's own wording even where
    the segmenter cut the two differently."""
    out = []
    for run in _CJK_RUN.findall(text):
        out.extend("#" + run[i:i + 2] for i in range(len(run) - 1))
    return out


PINYIN_MARK = "~"
_LATIN_WORD = re.compile(r"[a-z]+")


def pinyin_tokens(words) -> list[str]:
    """Toneless pinyin of Chinese words, marked "~" (新江湾 -> ~xinjiangwan, 林路 -> ~linlu).

    Names are what an English question about a Chinese text spells in pinyin (Xinjiangwan,
    Yongjingyuan, Gu Jun); matching them lets BM25 help where the dense side is weakest.
    """
    return [_pinyin(w) for w in words]


@functools.lru_cache(maxsize=200_000)
def _pinyin(word: str) -> str:
    """Marked pinyin of one word (cached: a corpus repeats its words). qa.pinyin reads pypinyin's
    tables directly, as lazy_pinyin would spell the word but at a seventh of its cost."""
    from .pinyin import toneless_pinyin

    return PINYIN_MARK + toneless_pinyin(word)


def clear_caches() -> None:
    """Forget the pinyin of the words seen so far, here and in qa.pinyin (a benchmark times a
    build as a first one; the tokens do not depend on it)."""
    from . import pinyin

    _pinyin.cache_clear()
    pinyin.clear_caches()


def romanized_runs(text: str, longest: int = 3) -> list[str]:
    """Pinyin-token candidates of a Latin-script question: each run of 1-3 consecutive words
    joined ("gu jun" -> ~gujun), since pinyin names are written as one word or as syllables."""
    words = [w for w in _LATIN_WORD.findall(text) if w not in STOPWORDS]
    return [PINYIN_MARK + "".join(words[i:i + n]) for n in range(1, longest + 1)
            for i in range(len(words) - n + 1)]


def recurring_terms(texts, tokenizer: Tokenizer, min_count: int = MIN_TERM_COUNT,
                    lengths=TERM_LENGTHS) -> set[str]:
    """Names the corpus keeps repeating (新江湾城, 雍景苑, 江湾国际) that jieba does not know.

    Classic new-word discovery: a Chinese string of 3-6 characters occurring at least
    `min_count` times, which jieba cuts into several words, and which is free on both sides
    (at least two different characters, or text edges, before and after it: "新江湾" is always
    followed by "城", so it is part of a longer word). Strings that begin or end with a function
    character (的, 了, 和 …) are phrases, not names.

    Args:
        lengths: the string lengths considered, distinct.
    """
    return _recurring([normalize(t) for t in texts], tokenizer, min_count, lengths)


def _frequent_places(runs: Counter, min_count: int, lengths) -> tuple[dict[str, int], dict]:
    """The strings of each length occurring at least min_count times in the runs (each run
    counting as often as it occurs), with their counts, and where each run holds them.

    A string occurs at least as often as each of its parts, so a string one character longer
    than a frequent one is counted only where it is made of two frequent ones (its first and
    last n-1 characters): the counts of frequent strings are exact, at a fraction of the cost of
    counting every string of every length.

    Returns:
        ({string: count}, {n: {run: [start of each frequent string of length n]}}).
    """
    counts: dict[str, int] = {}
    places: dict[int, dict[str, list[int]]] = {}
    for n in lengths:
        shorter = places.get(n - 1)
        if shorter is None:  # every string of this length
            grams = Counter(run[i:i + n] for run in runs for i in range(len(run) - n + 1))
            for run, times in runs.items():
                if times > 1:
                    for i in range(len(run) - n + 1):
                        grams[run[i:i + n]] += times - 1
            starts = {run: range(len(run) - n + 1) for run in runs}
        else:
            grams, starts = Counter(), {}
            for run, at in shorter.items():
                both = set(at)
                starts[run] = [i for i in at if i + 1 in both]
                times = runs[run]
                for i in starts[run]:
                    grams[run[i:i + n]] += times
        frequent = {g: c for g, c in grams.items() if c >= min_count}
        counts.update(frequent)
        places[n] = {}
        for run, at in starts.items():
            held = [i for i in at if run[i:i + n] in frequent]
            if held:
                places[n][run] = held
    return counts, places


def _recurring(norms, tokenizer: Tokenizer, min_count: int, lengths) -> set[str]:
    """recurring_terms of texts normalised already."""
    # Every step depends only on the run, so each distinct run is worked once and counts as
    # often as it occurs (documents repeat phrases: a third of the build's time went here).
    runs = Counter(run for norm in norms for run in _NGRAM_CHARS.findall(norm))
    counts, places = _frequent_places(runs, min_count, lengths)
    # Free on both sides is checked first, as it needs no dictionary and no cut: most frequent
    # strings fail it (in a text that repeats its sentences, nearly all of them).
    first_left: dict[str, str] = {}
    first_right: dict[str, str] = {}
    left_free: set[str] = set()
    right_free: set[str] = set()
    for n in lengths:
        for run, at in places[n].items():
            end = len(run)
            for i in at:
                gram = run[i:i + n]
                before = run[i - 1] if i else "^"
                after = run[i + n] if i + n < end else "$"
                if first_left.setdefault(gram, before) != before:
                    left_free.add(gram)
                if first_right.setdefault(gram, after) != after:
                    right_free.add(gram)
    frequent = {g for g in left_free & right_free if g[0] not in _FUNCTION_CHARS
                and g[-1] not in _FUNCTION_CHARS and not tokenizer.known(g)}
    if not frequent:
        return set()
    # aligned: jieba's own cut starts and ends words at the string's edges in most places, so
    # adding it joins words rather than re-cutting them ("社区|治理" must not become "社|区治理").
    aligned = dict.fromkeys(frequent, 0)
    for run, times in runs.items():
        found = [(i, n) for n in lengths for i in places[n].get(run, ()) if run[i:i + n] in frequent]
        if not found:
            continue
        bounds, at = {0}, 0
        for word in tokenizer.cut_plain(run):
            at += len(word)
            bounds.add(at)
        for i, n in found:
            if i in bounds and i + n in bounds:
                aligned[run[i:i + n]] += times
    return {g for g in frequent if 2 * aligned[g] >= counts[g] and len(tokenizer.cut_plain(g)) > 1}


#: Marks a run of single characters joined (single_runs): a guess at a word, not a search token.
RUN_MARK = "^"


@functools.lru_cache(maxsize=4096)
def _is_frame_compound(word: str) -> bool:
    """Whether a word is made of question-frame words only (具体内容 = 具体 + 内容, 具体情况): then
    neither it nor its dictionary sub-words (体内) say what a question is about. Four characters at
    least: the shorter ones jieba knows (有意思, 有的是, 为的是) carry meaning."""
    if len(word) < 4 or word in STOPWORDS or not _CJK_RUN.fullmatch(word):
        return False
    ends = {0}
    for end in range(1, len(word) + 1):
        if any(start in ends and word[start:end] in STOPWORDS for start in range(max(0, end - 4), end)):
            ends.add(end)
    return len(word) in ends


def single_runs(tokens: list[str]) -> list[str]:
    """Runs of two or more consecutive single Chinese characters among a question's words,
    joined and marked: a name jieba does not know falls apart into characters (林路 -> 林, 路),
    and the run stands for it where the question's words are weighed (SparseIndex.coverage)."""
    out, run = [], ""
    for t in tokens:
        if t[0] == "#":
            continue
        if len(t) == 1 and is_cjk(t) and t not in _QUESTION_CHARS:
            run += t
            continue
        if len(run) > 1:
            out.append(RUN_MARK + run)
        run = ""
    if len(run) > 1:
        out.append(RUN_MARK + run)
    return out


class Tokenizer:
    """A private jieba dictionary plus the corpus terms (jieba's global one is left untouched)."""

    def __init__(self, terms=(), bigrams: bool = True):
        self.bigrams = bigrams
        self._jieba = with_base_dictionary(Segmenter())
        self.terms = frozenset(terms)
        for term in sorted(self.terms):
            self._jieba.add_word(term, freq=TERM_FREQ)
        self._translations: dict[str, list[str]] = {}

    def cut_plain(self, text: str) -> list[str]:
        """Dictionary-only segmentation (no HMM guessing of new words)."""
        return self._jieba.cut_list(text, HMM=False)

    def _search_words(self, norm: str) -> list[str]:
        out = []
        for word in self._jieba.search_list(norm, HMM=True):
            word = word.strip()
            if word and _WORD.search(word) and word not in STOPWORDS:
                out.append(word)
        return out

    def words(self, norm: str) -> list[str]:
        """jieba search words of normalised text (words and their dictionary sub-words), minus
        stop words and punctuation, plus character bigrams."""
        out = self._search_words(norm)
        if self.bigrams:
            out.extend(char_bigrams(norm))
        return out

    def tokens(self, text: str) -> list[str]:
        """Search tokens of a passage: words, bigrams and the pinyin of its Chinese words (in
        this order; the pinyin is of the words only, as no bigram is a Chinese word). The same
        tokens as words() plus the pinyin, but the words are picked for pinyin before the
        bigrams join them: filtering words + bigrams took 0.16 s instead of 0.065 s on the
        first 120 articles of CMRC and of DRCD."""
        norm = normalize(text)
        out = self._search_words(norm)
        pinyin = pinyin_tokens([w for w in out if len(w) > 1 and _CJK_RUN.fullmatch(w)])
        if self.bigrams:
            out.extend(char_bigrams(norm))
        out.extend(pinyin)
        return out

    def query_tokens(self, text: str) -> list[str]:
        """Search tokens of a question; single characters are dropped when longer words exist,
        since a lone character (指, 做, 装) matches too much to say what the question is about, and
        so are character pairs that include a question-frame character (怎么|解, 解决|的), words
        that point at the document itself (文章, 开头: "文章开头说…"; their character pairs
        stay, as every word's do), and words made of frame words only (具体内容 = 具体 + 内容)
        with the sub-words jieba finds in them (体内).
        A question without Chinese also gets pinyin tokens of its word runs ("Lin Lu" -> ~linlu)."""
        norm = normalize(text)
        words = self.words(norm)
        # a word made of frame words only (具体内容) goes, with its sub-words (体内) unless they
        # also stand elsewhere in the question
        frame = [t for t in words if t[0] != "#" and _is_frame_compound(t)]
        rest = re.sub("|".join(map(re.escape, frame)), "|", norm) if frame else norm
        tokens = [t for t in words
                  if not (t[0] == "#" and (t[1] in _QUESTION_CHARS or t[2] in _QUESTION_CHARS))
                  and t not in _META_WORDS and (t[0] == "#" or t in rest)]
        longer = [t for t in tokens if len(t) > 1] + single_runs(tokens)
        tokens = longer or tokens
        if not _CJK_RUN.search(text):
            tokens.extend(romanized_runs(norm))
        return tokens

    def translation_tokens(self, chinese) -> list[str]:
        """Search words (2+ characters) of Chinese translations: 物业管理 -> 物业, 管理, 物业管理.
        Cached per word: translations come from a fixed dictionary, and questions repeat words."""
        out = []
        for word in chinese:
            words = self._translations.get(word)
            if words is None:
                words = [t for t in self._jieba.cut_for_search(word, HMM=False) if len(t) > 1]
                if len(self._translations) < 100_000:
                    self._translations[word] = words
            out.extend(words)
        return out

    def known(self, word: str) -> bool:
        return word in self.terms or self._jieba.FREQ.get(word, 0) > 0

    def starts_word(self, text: str) -> bool:
        """Whether some dictionary word starts with `text` (jieba keeps every prefix of a word)."""
        return text in self._jieba.FREQ

    def word_freq(self, word: str) -> int:
        """How common the word is in general Chinese: jieba's own dictionary count (the corpus
        terms added to this tokenizer's dictionary only to keep them whole do not count)."""
        return _base_dictionary().FREQ.get(word, 0)

    @property
    def total_freq(self) -> int:
        return self._jieba.total


_base = None


def _base_dictionary() -> jieba.Tokenizer:
    """jieba's plain dictionary, loaded once per process."""
    global _base
    with _lock:
        if _base is None:
            _base = jieba.Tokenizer()
            _base.initialize()
        return _base


def with_base_dictionary(tokenizer: jieba.Tokenizer) -> jieba.Tokenizer:
    """The tokenizer (jieba's own or a Segmenter), given a private copy of jieba's plain dictionary
    and marked loaded: a copy costs ~50 ms, loading the dictionary again ~1 s."""
    base = _base_dictionary()
    tokenizer.FREQ, tokenizer.total, tokenizer.initialized = dict(base.FREQ), base.total, True
    return tokenizer


def default_tokenizer() -> Tokenizer:
    """A shared tokenizer with jieba's plain dictionary (built once; used before terms are known)."""
    global _default
    with _lock:
        if _default is None:
            _default = Tokenizer()
        return _default


def corpus_terms(docs) -> list[str]:
    """The term dictionary of a set of Documents: quoted expressions, headings' items and
    recurring names, sorted (stored in the index manifest)."""
    texts = [p.text for d in docs for p in d.paragraphs] + [s for d in docs for s in d.sections]
    norms = [normalize(t) for t in texts]  # once for both
    return sorted(_quoted_terms(norms)
                  | _recurring(norms, default_tokenizer(), MIN_TERM_COUNT, TERM_LENGTHS))

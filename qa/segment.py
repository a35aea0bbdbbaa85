"""jieba's segmentation (precise mode, with or without HMM, and cut_for_search) as plain loops.

Segmenting the corpus is the largest part of a build's own time. jieba builds a dict of word
ends per character (get_DAG), looks each of those words up again to score it (calc, a tuple per
candidate fed to max), and hands every word up through three nested generators. `Segmenter`
scores each candidate word as it finds it, in one backward pass, and collects words in lists;
the arithmetic, the order of its operations and the tie rule are jieba's, and the HMM
(jieba.finalseg), the dictionary and every other mode are jieba's own, so the cuts are identical
(tests compare them with jieba's on real text).
"""

from __future__ import annotations

import string
from math import log

import jieba
from jieba import finalseg, re_han_default, re_skip_default, strdecode

#: jieba's re_eng ([a-zA-Z0-9]) for one character: single Latin letters and digits are joined
_LATIN = frozenset(string.ascii_letters + string.digits)


class Segmenter(jieba.Tokenizer):
    """A jieba.Tokenizer with the precise mode and cut_for_search written as plain loops."""

    def best_ends(self, sentence: str) -> list[int]:
        """For each character, where the first word of the most probable segmentation of the rest
        ends (jieba's route[i][1]).

        As jieba's calc over get_DAG: a word's score is log(count) - log(total) plus the best
        score after it; a character outside the dictionary counts as a word of count 1; of equal
        scores the later end wins (jieba takes max over (score, end) tuples). FREQ holds every
        prefix of a word with count 0, so the scan from each character stops at a non-prefix.
        """
        self.check_initialized()
        get = self.FREQ.get
        logtotal = log(self.total)
        n = len(sentence)
        score: list[float] = [0] * (n + 1)
        ends = [0] * n
        for k in range(n - 1, -1, -1):
            best_score = best_end = None
            i = k
            freq = get(sentence[k])
            while freq is not None:
                if freq:
                    s = log(freq) - logtotal + score[i + 1]
                    if best_end is None or s >= best_score:
                        best_score, best_end = s, i
                i += 1
                if i >= n:
                    break
                freq = get(sentence[k:i + 1])
            if best_end is None:
                best_score, best_end = 0.0 - logtotal + score[k + 1], k
            score[k], ends[k] = best_score, best_end
        return ends

    def _block(self, block: str, hmm: bool, out: list[str]) -> None:
        """jieba's __cut_DAG (hmm) or __cut_DAG_NO_HMM of one run of word characters."""
        ends = self.best_ends(block)
        n, x, buf = len(block), 0, ""
        if hmm:
            freq = self.FREQ
            while x < n:
                y = ends[x] + 1
                if y - x == 1:
                    buf += block[x]
                else:
                    if buf:
                        self._unknown(buf, freq, out)
                        buf = ""
                    out.append(block[x:y])
                x = y
            if buf:
                self._unknown(buf, freq, out)
            return
        while x < n:
            y = ends[x] + 1
            word = block[x:y]
            if y - x == 1 and word in _LATIN:
                buf += word
            else:
                if buf:
                    out.append(buf)
                    buf = ""
                out.append(word)
            x = y
        if buf:
            out.append(buf)

    @staticmethod
    def _unknown(buf: str, freq: dict, out: list[str]) -> None:
        """A run of single characters: the HMM guesses its words unless it is one character or a
        dictionary word (jieba then keeps its characters)."""
        if len(buf) == 1:
            out.append(buf)
        elif not freq.get(buf):
            out.extend(finalseg.cut(buf))
        else:
            out.extend(buf)

    def cut_list(self, sentence: str, HMM: bool = True) -> list[str]:  # noqa: N803 (jieba's name)
        """list(jieba's cut(sentence, cut_all=False, HMM=HMM))."""
        out: list[str] = []
        for block in re_han_default.split(strdecode(sentence)):
            if not block:
                continue
            if re_han_default.match(block):
                self._block(block, HMM, out)
            else:
                for x in re_skip_default.split(block):
                    if re_skip_default.match(x):
                        out.append(x)
                    else:
                        out.extend(x)
        return out

    def cut(self, sentence, cut_all=False, HMM=True, use_paddle=False):  # noqa: N803
        if cut_all or use_paddle:
            return super().cut(sentence, cut_all=cut_all, HMM=HMM, use_paddle=use_paddle)
        return iter(self.cut_list(sentence, HMM))

    def search_list(self, sentence: str, HMM: bool = True) -> list[str]:  # noqa: N803
        """list(jieba's cut_for_search): each word, preceded by its 2- and 3-character dictionary
        words when it is longer."""
        get = self.FREQ.get
        out: list[str] = []
        for w in self.cut_list(sentence, HMM):
            n = len(w)
            if n > 2:
                for i in range(n - 1):
                    if get(w[i:i + 2]):
                        out.append(w[i:i + 2])
                if n > 3:
                    for i in range(n - 2):
                        if get(w[i:i + 3]):
                            out.append(w[i:i + 3])
            out.append(w)
        return out

    def cut_for_search(self, sentence, HMM=True):  # noqa: N803
        return iter(self.search_list(sentence, HMM))

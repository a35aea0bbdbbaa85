"""jieba's segmentation (precise mode, with or without HMM, and cut_for_search) as plain loops.

Segmenting the corpus is the largest part of a build's own time. jieba builds a dict of word
ends per character (get_DAG), looks each of those words up again to score it (calc, a tuple per
candidate fed to max), and hands every word up through three nested generators. `Segmenter`
scores each candidate word as it finds it, in one backward pass, and collects words in lists;
the arithmetic, the order of its operations and the tie rule are jieba's, and the dictionary
and every other mode are jieba's own, so the cuts are identical (tests compare them with jieba's
on real text). The HMM that guesses words in runs of single characters (jieba.finalseg's Viterbi
and cut) is written the same way (`hmm_cut`), over finalseg's own probability tables and
force-split words.
"""

from __future__ import annotations

import string
from math import log

import jieba
from jieba import finalseg, re_han_default, re_skip_default, strdecode

#: jieba's re_eng ([a-zA-Z0-9]) for one character: single Latin letters and digits are joined
_LATIN = frozenset(string.ascii_letters + string.digits)

# jieba.finalseg's model: start, transition and emission log-probabilities of the states B(egin),
# M(iddle), E(nd) of a word and S(ingle character); MIN_FLOAT stands for an impossible one.
_MIN = finalseg.MIN_FLOAT
_START = [finalseg.start_P[y] for y in "BMES"]
_EMIT = [finalseg.emit_P[y] for y in "BMES"]
# the transitions Viterbi considers (finalseg.PrevStatus): B after E or S, M after M or B,
# E after B or M, S after S or E
_T_EB, _T_SB = finalseg.trans_P["E"].get("B", _MIN), finalseg.trans_P["S"].get("B", _MIN)
_T_MM, _T_BM = finalseg.trans_P["M"].get("M", _MIN), finalseg.trans_P["B"].get("M", _MIN)
_T_BE, _T_ME = finalseg.trans_P["B"].get("E", _MIN), finalseg.trans_P["M"].get("E", _MIN)
_T_SS, _T_ES = finalseg.trans_P["S"].get("S", _MIN), finalseg.trans_P["E"].get("S", _MIN)


#: each character's emission log-probabilities in the states B, M, E, S (MIN_FLOAT where a
#: state's table lacks it), one look-up instead of four
_EMITS = {c: tuple(e.get(c, _MIN) for e in _EMIT) for c in set().union(*_EMIT)}
_NO_EMIT = (_MIN, _MIN, _MIN, _MIN)


def _hmm_states(run: str) -> str:
    """finalseg.viterbi(run, "BMES", ...)'s path, one state letter per character.

    The same sums in the same order as finalseg's (previous score + transition + emission), and
    its tie rule: it takes max over (score, state) tuples, so of equal scores the later letter
    wins (S over E, M over B), which matters since an unknown character scores MIN_FLOAT and
    sums of MIN_FLOAT tie often. Each state's best path so far is kept as a string.
    """
    get = _EMITS.get
    eb, em, ee, es = get(run[0], _NO_EMIT)
    b, m, e, s = _START[0] + eb, _START[1] + em, _START[2] + ee, _START[3] + es
    path_b, path_m, path_e, path_s = "B", "M", "E", "S"
    for i in range(1, len(run)):
        eb, em, ee, es = get(run[i], _NO_EMIT)
        x, y = e + _T_EB + eb, s + _T_SB + eb
        if y >= x:
            nb, new_b = y, path_s + "B"
        else:
            nb, new_b = x, path_e + "B"
        x, y = m + _T_MM + em, b + _T_BM + em
        if x >= y:
            nm, new_m = x, path_m + "M"
        else:
            nm, new_m = y, path_b + "M"
        x, y = b + _T_BE + ee, m + _T_ME + ee
        if y >= x:
            ne, new_e = y, path_m + "E"
        else:
            ne, new_e = x, path_b + "E"
        x, y = s + _T_SS + es, e + _T_ES + es
        if x >= y:
            ns, new_s = x, path_s + "S"
        else:
            ns, new_s = y, path_e + "S"
        b, m, e, s = nb, nm, ne, ns
        path_b, path_m, path_e, path_s = new_b, new_m, new_e, new_s
    return path_s if s >= e else path_e


_RE_HAN_HMM, _RE_SKIP_HMM = finalseg.re_han, finalseg.re_skip


def hmm_cut(sentence: str, out: list[str]) -> None:
    """Append list(jieba.finalseg.cut(sentence)) to out: the HMM's words of each run of Chinese
    characters (a force-split word as its characters), other runs split as finalseg does."""
    force_split = finalseg.Force_Split_Words  # jieba adds to this set (add_word with freq 0)
    for blk in _RE_HAN_HMM.split(sentence):
        if not blk:
            continue
        if not _RE_HAN_HMM.match(blk):
            out.extend(x for x in _RE_SKIP_HMM.split(blk) if x)
            continue
        begin = nexti = 0
        words = []
        for i, pos in enumerate(_hmm_states(blk)):
            if pos == "B":
                begin = i
            elif pos == "E":
                words.append(blk[begin:i + 1])
                nexti = i + 1
            elif pos == "S":
                words.append(blk[i])
                nexti = i + 1
        if nexti < len(blk):
            words.append(blk[nexti:])
        if force_split:
            for w in words:
                if w in force_split:
                    out.extend(w)
                else:
                    out.append(w)
        else:
            out.extend(words)


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
            hmm_cut(buf, out)
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

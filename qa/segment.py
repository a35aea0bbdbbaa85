"""jieba's segmentation (precise mode, with or without HMM, and cut_for_search), fast.

Segmenting the corpus is the largest part of a build's own time. jieba builds a dict of word
ends per character (get_DAG), looks each of those words up again to score it (calc, a tuple per
candidate fed to max), and hands every word up through three nested generators. `Segmenter`
scores each candidate word as it finds it, in one backward pass, and collects words in lists;
the arithmetic, the order of its operations and the tie rule are jieba's, and the dictionary
and every other mode are jieba's own, so the cuts are identical (tests compare them with jieba's
on real text). The HMM that guesses words in runs of single characters (jieba.finalseg's Viterbi
and cut) is written the same way (`hmm_cut`), over finalseg's own probability tables and
force-split words.

Most runs are cut by jieba-rs (the `rjieba` wheel), about six times faster again: a run of Chinese
characters, Latin letters and digits only, with jieba's own dictionary plus the words added to this
Segmenter. jieba-rs keeps runs such as "zh-hant" or "s.k" whole where jieba cuts them, so a run
holding any of jieba's other word characters (+#&._%-) goes through the loops here; so does
everything when the dictionary's total is not that of jieba's default one plus this Segmenter's
add_word calls (another dictionary), or when jieba has force-split words (add_word with freq 0),
which jieba-rs does not know. Tests compare the cuts with jieba's on real text; CMRC, DRCD and the
article cut the same, word for word. Where several cuts score exactly alike (one character
repeated: 某某某某某某某某), jieba-rs's rounding may pick another of them than jieba does.
"""

from __future__ import annotations

import re
import string
import threading
from math import log

import jieba
import rjieba
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


#: a run of word characters that jieba-rs cuts as jieba does (see the module's note)
_RUST_RUN = re.compile("[\u4E00-\u9FD5a-zA-Z0-9]+")
#: a sentence without these is cut by jieba-rs whole: jieba's other word characters, and the
#: characters jieba-rs takes as Chinese but jieba does not (CJK extensions, compatibility ideographs)
_NOT_RUST = re.compile("[+#&._%\\-\u3400-\u4DBF\u9FD6-\u9FFF\uF900-\uFAFF\U00020000-\U0003FFFF]")
#: jieba's default dictionary's total count (dict.txt of jieba 0.42.1, which jieba-rs ships too)
_DEFAULT_TOTAL = 60101967
#: a word no run can hold (a private-use character): it carries the counts that keep jieba-rs's
#: total equal to jieba's when a word already in the dictionary is added again (see _rust)
_BALLAST = "\ue000"

#: characters a Segmenter with added words cuts by its loops before it loads jieba-rs (see __init__)
RUST_AFTER = 25_000

_shared: rjieba.Jieba | None = None
_shared_lock = threading.Lock()


def _default_rust() -> rjieba.Jieba:
    """jieba-rs with jieba's default dictionary, loaded once per process (~0.12 s)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = rjieba.Jieba()
        return _shared


class Segmenter(jieba.Tokenizer):
    """A jieba.Tokenizer whose precise mode and cut_for_search go through jieba-rs or plain loops."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._added: list[tuple[str, int]] = []  # add_word's words and counts, in order
        self._added_total = 0  # the counts add_word put on the total
        self._ballast = 0  # the counts the added words had before (see _rust)
        self._forced = False  # whether a word was added with count 0 (jieba force-splits it)
        self._rs: rjieba.Jieba | None = None
        self._rs_lock = threading.Lock()
        self._looped = 0  # characters the loops cut while no jieba-rs dictionary was loaded
        #: jieba-rs's own dictionary (~0.12 s to load) is loaded only once the loops have cut this
        #: many characters (~0.15 s of their time): a small knowledge base or a few questions never
        #: pay for it, a large one pays at most twice what it must
        self.rust_after = RUST_AFTER

    def add_word(self, word, freq=None, tag=None):
        self.check_initialized()
        before = self.FREQ.get(word, 0)
        super().add_word(word, freq, tag)
        count = self.FREQ[word]
        self._added.append((word, count))
        self._added_total += count
        self._ballast += before
        self._forced = self._forced or count == 0
        self._rs = None

    def _rust(self) -> rjieba.Jieba | None:
        """jieba-rs with this Segmenter's dictionary, or None where its cuts could differ.

        jieba's add_word adds the new count to the total even when the word was counted already;
        jieba-rs takes the old count off, so the ballast word gets the old counts back.
        """
        if (finalseg.Force_Split_Words or self.dictionary is not jieba.DEFAULT_DICT
                or self.total != _DEFAULT_TOTAL + self._added_total):  # another dictionary
            return None
        if not self._added:
            return _default_rust()
        with self._rs_lock:
            if self._rs is None:
                if self._looped < self.rust_after or self._forced:
                    return None  # (a force-split word is in Force_Split_Words too, unless cleared)
                rs = rjieba.Jieba()
                for word, count in self._added:
                    rs.add_word(word, count, None)
                if self._ballast:
                    rs.add_word(_BALLAST, self._ballast, None)
                self._rs = rs
            return self._rs

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

    def _segment(self, sentence: str, hmm: bool, search: bool) -> list[str]:
        """Precise mode (search=False) or cut_for_search of a sentence, run by run."""
        rs = self._rust()
        sentence = strdecode(sentence)
        if rs is None:
            self._looped += len(sentence)
        elif not _NOT_RUST.search(sentence):
            return rs.cut_for_search(sentence, hmm) if search else rs.cut(sentence, hmm)
        out: list[str] = []
        for block in re_han_default.split(sentence):
            if not block:
                continue
            if re_han_default.match(block):
                if rs is not None and _RUST_RUN.fullmatch(block):
                    out.extend(rs.cut_for_search(block, hmm) if search else rs.cut(block, hmm))
                elif search:
                    self._search_block(block, hmm, out)
                else:
                    self._block(block, hmm, out)
            else:
                for x in re_skip_default.split(block):
                    if re_skip_default.match(x):
                        out.append(x)
                    else:
                        out.extend(x)
        return out

    def cut_list(self, sentence: str, HMM: bool = True) -> list[str]:  # noqa: N803 (jieba's name)
        """list(jieba's cut(sentence, cut_all=False, HMM=HMM))."""
        return self._segment(sentence, HMM, search=False)

    def cut(self, sentence, cut_all=False, HMM=True, use_paddle=False):  # noqa: N803
        if cut_all or use_paddle:
            return super().cut(sentence, cut_all=cut_all, HMM=HMM, use_paddle=use_paddle)
        return iter(self.cut_list(sentence, HMM))

    def search_list(self, sentence: str, HMM: bool = True) -> list[str]:  # noqa: N803
        """list(jieba's cut_for_search): each word, preceded by its 2- and 3-character dictionary
        words when it is longer."""
        return self._segment(sentence, HMM, search=True)

    def _search_block(self, block: str, hmm: bool, out: list[str]) -> None:
        """cut_for_search of one run of word characters, by the loops here."""
        get = self.FREQ.get
        words: list[str] = []
        self._block(block, hmm, words)
        for w in words:
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

    def cut_for_search(self, sentence, HMM=True):  # noqa: N803
        return iter(self.search_list(sentence, HMM))

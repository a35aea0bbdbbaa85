"""jieba's segmentation with its two innermost loops written tighter.

Segmenting the corpus is the largest part of a build's own time, and most of it goes to
jieba.Tokenizer.get_DAG (the dictionary words starting at each character) and .calc (the most
probable path through them), which looks each of those words up in the dictionary again.
`Segmenter` computes exactly what they compute, with the same arithmetic in the same order, and
leaves everything else (HMM, the dictionary, cut_for_search) to jieba; tests compare its cuts
with jieba's own.
"""

from __future__ import annotations

from math import log

import jieba


class _DAG(dict):
    """get_DAG's answer ({start: [end, ...]}, as jieba's), with each word's log(count) - log(total)
    beside it (`scores[start]`, one per end) for calc."""

    __slots__ = ("scores",)


class Segmenter(jieba.Tokenizer):
    """A jieba.Tokenizer whose get_DAG looks each candidate word up once and keeps its log
    probability for calc, and whose calc picks the best path without building a tuple per
    candidate (jieba's own: three look-ups per word and a generator fed to max)."""

    def get_DAG(self, sentence: str) -> dict[int, list[int]]:
        """{start: [end index of each dictionary word starting there]} (the start alone if none)."""
        self.check_initialized()
        get = self.FREQ.get
        logtotal = log(self.total)
        n = len(sentence)
        dag = _DAG()
        scores = dag.scores = {}
        for k in range(n):
            ends, logs = [], []
            i = k
            freq = get(sentence[k])
            # jieba's FREQ holds every prefix of a word (count 0): the scan stops at a non-prefix
            while freq is not None:
                if freq:
                    ends.append(i)
                    logs.append(log(freq) - logtotal)
                i += 1
                if i >= n:
                    break
                freq = get(sentence[k:i + 1])
            if ends:
                dag[k], scores[k] = ends, logs
            else:  # a character outside the dictionary: calc counts it once (log 1 = 0)
                dag[k], scores[k] = [k], [0.0 - logtotal]
        return dag

    def calc(self, sentence: str, DAG, route) -> None:  # noqa: N803 (jieba's signature)
        """route[i] = (best log probability of sentence[i:], end of its first word), as jieba's
        calc: the same sums, and of equal scores the later end (max over (score, end) tuples)."""
        scores = getattr(DAG, "scores", None)
        if scores is None:  # a DAG from elsewhere
            return super().calc(sentence, DAG, route)
        n = len(sentence)
        route[n] = (0, 0)
        for idx in range(n - 1, -1, -1):
            best_score = best_end = None
            for x, lp in zip(DAG[idx], scores[idx]):
                score = lp + route[x + 1][0]
                if best_end is None or score >= best_score:
                    best_score, best_end = score, x
            route[idx] = (best_score, best_end)

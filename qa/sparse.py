"""BM25 over jieba tokens (bm25s), plus how much of a question the corpus vocabulary covers."""

from __future__ import annotations

import math

import bm25s
import numpy as np

from .terms import PINYIN_MARK, Tokenizer


class SparseIndex:
    """BM25 scores for every chunk, given the chunks' token lists (built in memory, ~ms per 1k chunks)."""

    def __init__(self, token_lists: list[list[str]], tokenizer: Tokenizer):
        self.tokenizer = tokenizer
        self.n_docs = len(token_lists)
        self.bm25 = bm25s.BM25(k1=1.2, b=0.75)
        # an empty document list would make bm25s fail; index one empty token instead
        self.bm25.index([t or [""] for t in token_lists] or [[""]], show_progress=False)
        self.vocab: dict[str, int] = self.bm25.vocab_dict
        df: dict[str, int] = {}
        for tokens in token_lists:
            for t in set(tokens):
                df[t] = df.get(t, 0) + 1
        self.df = df

    def scores(self, tokens: list[str]) -> np.ndarray:
        """BM25 score of each chunk for the query tokens; shape (n_docs,)."""
        ids = [self.vocab[t] for t in tokens if t in self.vocab]
        if not ids or not self.n_docs:
            return np.zeros(self.n_docs, dtype=np.float32)
        return np.asarray(self.bm25.get_scores_from_ids(ids), dtype=np.float32)[: self.n_docs]

    def idf(self, token: str) -> float:
        return math.log(1 + (self.n_docs + 1) / (self.df.get(token, 0) + 0.5))

    def coverage(self, tokens: list[str]) -> float:
        """Share of the question's specific words that occur in the corpus, in [0, 1].

        Each word weighs by how specific it is (rare in general Chinese, per jieba's word
        frequencies): a question whose specific words (红烧肉, router, 北京) are absent from the corpus
        is about something else, even if it shares common words (上海, 小区) with it.
        """
        words = list(dict.fromkeys(t for t in tokens if not t.startswith(("#", PINYIN_MARK))
                                   and (len(t) >= 2 or not t.isascii())))
        if not words:
            return 0.0
        romanized = [t[1:] for t in tokens if t.startswith(PINYIN_MARK) and t in self.df]
        if romanized:
            # a Latin-script question naming the corpus' names in pinyin: the share of its words
            # that spell such a name
            latin = [w for w in words if w.isascii()]
            spelled = [w for w in latin if any(w in r for r in romanized)]
            return len(spelled) / len(latin) if latin else 0.0
        total = self.tokenizer.total_freq
        found = weight_sum = 0.0
        for w in words:
            freq = self.tokenizer.word_freq(w)
            specificity = math.log(total / (freq + 1)) if freq else math.log(total)
            weight_sum += specificity
            if w in self.df:
                found += specificity
        return found / weight_sum if weight_sum else 0.0

"""BM25 over jieba tokens, plus how much of a question the corpus vocabulary covers.

The index is a term-major sparse matrix of precomputed BM25 weights (Lucene's variant, as in
bm25s): a question's scores are the sum of its terms' columns, so a query touches only the
postings of its own terms. It is built from numpy arrays in batches, which keeps memory near
the size of the matrix itself (8 bytes per distinct term of each chunk): in the growth benchmark a
million chunks of ~380 tokens built in 170 s within a 13 GB peak for the whole process (vectors,
chunks and token lists included), where bm25s needed more than 19 GB for BM25 alone.
"""

from __future__ import annotations

import math

import numpy as np

from ..terms import PINYIN_MARK, RUN_MARK, Tokenizer, char_bigrams
from .vector_store import SparseRows

K1 = 1.2
B = 0.75
_BATCH = 20_000  # chunks per build batch
_GATHER_MAX = 100_000  # postings up to which a query sums them in one bincount (faster when few)


class SparseIndex:
    """BM25 scores for every chunk, given the chunks' token lists."""

    def __init__(self, token_lists: list[list[str]], tokenizer: Tokenizer, k1: float = K1, b: float = B):
        self.tokenizer = tokenizer
        self.n_docs = len(token_lists)
        vocab: dict[str, int] = {}
        lookup = vocab.setdefault
        indptr = [np.zeros(1, dtype=np.int64)]
        parts_terms, parts_tf = [], []
        lengths = np.zeros(self.n_docs, dtype=np.float32)
        nnz = 0
        for start in range(0, self.n_docs, _BATCH):
            batch = token_lists[start:start + _BATCH]
            sizes = np.fromiter(map(len, batch), dtype=np.int64, count=len(batch))
            lengths[start:start + len(batch)] = sizes
            ids = np.fromiter((lookup(t, len(vocab)) for tokens in batch for t in tokens),
                              dtype=np.int64, count=int(sizes.sum()))
            docs = np.repeat(np.arange(len(batch), dtype=np.int64), sizes)
            # one key per (chunk, term) occurrence; unique keys come out sorted by chunk, then term
            keys, tf = np.unique(docs << 32 | ids, return_counts=True)
            per_doc = np.bincount(keys >> 32, minlength=len(batch))
            indptr.append(nnz + np.cumsum(per_doc))
            nnz += len(keys)
            parts_terms.append((keys & 0xFFFFFFFF).astype(np.int32))
            parts_tf.append(tf.astype(np.float32))
        self.vocab = vocab
        rows = np.concatenate(indptr)
        terms = np.concatenate(parts_terms) if parts_terms else np.zeros(0, dtype=np.int32)
        tf = np.concatenate(parts_tf) if parts_tf else np.zeros(0, dtype=np.float32)
        del parts_terms, parts_tf
        self.doc_freq = np.bincount(terms, minlength=len(vocab)).astype(np.int64)
        # Lucene BM25: idf = ln(1 + (N - df + .5) / (df + .5)),
        # tf part = tf / (tf + k1 (1 - b + b dl / avgdl))
        idf = np.log1p((self.n_docs - self.doc_freq + 0.5) / (self.doc_freq + 0.5)).astype(np.float32)
        avg = float(lengths.mean()) if self.n_docs and lengths.sum() else 1.0
        norm = k1 * (1 - b + b * lengths / avg)
        doc_of = np.repeat(np.arange(self.n_docs, dtype=np.int32), np.diff(rows))
        tf /= tf + norm[doc_of]
        tf *= idf[terms]
        # chunk-major to term-major; stable, so each term's postings stay in chunk order
        order = np.argsort(terms, kind="stable")
        del terms
        self.postings = doc_of[order]
        del doc_of
        self.weights = tf[order]
        self.starts = np.zeros(len(vocab) + 1, dtype=np.int64)
        np.cumsum(self.doc_freq, out=self.starts[1:])

    def term_ids(self, tokens: list[str]) -> list[int]:
        return [self.vocab[t] for t in tokens if t in self.vocab]

    def query_vector(self, tokens: list[str], english=None) -> dict[int, float]:
        """The question as a sparse vector {term id: count} (a repeated token counts again);
        a block's BM25 score is its dot product with the block's row (`rows`).

        Args:
            english: the question's English words with their Chinese translations
                (qa.translate.english_terms): the translations' search words are searched too.
        """
        if english:
            tokens = tokens + list(dict.fromkeys(self.translated(english)))
        query: dict[int, float] = {}
        for t in self.term_ids(tokens):
            query[t] = query.get(t, 0.0) + 1.0
        return query

    def scores(self, tokens: list[str], english=None) -> np.ndarray:
        """BM25 score of each block for the query tokens; shape (n_docs,)."""
        return self.query_scores(self.query_vector(tokens, english))

    def query_scores(self, query: dict[int, float]) -> np.ndarray:
        """BM25 score of each block for a query vector (`query_vector`); shape (n_docs,) float32.

        Every path (and `row_scores`) multiplies and sums in float64, term by term in the query's
        order, so a block's score is the same bit for bit whichever gives it (and as Milvus's
        rows give it: qa.index.milvus_index)."""
        spans = [(self.starts[t], self.starts[t + 1], w) for t, w in query.items()]
        if sum(hi - lo for lo, hi, _ in spans) <= _GATHER_MAX:
            # few postings: one gathered bincount beats a numpy call per term
            if not spans:
                return np.zeros(self.n_docs, dtype=np.float32)
            docs = np.concatenate([self.postings[lo:hi] for lo, hi, _ in spans])
            weights = np.concatenate([self.weights[lo:hi] if w == 1 else self.weights[lo:hi] * np.float64(w)
                                      for lo, hi, w in spans])
            return np.bincount(docs, weights=weights, minlength=self.n_docs).astype(np.float32)
        out = np.zeros(self.n_docs, dtype=np.float64)  # (as fast as float32 here)
        for lo, hi, w in spans:
            out[self.postings[lo:hi]] += self.weights[lo:hi] * np.float64(w)  # a term lists each block once
        return out.astype(np.float32)

    def row_scores(self, query: dict[int, float], rows: np.ndarray) -> np.ndarray:
        """BM25 scores of some blocks only, (len(rows),) float32: each query term's postings are
        sorted by block, so a binary search finds the rows in them."""
        out = np.zeros(len(rows), dtype=np.float64)
        for t, w in query.items():
            posting = self.postings[self.starts[t]:self.starts[t + 1]]
            at = np.minimum(np.searchsorted(posting, rows), len(posting) - 1)
            hit = posting[at] == rows
            out[hit] += self.weights[self.starts[t] + at[hit]] * np.float64(w)
        return out.astype(np.float32)

    def rows(self) -> SparseRows:
        """Every block's BM25 vector, block-major (what a store that searches them keeps)."""
        order = np.argsort(self.postings, kind="stable")  # term-major to block-major
        terms = np.repeat(np.arange(len(self.vocab), dtype=np.int32), self.doc_freq)[order]
        indptr = np.zeros(self.n_docs + 1, dtype=np.int64)
        np.cumsum(np.bincount(self.postings, minlength=self.n_docs), out=indptr[1:])
        return SparseRows(indptr=indptr, terms=terms, weights=self.weights[order])

    def df(self, token: str) -> int:
        """How many chunks contain the token."""
        i = self.vocab.get(token)
        return 0 if i is None else int(self.doc_freq[i])

    def translated(self, english) -> list[str]:
        """Search words of the Chinese translations of a question's English words."""
        return [t for _, chinese in english for t in self.tokenizer.translation_tokens(chinese)]

    def mentions(self, word: str) -> bool:
        """Whether the corpus holds the word: as a token, or character pair by character pair."""
        return word in self.vocab or self._pairs_in_vocab(word)

    def coverage(self, tokens: list[str], english=None) -> float:
        """Share of the question's specific words that occur in the corpus, in [0, 1].

        Each word weighs by how specific it is (rare in general Chinese, per jieba's word
        frequencies): a question whose specific words (红烧肉, router, 北京) are absent from the corpus
        is about something else, even if it shares common words (上海, 小区) with it.

        Args:
            english: the question's English words with their Chinese translations
                (qa.translate.english_terms). Such a word weighs by how specific its commonest
                translation is (a word rendered by a common Chinese word is a common word) and
                counts as found when one of its translations is in the corpus; a word without
                translation (a name, a rare word) weighs fully and counts as found only when it
                spells one of the corpus' names in pinyin.
        """
        romanized = [t[1:] for t in tokens if t.startswith(PINYIN_MARK) and t in self.vocab]
        words = list(dict.fromkeys(t for t in tokens if not t.startswith(("#", PINYIN_MARK, RUN_MARK))
                                   and (len(t) >= 2 or not t.isascii())
                                   and not (english and t.isascii())))
        # a run of single characters (林路) is only a guess at a word: it counts when the corpus
        # has it, character pair by character pair, and is left out otherwise (咋样 is no word)
        words += [t[1:] for t in tokens if t.startswith(RUN_MARK) and self._pairs_in_vocab(t[1:])]
        if not english and romanized:
            # no dictionary: the share of the question's Latin words that spell a corpus name
            latin = [w for w in words if w.isascii()]
            spelled = [w for w in latin if any(w in r for r in romanized)]
            return len(spelled) / len(latin) if latin else 0.0
        found = weight_sum = 0.0
        for w in words:
            specificity = self._specificity(w)
            weight_sum += specificity
            if self.mentions(w):
                found += specificity
        for word, chinese in english or ():
            spelled = any(word.replace(" ", "") in r for r in romanized)
            if not chinese or spelled:
                weight, hit = math.log(self.tokenizer.total_freq), spelled
            else:
                weight = min(self._specificity(c) for c in chinese)
                hit = any(c in self.vocab or self._all_in_vocab(c) for c in chinese)
            weight_sum += weight
            found += weight if hit else 0.0
        return found / weight_sum if weight_sum else 0.0

    def _specificity(self, word: str) -> float:
        total = self.tokenizer.total_freq
        freq = self.tokenizer.word_freq(word)
        return math.log(total / (freq + 1)) if freq else math.log(total)

    def _pairs_in_vocab(self, word: str) -> bool:
        """Whether every character pair of a Chinese word occurs in the corpus: the word is there,
        segmented otherwise (a name jieba cut into characters in the text or in the question)."""
        pairs = char_bigrams(word)
        return bool(pairs) and len(pairs) == len(word) - 1 and all(p in self.vocab for p in pairs)

    def _all_in_vocab(self, chinese: str) -> bool:
        words = self.tokenizer.translation_tokens([chinese])
        return bool(words) and all(w in self.vocab for w in words)

"""The lexical side of a build: BM25 over its blocks, each sentence's search words and each
block's heading words, with a token cache carried from one build to the next."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from ..chunk import Chunk
from ..terms import Tokenizer, normalize
from .sparse import SparseIndex


@dataclass(frozen=True)
class Blocks:
    """What retrieval needs to know about a build's blocks besides their vectors."""

    tokenizer: Tokenizer
    terms: frozenset  # the build's dictionary terms (the tokenizer's)
    keys: tuple[tuple[str, int], ...]  # (path, block) of each BM25 row
    sentence_words: tuple[frozenset, ...]  # each chunk's search words
    context_words: tuple[frozenset, ...]  # each block's heading/title words
    bm25: SparseIndex
    cache: dict  # text -> tokens, for the next build (read-only once built)


def index_blocks(chunks: tuple[Chunk, ...], terms: frozenset, previous: Blocks | None = None) -> Blocks:
    """Tokenize a build's passages and build BM25 over its blocks.

    BM25 ranks blocks: a block's tokens are those of its heading (or the document's title) and
    of each of its sentences. Sentences end at punctuation, where jieba and the bigrams break
    anyway, so tokenizing each sentence once gives the tokens of the block.

    The cache carries over updates, so that an update tokenizes only new sentences. When an
    update adds or drops dictionary terms, sentences that contain one of those terms are
    re-tokenized too: a jieba word changes the segmentation only where it matches (its frequency
    also shifts the dictionary total, by ~1e-3 in log probability, which moves no cut in practice).
    """
    if previous is not None:
        changed = terms ^ previous.terms
        tokenizer, cache = (tokenizer_for(terms) if changed else previous.tokenizer), previous.cache
    else:
        changed, tokenizer, cache = frozenset(), tokenizer_for(terms), {}
    new_cache: dict[str, list[str]] = {}

    def piece_tokens(text: str) -> list[str]:
        t = new_cache.get(text)
        if t is None:
            t = cache.get(text)
            if t is not None and changed:
                norm = normalize(text)
                if any(term in norm for term in changed):
                    t = None
            if t is None:
                t = tokenizer.tokens(text)
            new_cache[text] = t
        return t

    keys: list[tuple[str, int]] = []
    block_tokens: list[list[str]] = []
    context_words: list[frozenset] = []
    sentence_words: list[frozenset] = []
    for c in chunks:
        words = piece_tokens(c.text)
        sentence_words.append(frozenset(words))
        if not keys or keys[-1] != (c.path, c.block):
            keys.append((c.path, c.block))
            context = piece_tokens(c.section or c.source) if (c.section or c.source) else []
            context_words.append(frozenset(context))
            block_tokens.append(list(context))
        block_tokens[-1].extend(words)
    return Blocks(tokenizer=tokenizer, terms=terms, keys=tuple(keys), sentence_words=tuple(sentence_words),
                  context_words=tuple(context_words), bm25=SparseIndex(block_tokens, tokenizer),
                  cache=new_cache)


_tokenizers: dict[frozenset, Tokenizer] = {}
_tokenizers_lock = threading.Lock()


def clear_tokenizers() -> None:
    """Forget the tokenizers kept for later engines (the next one with given terms is built again)."""
    with _tokenizers_lock:
        _tokenizers.clear()


def tokenizer_for(terms: frozenset) -> Tokenizer:
    """A Tokenizer with these terms, shared by engines with the same dictionary (building one
    loads jieba's dictionary, about 1-2 s); the last few are kept."""
    with _tokenizers_lock:
        tok = _tokenizers.get(terms)
        if tok is None:
            tok = Tokenizer(terms)
            if len(_tokenizers) >= 4:
                _tokenizers.pop(next(iter(_tokenizers)))
            _tokenizers[terms] = tok
        return tok

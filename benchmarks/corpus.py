"""Benchmark corpora: the built-in article's sentences recombined into Chinese text files, and
synthetic vectors and token lists shaped like real ones for the growth stage."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from qa.chunk import split_sentences
from qa.config import BUILTIN_CORPUS


def article_sentences(path: Path = BUILTIN_CORPUS, min_chars: int = 6) -> list[str]:
    """The article's sentences (paragraphs split on blank lines), short fragments dropped."""
    text = Path(path).read_text(encoding="utf-8")
    out = []
    for paragraph in text.split("\n\n"):
        paragraph = "".join(paragraph.split())
        out.extend(s for s in split_sentences(paragraph) if len(s) >= min_chars)
    return out


def write_generated_corpus(folder: Path, n_sentences: int = 5000, per_file: int = 250,
                           seed: int = 0) -> list[Path]:
    """Write about `n_sentences` article sentences, shuffled into paragraphs of 3-6, as .txt files.

    Returns:
        the files written (folder is created if needed).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    pool = article_sentences()
    picks = [pool[i] for i in rng.integers(0, len(pool), n_sentences)]
    files = []
    for f, start in enumerate(range(0, n_sentences, per_file)):
        sentences = picks[start:start + per_file]
        paragraphs, i = [], 0
        while i < len(sentences):
            size = int(rng.integers(3, 7))
            paragraphs.append("".join(sentences[i:i + size]))
            i += size
        path = folder / f"generated-{f:03d}.txt"
        path.write_text("\n\n".join(paragraphs) + "\n", encoding="utf-8")
        files.append(path)
    return files


def synthetic_vectors(base: np.ndarray, n: int, seed: int = 0, noise: float = 0.8,
                      batch: int = 100_000) -> np.ndarray:
    """`n` unit vectors: `base` rows first, then noisy mixtures of two random base rows.

    Pure random unit vectors in 512-d are all nearly orthogonal (no neighbours to find), which
    is not what text embeddings look like; mixtures of real vectors plus Gaussian noise keep their
    clustered shape while every vector stays distinct.

    Args:
        base: (m, dim) real L2-normalised vectors.
    Returns:
        (n, dim) float32, L2-normalised.
    """
    rng = np.random.default_rng(seed)
    m, dim = base.shape
    out = np.empty((n, dim), dtype=np.float32)
    head = min(m, n)
    out[:head] = base[:head]
    for start in range(head, n, batch):
        stop = min(n, start + batch)
        size = stop - start
        a = rng.uniform(0.5, 1.0, (size, 1)).astype(np.float32)
        v = a * base[rng.integers(0, m, size)] + (1 - a) * base[rng.integers(0, m, size)]
        v += rng.standard_normal((size, dim), dtype=np.float32) * (noise / np.sqrt(dim))
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        out[start:stop] = v
    return out


def synthetic_token_lists(real: list[list[str]], n: int, seed: int = 0) -> list[list[str]]:
    """`n` token lists: the `real` ones first, then lists drawn from their vocabulary.

    Tokens follow the real unigram frequencies and list lengths follow the real lengths, so BM25
    posting lists have realistic shapes. Token strings are shared, not copied.
    """
    rng = np.random.default_rng(seed)
    counts: dict[str, int] = {}
    for tokens in real:
        for t in tokens:
            counts[t] = counts.get(t, 0) + 1
    vocab = np.array(list(counts), dtype=object)
    p = np.array(list(counts.values()), dtype=np.float64)
    p /= p.sum()
    lengths = np.array([len(t) for t in real if t] or [1])
    out = [list(t) for t in real[:n]]
    todo = n - len(out)
    sizes = lengths[rng.integers(0, len(lengths), todo)]
    ends = np.cumsum(sizes)
    batch = 10_000  # lists drawn per step: the ids of a million lists would take gigabytes at once
    for lo in range(0, todo, batch):
        hi = min(todo, lo + batch)
        start = int(ends[lo - 1]) if lo else 0
        ids = rng.choice(len(vocab), int(ends[hi - 1]) - start, p=p)
        cuts = ends[lo:hi - 1] - start
        out.extend(part.tolist() for part in np.split(vocab[ids], cuts))
    return out


def exact_top_k(vectors: np.ndarray, queries: np.ndarray, k: int = 10, block: int = 200_000) -> np.ndarray:
    """Brute-force numpy top-k row indices by inner product, best first; shape (len(queries), k)."""
    best_s = np.full((len(queries), 0), -np.inf, dtype=np.float32)
    best_i = np.zeros((len(queries), 0), dtype=np.int64)
    for start in range(0, len(vectors), block):
        s = queries @ vectors[start:start + block].T
        i = np.broadcast_to(np.arange(start, start + s.shape[1]), s.shape)
        s, i = np.hstack([best_s, s]), np.hstack([best_i, i])
        top = np.argpartition(-s, min(k, s.shape[1] - 1), axis=1)[:, :k]
        best_s, best_i = np.take_along_axis(s, top, 1), np.take_along_axis(i, top, 1)
    order = np.argsort(-best_s, axis=1, kind="stable")
    return np.take_along_axis(best_i, order, 1)


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean share of each query's true top-k found in its retrieved top-k (rows align)."""
    k = truth.shape[1]
    pairs = zip(found, truth, strict=True)
    return float(np.mean([len(set(f[:k].tolist()) & set(t.tolist())) / k for f, t in pairs]))

"""Build stage: index-build throughput (chunks/s, characters/s) against the bare encoder embedding
each sentence of the same text once."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import numpy as np

from qa import QA
from qa.index import embed
from qa.index.embed import load_encoder
from qa.ingest import worker as parse_worker


@contextlib.contextmanager
def _timing(module, name: str):
    """Seconds spent in module.name while the block runs, in a one-item list."""
    real, spent = getattr(module, name), [0.0]

    def timed(*args, **kwargs):
        start = time.perf_counter()
        try:
            return real(*args, **kwargs)
        finally:
            spent[0] += time.perf_counter() - start

    setattr(module, name, timed)
    try:
        yield spent
    finally:
        setattr(module, name, real)


def forget_word_caches() -> None:
    """Empty the caches that a build fills for the next one in the same process: the pinyin of
    each word (qa.terms.clear_caches, which empties qa.pinyin's too) and the tokenizers with a
    build's terms (qa.index.blocks.clear_tokenizers). Without this, the best of several repeats, or
    any build after another QA over the same text (run.py's latency stage builds the article
    first), reports a build cheaper than a first one. jieba's dictionary, OpenCC's table and the
    encoder stay loaded: each process loads them once, whatever it builds."""
    from qa import terms
    from qa.index import blocks

    terms.clear_caches()
    blocks.clear_tokenizers()


def run_build(sources: list[Path], label: str, index_root: Path, repeats: int = 1):
    """Build QA(sources) from scratch and encode its distinct sentences bare, alternately `repeats`
    times.

    The encoder and the parse worker (qa.ingest.worker) are started first, so their one-off start-up
    is charged to neither side; the word caches are emptied before each build (forget_word_caches),
    so that each is timed as a first build.

    Returns:
        (row, qa, vectors): row = {"corpus", "chunks", "unique_texts", "chars", "build_s", "encode_s",
        "build_chars_per_s", "encode_chars_per_s",
        "build_chunks_per_s", "encode_chunks_per_s", "over_encode", "pipeline_s"} with the best
        (lowest) time of each side; the last QA built and its chunk vectors from the bare encoder,
        (chunks, dim).
    """
    load_encoder().encode(["warm-up", "预热"])
    parse_worker.warm()  # the parse worker process starts once per process, like the model loads
    builds, encodes, outside = [], [], []
    for r in range(repeats):
        forget_word_caches()
        with _timing(embed, "encode") as inside:
            qa = QA(sources=sources, index_dir=Path(index_root) / f"index-{r}", rebuild=True)
        builds.append(qa.build_seconds)
        outside.append(qa.build_seconds - inside[0])
        # the baseline: each distinct sentence of the same text embedded once, as the build does
        texts = list(dict.fromkeys(c.embed_text for c in qa.chunks))
        start = time.perf_counter()
        vectors = qa.encoder.encode(texts, batch_size=64, normalize_embeddings=True)
        encodes.append(time.perf_counter() - start)
    build_s, encode_s, chunks = min(builds), min(encodes), len(qa.chunks)
    chars = sum(map(len, texts))
    row = {"corpus": label, "chunks": chunks, "unique_texts": len(texts), "chars": chars,
           "build_chars_per_s": round(chars / build_s, 1), "encode_chars_per_s": round(chars / encode_s, 1),
           "build_s": round(build_s, 3), "encode_s": round(encode_s, 3),
           "build_chunks_per_s": round(chunks / build_s, 1),
           "encode_chunks_per_s": round(len(texts) / encode_s, 1),
           "over_encode": round(encode_s / build_s, 3),
           # the build's own time outside the encoder (reading, repair, chunking, terms, BM25,
           # FAISS, writing): steadier than the ratio, as it leaves out the encoder's swings
           "pipeline_s": round(min(outside), 3)}
    by_text = dict(zip(texts, np.asarray(vectors, dtype=np.float32), strict=True))
    return row, qa, np.array([by_text[c.embed_text] for c in qa.chunks], dtype=np.float32)


def main(argv=None) -> int:
    """Build throughput on the articles of a SQuAD-format file (CMRC, DRCD) against the bare
    encoder: python -m benchmarks.build FILE [--articles N] [--repeats R]."""
    import argparse
    import json
    import tempfile

    from qa.evaluate import write_squad_documents

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("file", type=Path)
    parser.add_argument("--articles", type=int, default=120, help="the first N articles (default 120)")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        every, chosen = Path(tmp) / "all", Path(tmp) / "docs"
        every.mkdir()
        chosen.mkdir()
        write_squad_documents([args.file], every)
        for f in sorted(every.glob("*.md"))[: args.articles]:
            (chosen / f.name).write_bytes(f.read_bytes())
        row, _, _ = run_build([chosen], f"{args.file.name}, {args.articles} articles", Path(tmp) / "index",
                              repeats=args.repeats)
    print(json.dumps(row, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

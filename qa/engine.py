"""QA: the one entry point. Opens (or builds) the index, answers questions with citations."""

from __future__ import annotations

import logging
import re
import threading
import time
import unicodedata
from pathlib import Path

import numpy as np

from . import embed
from .answer import Answer, Citation, Hit
from .chunk import Chunk, chunk_documents
from .config import BUILTIN_CORPUS, MAX_QUESTION_CHARS, Config, config_from_env, default_index_dir
from .errors import IndexCorruptError, QuestionError, SourceError
from .ingest import file_sha256, find_source_files, load_documents
from .retrieve import Retriever, confidence
from .sparse import SparseIndex
from .store import StoredIndex, build_lock, read_manifest
from .terms import Tokenizer, corpus_terms
from .vectors import build_vector_index

log = logging.getLogger(__name__)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\ufeff]")


def clean_question(question) -> str:
    """Question text with control and invisible characters removed and whitespace collapsed.

    Raises:
        QuestionError: not a string, empty after cleaning, or longer than MAX_QUESTION_CHARS.
    """
    if not isinstance(question, str):
        raise QuestionError(f"the question must be text, not {type(question).__name__}")
    text = question.encode("utf-8", "replace").decode("utf-8")  # lone surrogates -> '?'
    text = unicodedata.normalize("NFC", _CONTROL.sub(" ", text))
    text = " ".join(text.split())
    if not text:
        raise QuestionError("the question is empty: type a question, e.g. 雍景苑的停车难题是怎么解决的？")
    if len(text) > MAX_QUESTION_CHARS:
        raise QuestionError(f"the question is too long ({len(text)} characters; at most {MAX_QUESTION_CHARS})")
    return text


class QA:
    """Question answering over documents with citations.

    Args:
        sources: files or folders of .txt/.md documents; None for the built-in article.
        index_dir: where the index lives; None for $QA_INDEX_DIR or ./index.
        model: embedding model id or path (default: $QA_EMBEDDING_MODEL or the built-in USE).
        config: full settings; `model` overrides its model.
        rebuild: build the index even if the stored one is current.
    """

    def __init__(self, sources=None, index_dir=None, model: str | None = None,
                 config: Config | None = None, rebuild: bool = False):
        self.config = (config or config_from_env()).with_changes(**({"model": model} if model else {}))
        self.sources = [Path(s) for s in (sources if sources is not None else [BUILTIN_CORPUS])]
        if isinstance(sources, (str, Path)):
            self.sources = [Path(sources)]
        self.index_dir = Path(index_dir) if index_dir is not None else default_index_dir()
        self.encoder = embed.load_encoder(self.config.model)
        self.query_prompt = self.config.query_prompt if self.config.query_prompt is not None \
            else embed.prompt_for(self.config.model, embed.QUERY_PROMPTS)
        self.passage_prompt = embed.prompt_for(self.config.model, embed.PASSAGE_PROMPTS)
        self._lock = threading.Lock()
        self.build_seconds: float | None = None
        self._open(rebuild=rebuild)

    # ----- index lifecycle -----
    def _source_hashes(self) -> dict[str, str]:
        return {str(p): file_sha256(p) for p in find_source_files(self.sources)}

    def _is_current(self, manifest: dict, hashes: dict[str, str]) -> bool:
        return (manifest.get("settings") == self.config.index_settings()
                and manifest.get("model", {}).get("id") == self.config.model
                and manifest.get("source_hashes") == hashes)

    def _open(self, rebuild: bool = False) -> None:
        hashes = self._source_hashes()
        stored = None
        if not rebuild:
            try:
                if self._is_current(read_manifest(self.index_dir), hashes):
                    stored = StoredIndex.load(self.index_dir)
                else:
                    log.info("index in %s is stale (sources, model or settings changed); rebuilding",
                             self.index_dir)
            except FileNotFoundError:
                log.info("no index in %s yet; building it", self.index_dir)
            except IndexCorruptError as e:
                log.warning("%s; rebuilding", e)
        if stored is None:
            stored = self.build(hashes)
        self._activate(stored)

    def build(self, hashes: dict[str, str] | None = None) -> StoredIndex:
        """Read, chunk, embed and save the index (atomically). Returns what was saved."""
        with build_lock(self.index_dir):
            start = time.perf_counter()
            hashes = hashes or self._source_hashes()
            base = Tokenizer()
            docs = load_documents(self.sources, tokenizer=base)
            chunks = chunk_documents(docs, self.config.max_chars, self.config.overlap_sentences)
            vectors = embed.encode(self.encoder, [c.embed_text for c in chunks], prompt=self.passage_prompt,
                                   progress=len(chunks) > 256)
            index = build_vector_index(vectors, np.array([c.id for c in chunks], dtype=np.int64))
            terms = corpus_terms(docs)
            manifest = {
                "model": {"id": self.config.model, "dimension": int(vectors.shape[1]),
                          "passage_prompt": self.passage_prompt},
                "settings": self.config.index_settings(),
                "source_hashes": hashes,
                "files": {d.path: d.sha256 for d in docs},
                "documents": [{"path": d.path, "title": d.title, "sections": list(d.sections),
                               "passages": sum(c.path == d.path for c in chunks)} for d in docs],
                "terms": terms,
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            }
            stored = StoredIndex(manifest=manifest, chunks=tuple(chunks), vectors=index)
            stored.save(self.index_dir)
            self.build_seconds = time.perf_counter() - start
            return StoredIndex.load(self.index_dir)

    def _activate(self, stored: StoredIndex) -> None:
        """Swap in a loaded index (one assignment, so concurrent readers see old or new)."""
        tokenizer = Tokenizer(stored.manifest.get("terms", ()))
        tokens = [tokenizer.tokens(c.text if c.section is None else f"{c.section} {c.text}")
                  for c in stored.chunks]
        sparse = SparseIndex(tokens, tokenizer)
        retriever = Retriever(stored.chunks, stored.vectors, sparse,
                              self.config.sparse_weight, self.config.dense_weight)
        self._state = (stored, tokenizer, retriever)

    @property
    def manifest(self) -> dict:
        return self._state[0].manifest

    @property
    def chunks(self) -> tuple[Chunk, ...]:
        return self._state[0].chunks

    def documents(self) -> list[dict]:
        """What is indexed: one dict per document (path, title, sections, passages)."""
        return [dict(d) for d in self.manifest.get("documents", [])]

    # ----- questions -----
    def encode_query(self, question: str) -> np.ndarray:
        return embed.encode(self.encoder, [question], prompt=self.query_prompt)[0]

    def ask(self, question: str, k: int = 3) -> Answer:
        """Answer a question with up to k distinct passages, best first.

        Raises:
            QuestionError: the question is empty, too long or not text; or k is not positive.
        """
        text = clean_question(question)
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise QuestionError(f"k must be a positive integer, not {k!r}")
        k = min(k, 50)
        stored, tokenizer, retriever = self._state
        query_vector = self.encode_query(text)
        scored, coverage, top_cos = retriever.search(query_vector, tokenizer.tokens(text), k)
        conf = confidence(top_cos, coverage)
        hits = [Hit(text=s.chunk.text, score=round(s.score, 4),
                    citation=Citation(source=s.chunk.source, path=s.chunk.path,
                                      lines=[tuple(r) for r in s.chunk.lines], section=s.chunk.section),
                    confidence=round(conf if n == 0 else conf * s.score / max(scored[0].score, 1e-9), 4))
                for n, s in enumerate(scored)]
        return Answer(question=text, found=bool(hits) and conf >= self.config.min_confidence,
                      hits=hits, confidence=round(conf, 4))


__all__ = ["QA", "clean_question", "SourceError"]

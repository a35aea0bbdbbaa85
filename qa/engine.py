"""QA: the one entry point. Opens the knowledge base, keeps it in step with the files
(re-embedding only what changed), answers questions with citations."""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .answer import Answer, Hit, citation_for
from .answerable import UNANSWERED_SHARE, Cues, cues, names, unanswered_reason
from .chunk import Chunk
from .config import BUILTIN_CORPUS, MAX_K, Config, config_from_env, default_index_dir
from .errors import IndexCorruptError, ReadOnlyIndexError
from .index import embed
from .index.blocks import Blocks, index_blocks
from .index.committed import compatible, is_current, latest_manifest, updatable_build
from .index.sources import source_hashes, with_added, with_removed
from .index.stores import open_store
from .index.update import commit_plan, manifest_for, new_vectors, plan_update
from .index.vector_store import Build, VectorIndex
from .ingest import Document, file_sha256, read_isolated
from .question import check_k, clean_question
from .rank import confidence
from .retrieve import Retriever, Scored
from .translate import english_terms, proper_nouns

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Active:
    """The build that answers questions, with what retrieval made of it; swapped in one
    assignment, so a question sees the old build or the new one."""

    build: Build
    blocks: Blocks
    retriever: Retriever
    places: dict[str, dict]  # manifest entry of each document, by path


@dataclass(frozen=True)
class Query:
    """A question as retrieval reads it (QA.read)."""

    text: str  # cleaned (qa.question.clean_question)
    vector: np.ndarray
    tokens: list[str]  # search tokens (Tokenizer.query_tokens)
    english: list[tuple[str, tuple[str, ...]]]  # English words with their Chinese (english_terms)
    cross_lingual: bool  # its words reach the text only through translations (is_cross_lingual)
    cues: Cues  # the kind of answer asked, a quoted term asked about (answerable.cues)


@dataclass(frozen=True)
class Ranking:
    """What QA.rank found: the passages, best first, and the confidence that the first answers."""

    query: Query
    passages: tuple[Scored, ...]
    coverage: float  # share of the question's weight the knowledge base holds
    top_cosine: float  # best sentence cosine
    confidence: float  # qa.rank.confidence, after the answer checks


class QA:
    """Question answering over a knowledge base of documents, with citations.

    Args:
        sources: files or folders (.txt .md .html .docx .pdf ...). None: the sources the index
            was built from, or the built-in article for a new index.
        index_dir: where the index lives; None for $QA_INDEX_DIR or ./index.
        model: embedding model id or path (default: $QA_EMBEDDING_MODEL or the built-in USE).
        config: full settings; `model` overrides its model.
        rebuild: re-embed everything even if the stored index is current.
        kb_dir: folder that uploaded files are copied into; None for $QA_KB_DIR or
            <index_dir>/documents.
        store: "faiss" (files in index_dir, the default) or "milvus"; None for $QA_STORE.
        uri: Milvus only: a file path (Milvus Lite, embedded) or http://host:19530; None for
            $QA_MILVUS_URI or <index_dir>/milvus.db.
        replica: serve the store's last committed build as it is, without looking at the source
            files (an app replica that has only the model on its disk); `refresh` follows new
            builds, `add` and `remove` raise ReadOnlyIndexError. None for $QA_REPLICA (1/true).

    Opening compares each file's SHA-256 with the index and re-embeds only new or changed files;
    `add` and `remove` do the same while questions keep being answered from the previous index.
    """

    def __init__(self, sources=None, index_dir=None, model: str | None = None,
                 config: Config | None = None, rebuild: bool = False, kb_dir=None,
                 store: str | None = None, uri: str | None = None, replica: bool | None = None):
        self.config = (config or config_from_env()).with_changes(**({"model": model} if model else {}))
        if isinstance(sources, (str, Path)):
            sources = [sources]
        self._explicit = sources is not None
        self.sources: list[Path] | None = [Path(s) for s in sources] if sources is not None else None
        self.excluded: set[str] = set()
        self.index_dir = Path(index_dir) if index_dir is not None else default_index_dir()
        self.kb_dir = Path(kb_dir) if kb_dir is not None else \
            Path(os.environ.get("QA_KB_DIR") or self.index_dir / "documents")
        self.store = open_store(store, self.index_dir, uri)
        self.replica = replica if replica is not None else \
            (os.environ.get("QA_REPLICA") or "").strip().lower() in ("1", "true", "yes")
        self.encoder = embed.load_encoder(self.config.model)
        self.query_prompt = self.config.query_prompt if self.config.query_prompt is not None \
            else embed.prompt_for(self.config.model, embed.QUERY_PROMPTS)
        self.passage_prompt = embed.prompt_for(self.config.model, embed.PASSAGE_PROMPTS)
        # Serialises updates in this process (re-entrant: add/remove hold it while they compute the
        # new source list and sync, so two concurrent adds cannot lose one); store.lock() does it
        # across processes.
        self._lock = threading.RLock()
        self._active: Active | None = None
        self._seen = None  # store.stamp() of the build last read
        self._refresher: threading.Thread | None = None  # refresh(wait=False) loads in it
        self._refresher_lock = threading.Lock()
        self.build_seconds: float | None = None
        self.last_update: dict = {}
        self._open(rebuild=rebuild)

    # ----- what is open -----
    @property
    def manifest(self) -> dict:
        return self._active.build.manifest

    @property
    def chunks(self) -> tuple[Chunk, ...]:
        return self._active.build.chunks

    @property
    def vector_index(self) -> VectorIndex:
        """The open build's vectors (qa.index.vector_store.VectorIndex)."""
        return self._active.build.index

    @property
    def retriever(self) -> Retriever:
        return self._active.retriever

    @property
    def tokenizer(self):
        """The open build's Tokenizer (its dictionary holds the knowledge base's terms)."""
        return self._active.blocks.tokenizer

    def documents(self) -> list[dict]:
        """What is indexed: one dict per document (path, title, format, sections, passages, sha256;
        PDF: pages, empty_pages)."""
        return [{k: v for k, v in d.items() if k not in ("terms", "page_starts", "unit_rows", "ocr_boxes")}
                for d in self.manifest.get("documents", [])]

    def skipped(self) -> list[dict]:
        """Files of the knowledge base that could not be read: [{"path", "reason"}]."""
        skipped = self.manifest.get("skipped", {})
        return [{"path": p, "reason": v["reason"]} for p, v in sorted(skipped.items())]

    # ----- questions -----
    def encode_query(self, question: str) -> np.ndarray:
        return embed.encode_query(self.encoder, question, prompt=self.query_prompt)

    def read(self, question: str) -> Query:
        """The question as retrieval reads it (its vector, search tokens, English words, cues).

        Raises:
            QuestionError: the question is empty, too long or not text.
        """
        return self._read(self._active, clean_question(question))

    def rank(self, question: str, k: int = 3) -> Ranking:
        """The passages `ask` answers with and its confidence, before citations: the one ranking
        step, shared by `ask` and the benchmarks that study it (benchmarks.train_answerable).

        Raises:
            QuestionError: the question is empty, too long or not text; or k is not positive.
        """
        return self._rank(self._active, question, k)

    def ask(self, question: str, k: int = 3) -> Answer:
        """Answer a question with up to k distinct passages, best first.

        A passage that stands word for word in several files is returned once (the best-scored copy).

        Raises:
            QuestionError: the question is empty, too long or not text; or k is not positive.
        """
        active = self._active  # one build for the ranking and the citations, whatever is swapped in
        ranking = self._rank(active, question, k)
        scored, conf = ranking.passages, ranking.confidence
        hits = [Hit(text=s.chunk.text, score=round(s.score, 4), citation=citation_for(s.chunk, active.places),
                    confidence=round(conf if n == 0 else conf * s.score / max(scored[0].score, 1e-9), 4))
                for n, s in enumerate(scored)]
        return Answer(question=ranking.query.text, found=bool(hits) and conf >= self.config.min_confidence,
                      hits=hits, confidence=round(conf, 4))

    def _read(self, active: Active, text: str) -> Query:
        return Query(text=text, vector=self.encode_query(text),
                     tokens=active.blocks.tokenizer.query_tokens(text),
                     english=english_terms(text),  # its English words, if any, with their translations
                     cross_lingual=active.retriever.is_cross_lingual(text),
                     cues=cues(text) if self.config.answer_checks else Cues())  # kind asked, quoted term

    def _rank(self, active: Active, question: str, k: int) -> Ranking:
        text = clean_question(question)
        k = check_k(k, MAX_K)
        query = self._read(active, text)
        retriever = active.retriever
        scored, coverage, top_cos = retriever.search_distinct(
            query.vector, query.tokens, k, query.english, query.cross_lingual, query.cues)
        conf = confidence(top_cos, coverage, query.cross_lingual)
        if scored and self.config.answer_checks:
            unknown = [w for w in names(query.tokens) if not retriever.sparse.mentions(w)]
            if unanswered_reason(query.text, scored[0].chunk.text, unknown, query.cues.kind) is not None:
                conf *= UNANSWERED_SHARE
        return Ranking(query, tuple(scored), coverage, top_cos, conf)

    # ----- managing the knowledge base -----
    def add(self, paths, parsed: dict[str, Document] | None = None, time_limit: float | None = None) -> dict:
        """Add files or folders to the knowledge base; index what is new or changed.

        A file named here must be readable (it is parsed first): otherwise SourceError and nothing
        changes. Unreadable files inside an added folder are skipped and listed in the report.
        time_limit: seconds the update may spend embedding (uploads: config.MAX_EMBED_SECONDS);
        past it IndexTimeError, and nothing changes.

        Returns:
            {"added", "updated", "removed", "skipped": [{"path", "reason"}], "unchanged",
             "embedded": passages embedded, "reused": passages whose vectors were reused, "seconds"}
        Raises:
            SourceError: a path does not exist, has an unsupported type, or cannot be read.
        """
        self.check_writer()
        deadline = None if time_limit is None else time.monotonic() + time_limit
        if isinstance(paths, (str, Path)):
            paths = [paths]
        # The change applies to the last committed index, whoever committed it.
        with self._lock, self.store.lock():
            self._catch_up()
            parsed = dict(parsed or {})
            new_sources, excluded, files = with_added(self.sources, self.excluded, paths)
            for path in files:
                indexed = self.manifest.get("files", {}).get(str(path)) if self._active else None
                # parsed first, unless this version is indexed already (a scan is OCR'd once)
                if str(path) not in parsed and indexed != file_sha256(path):
                    parsed[str(path)] = read_isolated(path)
            return self._sync(new_sources, excluded, parsed=parsed, deadline=deadline)

    def remove(self, paths) -> dict:
        """Take files or folders out of the knowledge base (the files themselves are not touched).

        Raises:
            SourceError: a path is neither a source nor a document of the knowledge base.
        """
        self.check_writer()
        if isinstance(paths, (str, Path)):
            paths = [paths]
        with self._lock, self.store.lock():
            self._catch_up()
            known = set(self.manifest.get("source_hashes", {}))
            return self._sync(*with_removed(self.sources, self.excluded, known, paths))

    def refresh(self, wait: bool = True) -> bool:
        """Pick up a build another process committed (e.g. `python -m qa add`); True if it changed.

        Cheap when nothing changed (one stat of the manifest, or one small Milvus query), so
        servers call it per request. While this process is updating the index it returns False
        at once: the update swaps in the latest index itself. wait=False: a new build is loaded
        in a background thread (servers: questions keep their answers from the build in use
        until it is swapped in) and False is returned at once.
        """
        stamp = self.store.stamp()
        if stamp is None or stamp == self._seen:
            return False
        if not wait:
            with self._refresher_lock:
                if self._refresher is None or not self._refresher.is_alive():
                    self._refresher = threading.Thread(target=self.refresh, name="qa-refresh", daemon=True)
                    self._refresher.start()
            return False
        if not self._lock.acquire(blocking=False):
            return False
        try:
            try:
                manifest = self.store.read_manifest()
            except (FileNotFoundError, IndexCorruptError):
                return False
            if self._active is not None and manifest.get("build") == self.manifest.get("build"):
                self._seen = stamp
                return False
            try:
                build = self.store.load()
            except (FileNotFoundError, IndexCorruptError) as e:
                log.warning("not refreshed: %s", e)
                return False
            if not compatible(build.manifest, self.config):
                return False
            self._adopt(build, stamp)
            return True
        finally:
            self._lock.release()

    def build(self) -> Build:
        """Read, chunk and embed every document and commit the index; it becomes current."""
        self.check_writer()
        self._sync(self.sources, self.excluded, rebuild=True, strict=self._explicit)
        return self._active.build

    # ----- keeping the index in step -----
    def check_writer(self) -> None:
        """Raises ReadOnlyIndexError on a replica (its documents are changed where it is built)."""
        if self.replica:
            raise ReadOnlyIndexError(f"this service is a read-only replica of {self.store.location}: "
                                     f"documents are added and removed where the knowledge base is built")

    def _open(self, rebuild: bool = False) -> None:
        if self.replica:
            stamp = self.store.stamp()
            if stamp is None:
                raise ReadOnlyIndexError(f"nothing has been committed to {self.store.location} yet: a "
                                         f"replica serves what a writer built (`python -m qa index`)")
            return self._adopt(self.store.load(), stamp)
        with self._lock, self.store.lock():
            if self.sources is None:
                manifest = self._latest_manifest()
                if isinstance(manifest.get("sources"), list):
                    self._take_sources(manifest)
                else:
                    self.sources = [BUILTIN_CORPUS]
            elif not rebuild:
                self._latest_manifest()  # recovers a damaged manifest from its backup
            self.sources = [s.resolve() for s in self.sources]
            self.build_seconds = None
            self._sync(self.sources, self.excluded, rebuild=rebuild, strict=self._explicit)

    def _stored(self, rebuild: bool) -> Build | None:
        """The committed build if it can be updated in place: same model, settings and layout."""
        return None if rebuild else updatable_build(
            self.store, self.config, self._active.build if self._active else None, self._explicit)

    def _latest_manifest(self) -> dict:
        return latest_manifest(
            self.store, self._explicit,
            f"python -m qa index --force --index-dir {self.index_dir} --source <your documents>` "
            f"(uploaded files are in {self.kb_dir}), or move {self.index_dir} aside to start a new one")

    def _catch_up(self) -> None:
        """Under the locks: take the last committed build (another process may have changed it)
        as the base of an update, with its sources."""
        manifest = self._latest_manifest()
        if not manifest or not isinstance(manifest.get("sources"), list):
            return
        if self._active is not None and manifest.get("build") == self.manifest.get("build"):
            return
        self._take_sources(manifest)
        if compatible(manifest, self.config):
            try:
                stamp = self.store.stamp()
                self._adopt(self.store.load(), stamp)
            except (FileNotFoundError, IndexCorruptError) as e:
                log.warning("%s; the update rebuilds it", e)

    def _sync(self, sources, excluded, rebuild: bool = False, strict: bool = False,
              parsed: dict[str, Document] | None = None, deadline: float | None = None) -> dict:
        """Bring the index in line with `sources`: re-embed only new or changed files; commit; swap in.

        Nothing changes (neither the store nor this object) unless the new build was committed.
        """
        with self._lock, self.store.lock() as writable:
            start = time.perf_counter()
            hashes = source_hashes(sources, excluded, strict=strict)
            base = self._stored(rebuild)
            if base is not None and is_current(base.manifest, self.config, hashes, sources, excluded):
                report = {"added": [], "updated": [], "removed": [], "skipped": [], "embedded": 0,
                          "reused": 0, "unchanged": len(base.manifest.get("documents", []))}
                if self._active is None or self._active.build is not base:
                    self._activate(base)
            else:
                if not writable:
                    raise ReadOnlyIndexError(
                        f"the index in {self.store.location} is not current (or missing) and cannot be "
                        f"written; update it where it is writable (`python -m qa index`)")
                report = self._commit(base, hashes, sources, excluded, strict, parsed or {}, deadline)
                self.build_seconds = time.perf_counter() - start
            self.sources, self.excluded = list(sources), set(excluded)
            self._seen = self.store.stamp()
            report["seconds"] = round(time.perf_counter() - start, 3)
            self.last_update = report
            return report

    def _commit(self, base: Build | None, hashes, sources, excluded, strict: bool,
                parsed: dict[str, Document], deadline: float | None = None) -> dict:
        """Plan, embed, index the blocks, commit and swap in the new build; returns the report."""
        plan = plan_update(base, hashes, sources, strict, parsed, self.config.block_chars)
        fresh = embed.encode(self.encoder, plan.todo, prompt=self.passage_prompt,
                             progress=len(plan.todo) > 256, deadline=deadline)
        dim = fresh.shape[1] if len(fresh) else (base.index.dim if base else embed.dimension(self.encoder))
        model = {"id": self.config.model, "dimension": int(dim), "passage_prompt": self.passage_prompt}
        manifest = manifest_for(plan, model, self.config.index_settings(), sources, excluded, hashes)
        build, blocks = commit_plan(self.store, plan, base, new_vectors(plan, base, fresh, dim), manifest,
                                    self._active.blocks if self._active else None)
        self._activate(build, blocks)
        return plan.report

    def _adopt(self, build: Build, stamp) -> None:
        """Take a committed build as this object's knowledge base, with its sources."""
        self._take_sources(build.manifest)
        self._activate(build)
        self._seen = stamp

    def _take_sources(self, manifest: dict) -> None:
        """The sources and exclusions a committed manifest records become this object's."""
        self.sources = [Path(s) for s in manifest.get("sources", [])]
        self.excluded = set(manifest.get("excluded", []))

    def _activate(self, build: Build, blocks: Blocks | None = None) -> None:
        """Swap in a build (one assignment, so concurrent readers see old or new)."""
        if blocks is None:
            blocks = index_blocks(build.chunks, frozenset(build.manifest.get("terms", ())),
                                  self._active.blocks if self._active else None)
        retriever = Retriever(build.chunks, build.index, blocks, self.config.sparse_weight,
                              self.config.dense_weight, self.config.max_chars,
                              self.config.cross_lingual_dense_weight)
        places = {d["path"]: d for d in build.manifest.get("documents", [])}
        if self.config.answer_checks:
            proper_nouns()  # read with a build, so the first question does not wait for it
        self._active = Active(build=build, blocks=blocks, retriever=retriever, places=places)


__all__ = ["QA"]

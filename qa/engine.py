"""QA: the one entry point. Opens the knowledge base's index, keeps it in step with the files
(re-embedding only what changed), answers questions with citations."""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

import faiss
import numpy as np

from .answer import Answer, Citation, Hit
from .chunk import Chunk, chunk_documents
from .config import BUILTIN_CORPUS, MAX_K, Config, config_from_env, default_index_dir
from .errors import IndexCorruptError, ManifestDamagedError, ReadOnlyIndexError, SourceError
from .index import embed
from .index.faiss_store import build_vector_index, refit, stored_vectors
from .index.sparse import SparseIndex
from .index.store import MANIFEST, StoredIndex, build_lock, read_manifest, recover_manifest
from .ingest import (
    DOCUMENT_SUFFIXES,
    Document,
    file_sha256,
    find_source_files,
    page_and_paragraph,
    read_isolated,
)
from .question import check_k, clean_question
from .retrieve import Retriever, confidence
from .terms import Tokenizer, corpus_terms, normalize
from .translate import english_terms

log = logging.getLogger(__name__)

#: Layout of the manifest's document entries (per-file hash, terms, page map) that incremental
#: updates rely on; an index without it is rebuilt once.
KB_LAYOUT = 2
class QA:
    """Question answering over a knowledge base of documents, with citations.

    Args:
        sources: files or folders (.txt .md .html .docx .pdf). None: the sources the index in
            `index_dir` was built from, or the built-in article for a new index.
        index_dir: where the index lives; None for $QA_INDEX_DIR or ./index.
        model: embedding model id or path (default: $QA_EMBEDDING_MODEL or the built-in USE).
        config: full settings; `model` overrides its model.
        rebuild: re-embed everything even if the stored index is current.
        kb_dir: folder that uploaded files are copied into (qa.serve.uploads.save_upload); None for
            $QA_KB_DIR or <index_dir>/documents.

    Opening compares each file's SHA-256 with the index and re-embeds only new or changed files;
    `add` and `remove` do the same while questions keep being answered from the previous index.
    """

    def __init__(self, sources=None, index_dir=None, model: str | None = None,
                 config: Config | None = None, rebuild: bool = False, kb_dir=None):
        self.config = (config or config_from_env()).with_changes(**({"model": model} if model else {}))
        if isinstance(sources, (str, Path)):
            sources = [sources]
        self._explicit = sources is not None
        self.sources: list[Path] | None = [Path(s) for s in sources] if sources is not None else None
        self.excluded: set[str] = set()
        self.index_dir = Path(index_dir) if index_dir is not None else default_index_dir()
        self.kb_dir = Path(kb_dir) if kb_dir is not None else \
            Path(os.environ.get("QA_KB_DIR") or self.index_dir / "documents")
        self.encoder = embed.load_encoder(self.config.model)
        self.query_prompt = self.config.query_prompt if self.config.query_prompt is not None \
            else embed.prompt_for(self.config.model, embed.QUERY_PROMPTS)
        self.passage_prompt = embed.prompt_for(self.config.model, embed.PASSAGE_PROMPTS)
        # Serialises updates in this process (re-entrant: add/remove hold it while they compute the
        # new source list and sync, so two concurrent adds cannot lose one); build_lock does it
        # across processes.
        self._lock = threading.RLock()
        self._state: tuple | None = None
        self._manifest_seen: tuple | None = None  # (mtime, size, inode) of the manifest last read
        self._tokens: dict[str, list[str]] = {}
        self.build_seconds: float | None = None
        self.last_update: dict = {}
        self._open(rebuild=rebuild)

    # ----- index lifecycle -----
    def _source_hashes(self, sources=None, excluded=None, strict: bool = False) -> dict[str, str]:
        """SHA-256 of every document file of the sources, by resolved path.

        strict: a missing source or an empty result is an error (sources named by the caller);
        otherwise a source that has disappeared is left out with a warning (its documents are removed).
        """
        sources = self.sources if sources is None else sources
        excluded = self.excluded if excluded is None else excluded
        if strict:
            files = find_source_files(sources)
        else:
            files = []
            for src in sources:
                try:
                    files.extend(find_source_files([src]))
                except SourceError as e:
                    log.warning("%s", e)
        return {str(p): file_sha256(p) for p in sorted(set(files)) if str(p) not in excluded}

    def _compatible(self, manifest: dict) -> bool:
        return (manifest.get("kb") == KB_LAYOUT
                and manifest.get("settings") == self.config.index_settings()
                and manifest.get("model", {}).get("id") == self.config.model)

    def _is_current(self, manifest: dict, hashes: dict[str, str], sources, excluded) -> bool:
        return (self._compatible(manifest) and manifest.get("source_hashes") == hashes
                and manifest.get("sources") == [str(s) for s in sources]
                and manifest.get("excluded", []) == sorted(excluded))

    def _stored(self, rebuild: bool) -> StoredIndex | None:
        """The index on disk if it can be updated in place: same model, settings and layout."""
        if rebuild:
            return None
        try:
            manifest = recover_manifest(self.index_dir)
            if not self._compatible(manifest):
                log.info("index in %s was built with another model, settings or layout; rebuilding",
                         self.index_dir)
                return None
            if self._state is not None and self._state[0].manifest.get("build") == manifest.get("build"):
                return self._state[0]  # what this process saved or loaded last: no need to re-read
            return StoredIndex.load(self.index_dir)
        except FileNotFoundError:
            log.info("no index in %s yet; building it", self.index_dir)
        except ManifestDamagedError:
            if not self._explicit:
                raise  # its sources are unknown: rebuilding would drop documents
            log.warning("manifest in %s is damaged; rebuilding from the sources given", self.index_dir)
        except IndexCorruptError as e:
            log.warning("%s; rebuilding", e)
        return None

    def _latest_manifest(self) -> dict:
        """The last committed manifest ({} if there is none yet), recovered from its backup if
        damaged; one of another format version is returned as it is (its sources are rebuilt).

        Raises:
            ManifestDamagedError: damaged beyond recovery and no sources were named: nothing is
                touched, the message says how to rebuild.
        """
        try:
            return recover_manifest(self.index_dir)
        except FileNotFoundError:
            return {}
        except ManifestDamagedError as e:
            if self._explicit:
                return {}
            raise ManifestDamagedError(
                f"{e}. Nothing was changed. To rebuild the index, run `python -m qa index --force "
                f"--index-dir {self.index_dir} --source <your documents>` (uploaded files are in "
                f"{self.kb_dir}), or move {self.index_dir} aside to start a new one") from e
        except IndexCorruptError:
            try:
                return read_manifest(self.index_dir, any_version=True)
            except (OSError, IndexCorruptError):
                return {}

    def _catch_up(self) -> None:
        """Under the locks: take the last committed index (another process may have changed it)
        as the base of an update, with its sources."""
        manifest = self._latest_manifest()
        if not manifest or not isinstance(manifest.get("sources"), list):
            return
        if self._state is not None and manifest.get("build") == self._state[0].manifest.get("build"):
            return
        self.sources = [Path(s) for s in manifest["sources"]]
        self.excluded = set(manifest.get("excluded", []))
        if self._compatible(manifest):
            try:
                self._activate(StoredIndex.load(self.index_dir))
                self._remember_manifest()
            except (FileNotFoundError, IndexCorruptError) as e:
                log.warning("%s; the update rebuilds it", e)

    def _remember_manifest(self) -> tuple | None:
        try:
            st = os.stat(self.index_dir / MANIFEST)
        except OSError:
            return None
        self._manifest_seen = (st.st_mtime_ns, st.st_size, st.st_ino)
        return self._manifest_seen

    def _open(self, rebuild: bool = False) -> None:
        with self._lock, build_lock(self.index_dir):
            if self.sources is None:
                manifest = self._latest_manifest()
                if isinstance(manifest.get("sources"), list):
                    self.sources = [Path(s) for s in manifest["sources"]]
                    self.excluded = set(manifest.get("excluded", []))
                else:
                    self.sources = [BUILTIN_CORPUS]
            elif not rebuild:
                self._latest_manifest()  # recovers a damaged manifest from its backup
            self.sources = [s.resolve() for s in self.sources]
            self.build_seconds = None
            self._sync(self.sources, self.excluded, rebuild=rebuild, strict=self._explicit)

    def build(self, hashes: dict[str, str] | None = None) -> StoredIndex:
        """Read, chunk and embed every document and save the index (atomically); it becomes current."""
        self._sync(self.sources, self.excluded, rebuild=True, strict=self._explicit)
        return self._state[0]

    def _sync(self, sources, excluded, rebuild: bool = False, strict: bool = False,
              parsed: dict[str, Document] | None = None) -> dict:
        """Bring the index in line with `sources`: re-embed only new or changed files; save; swap in.

        Nothing changes (neither the files on disk nor this object) unless the new index was saved.
        """
        with self._lock, build_lock(self.index_dir) as writable:
            start = time.perf_counter()
            hashes = self._source_hashes(sources, excluded, strict=strict)
            stored = self._stored(rebuild)
            if stored is not None and self._is_current(stored.manifest, hashes, sources, excluded):
                report = {"added": [], "updated": [], "removed": [], "skipped": [], "embedded": 0,
                          "reused": 0, "unchanged": len(stored.manifest.get("documents", []))}
                if self._state is None or self._state[0] is not stored:
                    self._activate(stored)
            else:
                if not writable:
                    raise ReadOnlyIndexError(
                        f"the index in {self.index_dir} is not current (or missing) and the folder "
                        f"cannot be written; update it where it is writable (`python -m qa index`)")
                new, report = self._update(stored, hashes, sources, excluded, strict, parsed or {})
                written = new.save(self.index_dir)
                self._activate(StoredIndex(manifest=written, chunks=new.chunks, vectors=new.vectors))
                self.build_seconds = time.perf_counter() - start
            self.sources, self.excluded = list(sources), set(excluded)
            self._remember_manifest()
            report["seconds"] = round(time.perf_counter() - start, 3)
            self.last_update = report
            return report

    def _update(self, stored: StoredIndex | None, hashes: dict[str, str], sources, excluded,
                strict: bool, parsed: dict[str, Document]) -> tuple[StoredIndex, dict]:
        """The new index (not yet saved) and a report of what was added, updated, removed, skipped.

        Vectors are looked up by the text that was embedded, so passages that did not change
        (in a changed file, or repeated in another file) are never embedded twice.
        """
        old_entries = {d["path"]: d for d in stored.manifest["documents"]} if stored else {}
        old_skipped = dict(stored.manifest.get("skipped", {})) if stored else {}
        keep, read, skipped = [], [], {}
        for path, sha in hashes.items():
            if path in old_entries and old_entries[path]["sha256"] == sha:
                keep.append(path)
            elif path in old_skipped and old_skipped[path]["sha256"] == sha:
                skipped[path] = old_skipped[path]
            else:
                read.append(path)
        docs: list[Document] = []
        for path in read:
            try:
                doc = parsed.get(path)
                if doc is None or doc.sha256 != hashes[path]:
                    doc = read_isolated(Path(path))  # time and memory limited, never fatal
            except SourceError as e:
                log.warning("skipped %s", e)
                skipped[path] = {"sha256": hashes[path], "reason": str(e)}
            else:
                docs.append(doc)
        if strict and not docs and not keep:
            reasons = "; ".join(v["reason"] for v in skipped.values())
            raise SourceError(f"none of the sources could be read: {reasons or ', '.join(map(str, sources))}")
        chunks = chunk_documents(docs, self.config.block_chars)
        drop = set(old_entries) - set(keep)
        old_chunks = stored.chunks if stored else ()
        vectors_by_text = {c.embed_text: c.id for c in old_chunks}
        todo = list(dict.fromkeys(c.embed_text for c in chunks if c.embed_text not in vectors_by_text))
        reused = _reconstruct(stored.vectors, [vectors_by_text[c.embed_text] for c in chunks
                                               if c.embed_text in vectors_by_text]) if stored else None
        if reused is None:  # an index kind that cannot give vectors back: embed those too
            todo = list(dict.fromkeys(c.embed_text for c in chunks))
        fresh = embed.encode(self.encoder, todo, prompt=self.passage_prompt, progress=len(todo) > 256)
        by_text = dict(zip(todo, fresh, strict=True))
        if reused is not None:
            it = iter(reused)
            for c in chunks:
                if c.embed_text not in by_text:
                    by_text[c.embed_text] = next(it)
        dim = fresh.shape[1] if len(fresh) else (reused.shape[1] if reused is not None and len(reused)
                                                   else embed.dimension(self.encoder))
        new_vectors = np.array([by_text[c.embed_text] for c in chunks], dtype=np.float32).reshape(-1, dim)
        new_ids = np.array([c.id for c in chunks], dtype=np.int64)
        kept_chunks = tuple(c for c in old_chunks if c.path not in drop)
        vectors = None
        if stored is not None:
            # A copy: the index in use keeps answering questions until the new one is swapped in.
            vectors = faiss.clone_index(stored.vectors)
            gone = np.array([c.id for c in old_chunks if c.path in drop], dtype=np.int64)
            try:
                if len(gone):
                    vectors.remove_ids(gone)
            except RuntimeError as e:  # IVF with a hashtable id map, HNSW: no removal in place
                log.info("vector index cannot remove in place (%s); rebuilding it from its vectors", e)
                kept = _reconstruct(stored.vectors, [c.id for c in kept_chunks])
                vectors = None if kept is None else build_vector_index(
                    kept, np.array([c.id for c in kept_chunks], dtype=np.int64))
            if vectors is not None:
                try:
                    if len(new_ids):
                        vectors.add_with_ids(new_vectors, new_ids)
                    # grown past the exact-search size (or shrunk below it): the kind that suits it
                    vectors = refit(vectors, [c.id for c in kept_chunks] + new_ids.tolist())
                except RuntimeError as e:
                    log.info("vector index cannot be updated in place (%s); rebuilding it", e)
                    vectors = None
        if vectors is None:
            if kept_chunks:
                return self._update(None, hashes, sources, excluded, strict, parsed)
            vectors = build_vector_index(new_vectors, new_ids)
        entries = {p: old_entries[p] for p in keep}
        for d in docs:
            entries[d.path] = document_entry(d, sum(c.path == d.path for c in chunks))
        documents = [entries[p] for p in sorted(entries)]
        manifest = {
            "kb": KB_LAYOUT,
            "model": {"id": self.config.model, "dimension": int(dim), "passage_prompt": self.passage_prompt},
            "settings": self.config.index_settings(),
            "sources": [str(s) for s in sources],
            "excluded": sorted(excluded),
            "source_hashes": hashes,
            "files": {d["path"]: d["sha256"] for d in documents},
            "documents": documents,
            "skipped": skipped,
            "terms": sorted(set().union(*(d["terms"] for d in documents))),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        new = StoredIndex(manifest=manifest, chunks=kept_chunks + tuple(chunks), vectors=vectors)
        report = {"added": [p for p in read if p not in old_entries and p not in skipped],
                  "updated": [p for p in read if p in old_entries and p not in skipped],
                  "removed": sorted(p for p in drop if p not in entries),
                  "skipped": [{"path": p, "reason": skipped[p]["reason"]} for p in read if p in skipped],
                  "unchanged": len(keep), "embedded": len(todo), "reused": len(chunks) - len(todo)}
        return new, report

    # ----- managing the knowledge base -----
    def add(self, paths, parsed: dict[str, Document] | None = None) -> dict:
        """Add files or folders to the knowledge base; index what is new or changed.

        A file named here must be readable (it is parsed first): otherwise SourceError and nothing
        changes. Unreadable files inside an added folder are skipped and listed in the report.

        Returns:
            {"added", "updated", "removed", "skipped": [{"path", "reason"}], "unchanged",
             "embedded": passages embedded, "reused": passages whose vectors were reused, "seconds"}
        Raises:
            SourceError: a path does not exist, has an unsupported type, or cannot be read.
        """
        if isinstance(paths, (str, Path)):
            paths = [paths]
        # The change applies to the last committed index, whoever committed it.
        with self._lock, build_lock(self.index_dir):
            self._catch_up()
            return self._add(paths, dict(parsed or {}))

    def _add(self, paths, parsed: dict[str, Document]) -> dict:
        new_sources = list(self.sources)
        excluded = set(self.excluded)
        for p in paths:
            path = Path(p).resolve()
            if not path.exists():
                raise SourceError(f"{p}: no such file or folder")
            if path.is_file():
                if path.suffix.lower() not in DOCUMENT_SUFFIXES:
                    raise SourceError(f"{p}: unsupported file type {path.suffix or '(none)'}; "
                                      f"supported: {' '.join(DOCUMENT_SUFFIXES)}")
                indexed = self._state[0].manifest.get("files", {}).get(str(path)) if self._state else None
                # parsed first, unless this version is indexed already (a scan is OCR'd once)
                if str(path) not in parsed and indexed != file_sha256(path):
                    parsed[str(path)] = read_isolated(path)
            excluded = {e for e in excluded if not (e == str(path) or Path(e).is_relative_to(path))}
            if path not in new_sources:
                new_sources.append(path)
        return self._sync(new_sources, excluded, parsed=parsed)

    def remove(self, paths) -> dict:
        """Take files or folders out of the knowledge base (the files themselves are not touched).

        Raises:
            SourceError: a path is neither a source nor a document of the knowledge base.
        """
        if isinstance(paths, (str, Path)):
            paths = [paths]
        with self._lock, build_lock(self.index_dir):
            self._catch_up()
            return self._remove(paths)

    def _remove(self, paths) -> dict:
        sources = list(self.sources)
        excluded = set(self.excluded)
        known = set(self._state[0].manifest.get("source_hashes", {}))
        for p in paths:
            path = Path(p).resolve()
            inside = {f for f in known if f == str(path) or Path(f).is_relative_to(path)}
            named = [s for s in sources if s == path or s.is_relative_to(path)]
            if not inside and not named:
                raise SourceError(f"{p}: not in the knowledge base (see `python -m qa list`)")
            sources = [s for s in sources if s not in named]
            # files that stay reachable through a source folder are excluded by name
            excluded |= inside
        reachable = set(self._source_hashes(sources, set()))
        excluded = {e for e in excluded if e in reachable}
        return self._sync(sources, excluded)

    def refresh(self) -> bool:
        """Pick up an index another process updated (e.g. `python -m qa add`); True if it changed.

        Cheap when nothing changed (one stat of the manifest), so servers call it per request.
        While this process is updating the index it returns False at once: the update swaps in
        the latest index itself.
        """
        try:
            st = os.stat(self.index_dir / MANIFEST)
        except OSError:
            return False
        if (st.st_mtime_ns, st.st_size, st.st_ino) == self._manifest_seen:
            return False
        if not self._lock.acquire(blocking=False):
            return False
        try:
            try:
                manifest = read_manifest(self.index_dir)
            except (FileNotFoundError, IndexCorruptError):
                return False
            if self._state is not None and manifest.get("build") == self._state[0].manifest.get("build"):
                self._manifest_seen = (st.st_mtime_ns, st.st_size, st.st_ino)
                return False
            try:
                stored = StoredIndex.load(self.index_dir)
            except (FileNotFoundError, IndexCorruptError) as e:
                log.warning("not refreshed: %s", e)
                return False
            if not self._compatible(stored.manifest):
                return False
            self.sources = [Path(s) for s in stored.manifest.get("sources", [])]
            self.excluded = set(stored.manifest.get("excluded", []))
            self._activate(stored)
            self._manifest_seen = (st.st_mtime_ns, st.st_size, st.st_ino)
            return True
        finally:
            self._lock.release()

    def skipped(self) -> list[dict]:
        """Files of the knowledge base that could not be read: [{"path", "reason"}]."""
        skipped = self.manifest.get("skipped", {})
        return [{"path": p, "reason": v["reason"]} for p, v in sorted(skipped.items())]

    def _activate(self, stored: StoredIndex) -> None:
        """Swap in a loaded index (one assignment, so concurrent readers see old or new).

        BM25 ranks blocks: a block's tokens are those of its heading (or the document's title)
        and of each of its sentences. Sentences end at punctuation, where jieba and the bigrams
        break anyway, so tokenizing each sentence once gives the tokens of the block.

        The cache carries over updates, so that an update tokenizes only new sentences. When an
        update adds or drops dictionary terms, sentences that contain one of those terms are
        re-tokenized too: a jieba word changes the segmentation only where it matches (its
        frequency also shifts the dictionary total, by ~1e-3 in log probability, which moves no cut
        in practice).
        """
        terms = frozenset(stored.manifest.get("terms", ()))
        old = self._state
        if old is not None:
            changed = terms ^ old[1].terms
            tokenizer, cache = (tokenizer_for(terms) if changed else old[1]), self._tokens
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

        block_keys: list[tuple[str, int]] = []
        block_tokens: list[list[str]] = []
        context_words: list[frozenset] = []
        sentence_words: list[frozenset] = []
        for c in stored.chunks:
            words = piece_tokens(c.text)
            sentence_words.append(frozenset(words))
            if not block_keys or block_keys[-1] != (c.path, c.block):
                block_keys.append((c.path, c.block))
                context = piece_tokens(c.section or c.source) if (c.section or c.source) else []
                context_words.append(frozenset(context))
                block_tokens.append(list(context))
            block_tokens[-1].extend(words)
        sparse = SparseIndex(block_tokens, tokenizer)
        retriever = Retriever(stored.chunks, stored.vectors, sparse, block_keys, sentence_words,
                              context_words, self.config.sparse_weight, self.config.dense_weight,
                              self.config.max_chars)
        places = {d["path"]: d for d in stored.manifest.get("documents", [])}
        self._state = (stored, tokenizer, retriever, places)
        self._tokens = new_cache

    @property
    def manifest(self) -> dict:
        return self._state[0].manifest

    @property
    def chunks(self) -> tuple[Chunk, ...]:
        return self._state[0].chunks

    def documents(self) -> list[dict]:
        """What is indexed: one dict per document (path, title, format, sections, passages, sha256;
        PDF: pages, empty_pages)."""
        return [{k: v for k, v in d.items() if k not in ("terms", "page_starts", "unit_rows", "ocr_boxes")}
                for d in self.manifest.get("documents", [])]

    # ----- questions -----
    def encode_query(self, question: str) -> np.ndarray:
        return embed.encode_query(self.encoder, question, prompt=self.query_prompt)

    def ask(self, question: str, k: int = 3) -> Answer:
        """Answer a question with up to k distinct passages, best first.

        A passage that stands word for word in several files is returned once (the best-scored copy).

        Raises:
            QuestionError: the question is empty, too long or not text; or k is not positive.
        """
        text = clean_question(question)
        k = check_k(k, MAX_K)
        stored, tokenizer, retriever, places = self._state
        query_vector = self.encode_query(text)
        english = english_terms(text)  # its English words, if any, with their translations
        tokens = tokenizer.query_tokens(text)
        want = k
        while True:
            scored, coverage, top_cos = retriever.search(query_vector, tokens, want, english)
            unique, seen = [], set()
            for s in scored:
                key = "".join(s.chunk.text.split())
                if key not in seen:
                    seen.add(key)
                    unique.append(s)
            if len(unique) >= k or len(scored) < want or want >= 4 * k + 10:
                break
            want = min(2 * want + len(scored) - len(unique), 4 * k + 10)
        scored = unique[:k]
        conf = confidence(top_cos, coverage, retriever.is_cross_lingual(text))
        hits = [Hit(text=s.chunk.text, score=round(s.score, 4), citation=citation_for(s.chunk, places),
                    confidence=round(conf if n == 0 else conf * s.score / max(scored[0].score, 1e-9), 4))
                for n, s in enumerate(scored)]
        return Answer(question=text, found=bool(hits) and conf >= self.config.min_confidence,
                      hits=hits, confidence=round(conf, 4))


_tokenizers: dict[frozenset, Tokenizer] = {}
_tokenizers_lock = threading.Lock()


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


def citation_for(chunk: Chunk, places: dict[str, dict]) -> Citation:
    """The Citation of a passage: line ranges for text files; for other formats the chunk's
    'lines' are paragraph units (formats.py), turned into paragraphs, pages and paragraphs,
    slides, or sheet rows; text read by OCR also gets its regions on the page and its score."""
    entry = places.get(chunk.path, {})
    fmt = entry.get("format", "text")
    if fmt == "text":
        return Citation(source=chunk.source, path=chunk.path, lines=[tuple(r) for r in chunk.lines],
                        section=chunk.section)
    units = [u for a, b in chunk.lines for u in range(a, b + 1)]
    if entry.get("unit_rows"):
        rows = entry["unit_rows"]
        numbers = sorted({rows[u - 1] for u in units if 0 < u <= len(rows) and rows[u - 1]})
        return Citation(source=chunk.source, path=chunk.path, lines=[], section=chunk.section, format=fmt,
                        rows=_ranges(numbers))
    boxes = entry.get("ocr_boxes") or {}
    found = [boxes[str(u)] for u in units if str(u) in boxes]
    ocr = {"regions": _regions(found), "ocr_confidence": min(b[5] for b in found)} if found else {}
    if entry.get("page_starts"):
        starts = tuple(entry["page_starts"])
        per_page: dict[int, list[int]] = {}
        for unit in units:
            page, paragraph = page_and_paragraph(unit, starts)
            per_page.setdefault(page, []).append(paragraph)
        paragraphs = () if fmt == "pptx" else tuple((min(v), max(v)) for v in per_page.values())
        return Citation(source=chunk.source, path=chunk.path, lines=[], section=chunk.section, format=fmt,
                        pages=tuple(per_page), paragraphs=paragraphs, **ocr)
    return Citation(source=chunk.source, path=chunk.path, lines=[], section=chunk.section, format=fmt,
                    paragraphs=tuple(tuple(r) for r in chunk.lines))


def _ranges(numbers: list[int]) -> tuple[tuple[int, int], ...]:
    """Sorted numbers as inclusive runs: [3, 4, 5, 9] -> ((3, 5), (9, 9))."""
    out: list[list[int]] = []
    for n in numbers:
        if out and n == out[-1][1] + 1:
            out[-1][1] = n
        else:
            out.append([n, n])
    return tuple((a, b) for a, b in out)


def _regions(boxes: list[list]) -> tuple[tuple[int, float, float, float, float], ...]:
    """One box per page enclosing the passage's OCR boxes: (page, x0, y0, x1, y1) as page fractions."""
    per_page: dict[int, list[float]] = {}
    for page, x0, y0, x1, y1, *_ in boxes:
        r = per_page.get(page)
        per_page[page] = [x0, y0, x1, y1] if r is None else \
            [min(r[0], x0), min(r[1], y0), max(r[2], x1), max(r[3], y1)]
    return tuple((page, *r) for page, r in per_page.items())


def document_entry(doc: Document, passages: int) -> dict:
    """The manifest's record of one document: what `documents()` shows, plus the file's hash,
    its own terms (the index's dictionary is their union, so it can be updated file by file),
    where each page or slide starts, the sheet row of each unit, and OCR boxes and scores."""
    entry = {"path": doc.path, "title": doc.title, "format": doc.format, "sections": list(doc.sections),
             "passages": passages, "sha256": doc.sha256, "terms": corpus_terms([doc])}
    if doc.format in ("pdf", "image"):
        entry.update(pages=len(doc.page_starts), page_starts=list(doc.page_starts),
                     empty_pages=list(doc.empty_pages),
                     skipped_pages=[{"page": p, "reason": r} for p, r in doc.skipped_pages])
    elif doc.format == "pptx":
        entry.update(slides=len(doc.page_starts), page_starts=list(doc.page_starts))
    if doc.unit_rows:
        entry["unit_rows"] = list(doc.unit_rows)
    if doc.ocr_boxes:
        entry["ocr_boxes"] = {str(unit): list(rest) for unit, *rest in doc.ocr_boxes}
    return entry


def _reconstruct(index, ids: list[int]) -> np.ndarray | None:
    """Stored vectors for `ids` (n, dim), or None when the index kind cannot return them."""
    try:
        return stored_vectors(index, ids)
    except RuntimeError:
        return None


__all__ = ["QA"]

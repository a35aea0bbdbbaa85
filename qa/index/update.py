"""What an update changes: which files are kept, read or skipped, the new passages, which
vectors are reused and which texts must be embedded, and the manifest that records it all."""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..chunk import Chunk, chunk_documents
from ..errors import SourceError
from ..ingest import Document, read_isolated
from ..terms import corpus_terms
from .blocks import Blocks, index_blocks
from .vector_store import Build, VectorStore

log = logging.getLogger(__name__)

#: Layout of the manifest's document entries (per-file hash, terms, page map) that incremental
#: updates rely on; an index without it is rebuilt once.
KB_LAYOUT = 2


@dataclass(frozen=True)
class Plan:
    """An update worked out but not yet embedded or committed.

    Vectors are looked up by the text that was embedded, so passages that did not change (in a
    changed file, or repeated in another file) are never embedded twice: `todo` is what is left.
    """

    chunks: tuple[Chunk, ...]  # every passage of the new build, kept ones first
    new: tuple[Chunk, ...]  # passages of the files read now
    removed: np.ndarray  # ids of the base's passages that go
    reuse: dict[str, int]  # embedded text -> id of a base vector with that text
    todo: list[str]  # distinct texts to embed
    entries: dict[str, dict]  # manifest entry of every document, by path
    skipped: dict[str, dict]  # files that could not be read: {path: {sha256, reason}}
    report: dict


def plan_update(base: Build | None, hashes: dict[str, str], sources, strict: bool,
                parsed: dict[str, Document], block_chars: int) -> Plan:
    """Compare the files' hashes with the base build; read (in the parse worker) what is new or
    changed, and chunk it.

    Raises:
        SourceError: strict, and none of the sources could be read.
    """
    old_entries = {d["path"]: d for d in base.manifest["documents"]} if base else {}
    old_skipped = dict(base.manifest.get("skipped", {})) if base else {}
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
    new = tuple(chunk_documents(docs, block_chars))
    drop = set(old_entries) - set(keep)
    old_chunks = base.chunks if base else ()
    reuse = {c.embed_text: c.id for c in old_chunks}
    todo = list(dict.fromkeys(c.embed_text for c in new if c.embed_text not in reuse))
    kept = tuple(c for c in old_chunks if c.path not in drop)
    entries = {p: old_entries[p] for p in keep}
    passages = Counter(c.path for c in new)
    for d in docs:
        entries[d.path] = document_entry(d, passages[d.path])
    report = {"added": [p for p in read if p not in old_entries and p not in skipped],
              "updated": [p for p in read if p in old_entries and p not in skipped],
              "removed": sorted(p for p in drop if p not in entries),
              "skipped": [{"path": p, "reason": skipped[p]["reason"]} for p in read if p in skipped],
              "unchanged": len(keep), "embedded": len(todo), "reused": len(new) - len(todo)}
    removed = np.array([c.id for c in old_chunks if c.path in drop], dtype=np.int64)
    return Plan(chunks=kept + new, new=new, removed=removed, reuse=reuse, todo=todo, entries=entries,
                skipped=skipped, report=report)


def new_vectors(plan: Plan, base: Build | None, fresh: np.ndarray, dim: int) -> np.ndarray:
    """The vectors of `plan.new` (n, dim) float32: embedded now (`fresh`, in `plan.todo`'s order)
    or given back by the base build."""
    by_text = dict(zip(plan.todo, fresh, strict=True))
    reused = [c for c in plan.new if c.embed_text not in by_text]
    if reused:
        back = base.index.vectors(np.array([plan.reuse[c.embed_text] for c in reused], dtype=np.int64))
        by_text.update(zip((c.embed_text for c in reused), back, strict=True))
    return np.array([by_text[c.embed_text] for c in plan.new], dtype=np.float32).reshape(-1, dim)


def commit_plan(store: VectorStore, plan: Plan, base: Build | None, added: np.ndarray, manifest: dict,
                previous: Blocks | None) -> tuple[Build, Blocks]:
    """Index the new build's blocks and commit it (with their BM25 vectors if the store keeps
    them); returns the committed build and its blocks."""
    blocks = index_blocks(plan.chunks, frozenset(manifest["terms"]), previous)
    build = store.commit(manifest, plan.chunks, base.index if base else None, plan.removed,
                         np.array([c.id for c in plan.new], dtype=np.int64), added,
                         blocks.bm25.rows() if store.stores_sparse else None)
    return build, blocks


def manifest_for(plan: Plan, model: dict, settings: dict, sources, excluded, hashes: dict[str, str]) -> dict:
    """The manifest of the new build (the store adds its build name, counts and data files)."""
    documents = [plan.entries[p] for p in sorted(plan.entries)]
    return {
        "kb": KB_LAYOUT,
        "model": model,
        "settings": settings,
        "sources": [str(s) for s in sources],
        "excluded": sorted(excluded),
        "source_hashes": hashes,
        "files": {d["path"]: d["sha256"] for d in documents},
        "documents": documents,
        "skipped": plan.skipped,
        "terms": sorted(set().union(*(d["terms"] for d in documents))),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def document_entry(doc: Document, passages: int) -> dict:
    """The manifest's record of one document: what `QA.documents()` shows, plus the file's hash,
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

"""Which VectorStore a knowledge base uses: FAISS in the index folder (the default) or Milvus."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import StoreError
from .faiss_store import FaissStore
from .vector_store import VectorStore

KINDS = ("faiss", "milvus")


def open_store(kind: str | None, index_dir: Path, uri: str | None = None,
               name: str | None = None) -> VectorStore:
    """The store of a knowledge base.

    Args:
        kind: "faiss" or "milvus"; None for $QA_STORE or "faiss".
        index_dir: the index folder (FAISS keeps its builds there).
        uri: Milvus only: a file path for Milvus Lite (embedded) or http://host:19530 for a
            Milvus server; None for $QA_MILVUS_URI or <index_dir>/milvus.db.
        name: Milvus only: the prefix of the knowledge base's collections; None for
            $QA_MILVUS_COLLECTION or "qa".
    Raises:
        StoreError: an unknown kind, or Milvus without its client library.
    """
    kind = (kind or os.environ.get("QA_STORE") or "faiss").strip().lower()
    if kind == "faiss":
        return FaissStore(index_dir)
    if kind == "milvus":
        uri = uri or os.environ.get("QA_MILVUS_URI") or str(Path(index_dir) / "milvus.db")
        try:
            from .milvus_store import MilvusStore  # pymilvus is imported only for Milvus
        except ImportError as e:
            raise StoreError(f"the Milvus store needs pymilvus (and milvus-lite for a file URI): "
                             f"pip install pymilvus milvus-lite ({e})") from e
        return MilvusStore(uri, name or os.environ.get("QA_MILVUS_COLLECTION") or "qa")
    raise StoreError(f"unknown store {kind!r}: use one of {', '.join(KINDS)}")

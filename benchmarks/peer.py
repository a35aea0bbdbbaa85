"""The peer pipeline, run for real: LangChain's RecursiveCharacterTextSplitter + FAISS.from_texts,
embedding with the same encoder as the service (wrapped as a LangChain Embeddings class)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

#: Chinese-aware separators, coarsest first; the sentence ends stay with their sentence.
CHINESE_SEPARATORS = ["\n\n", "\n", "。", "！", "？", "；", "，", "、", " ", ""]
CHUNK_SIZE = 250
CHUNK_OVERLAP = 50


def _import_langchain():
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from langchain_community.vectorstores import FAISS
            from langchain_core.embeddings import Embeddings
            from langchain_text_splitters import RecursiveCharacterTextSplitter
    except ImportError as e:
        raise SystemExit(f"the peer needs LangChain: pip install -e \".[bench]\" ({e})") from e
    return FAISS, Embeddings, RecursiveCharacterTextSplitter


def encoder_embeddings(encoder):
    """Our SentenceTransformer as a LangChain Embeddings object (L2-normalised vectors)."""
    _, Embeddings, _ = _import_langchain()

    class EncoderEmbeddings(Embeddings):
        """Wraps a sentence-transformers encoder for LangChain."""

        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return np.asarray(encoder.encode(list(texts), batch_size=64, normalize_embeddings=True),
                              dtype=np.float32).tolist()

        def embed_query(self, text: str) -> list[float]:
            return np.asarray(encoder.encode([text], normalize_embeddings=True)[0], dtype=np.float32).tolist()

    return EncoderEmbeddings()


class Peer:
    """The peer: split the documents, embed the pieces, search FAISS (LangChain defaults: L2)."""

    def __init__(self, encoder, paths: list[Path]):
        FAISS, _, Splitter = _import_langchain()
        splitter = Splitter(separators=CHINESE_SEPARATORS, chunk_size=CHUNK_SIZE, chunk_overlap=CHUNK_OVERLAP,
                            keep_separator="end")
        texts = []
        for path in paths:
            texts.extend(splitter.split_text(Path(path).read_text(encoding="utf-8")))
        self.texts = texts
        self.store = FAISS.from_texts(texts, encoder_embeddings(encoder))

    def search(self, question: str, k: int = 3) -> tuple[list[str], float]:
        """Top-k texts and the best cosine (LangChain's FAISS returns squared L2: cos = 1 - d/2)."""
        found = self.store.similarity_search_with_score(question, k=k)
        if not found:
            return [], 0.0
        return [doc.page_content for doc, _ in found], 1.0 - float(found[0][1]) / 2.0

    def similarity_search(self, question: str, k: int = 3):
        """What a peer user calls per question (timed in the latency stage)."""
        return self.store.similarity_search(question, k=k)

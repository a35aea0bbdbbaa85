"""One frozen configuration with defaults; it is written into the index manifest."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path

#: Bumped whenever the on-disk layout or the meaning of a stored field changes.
#: 2: chunks carry their centre sentence and per-sentence lines; 3: one chunk per sentence, in blocks.
FORMAT_VERSION = 3

#: Identifier of the built-in embedder (Universal Sentence Encoder multilingual v3, shipped by pip).
DEFAULT_MODEL = "use-multilingual-v3"

#: The article shipped with the package, used when no sources are given.
BUILTIN_CORPUS = Path(__file__).parent / "data" / "xinjiangwan.txt"

#: Longest question accepted by `QA.ask` (characters, after cleaning).
MAX_QUESTION_CHARS = 2000


@dataclass(frozen=True)
class Config:
    """Settings that shape the index and the ranking.

    Fields that change the stored index (model, chunking) are compared with the manifest; a
    difference triggers a rebuild. Ranking fields only change query-time behaviour.
    """

    model: str = DEFAULT_MODEL
    query_prompt: str | None = None
    # Chunking: every sentence is embedded once; BM25 ranks blocks (paragraphs, long ones cut
    # into parts of at most block_chars); a passage is at most max_chars of whole sentences.
    block_chars: int = 1000
    max_chars: int = 310
    # Block ranking: see retrieve.block_scores for why BM25 is max-normalised and the cosine raw.
    sparse_weight: float = 1.0
    # 0.5 / 1.0 / 1.25 / 1.5 / 2.0 on CMRC+DRCD as one knowledge base: CMRC hit@1 0.928 / 0.932 /
    # 0.933 / 0.935 / 0.931, DRCD 0.944 / 0.947 / 0.949 / 0.950 / 0.947; 1.5 put a paraphrase above
    # the spreadsheet row a question names (tests/test_slides_sheets.py), 1.25 does not
    dense_weight: float = 1.25
    # A question in another script than the corpus (English about a Chinese text) reaches BM25
    # only through dictionary translations, so its cosine weighs more (retrieve.Retriever.search).
    cross_lingual_dense_weight: float = 3.0
    # No-answer: a hit is "found" when its confidence reaches this value.
    min_confidence: float = 0.4
    # No-answer: the best passage must hold the kind of answer asked (a number for 多少, a date for
    # 哪一年) and the question name no proper noun (CC-CEDICT's: 深圳, 清华大学) the knowledge base
    # never mentions (qa.answerable); otherwise the answer keeps UNANSWERED_SHARE of its confidence.
    answer_checks: bool = True

    def index_settings(self) -> dict:
        """The fields that, when changed, make a stored index stale."""
        return {"model": self.model, "block_chars": self.block_chars}

    def as_dict(self) -> dict:
        return asdict(self)

    def with_changes(self, **changes) -> Config:
        return replace(self, **changes)


def config_from_env(**overrides) -> Config:
    """Config with `QA_EMBEDDING_MODEL` / `QA_QUERY_PROMPT` applied, then explicit overrides."""
    env = {}
    if os.environ.get("QA_EMBEDDING_MODEL"):
        env["model"] = os.environ["QA_EMBEDDING_MODEL"]
    if os.environ.get("QA_QUERY_PROMPT") is not None and "QA_QUERY_PROMPT" in os.environ:
        env["query_prompt"] = os.environ["QA_QUERY_PROMPT"]
    env.update({k: v for k, v in overrides.items() if v is not None})
    return Config(**env)


def default_index_dir() -> Path:
    """`QA_INDEX_DIR` if set, else ./index in the working directory."""
    return Path(os.environ.get("QA_INDEX_DIR") or Path.cwd() / "index")

#: Below this OCR score a passage is marked low-confidence (Citation.low_confidence).
LOW_OCR_CONFIDENCE = 0.8

#: Most passages one question returns (API, REST, CLI and the app).
MAX_K = 50

#: Seconds an upload (REST or browser) may spend embedding before it is refused (IndexTimeError):
#: 1M characters, the upload cap, embed in 2-3 minutes on a quiet 2-core machine (~7,000 characters/s
#: in benchmarks/results/latest.json), so this leaves room for a busy one.
MAX_EMBED_SECONDS = float(os.environ.get("QA_MAX_EMBED_SECONDS") or 600)

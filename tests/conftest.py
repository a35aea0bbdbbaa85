"""Shared fixtures: the real default embedder and the built-in index, built once per session."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def encoder():
    from qa.embed import load_encoder
    return load_encoder()


@pytest.fixture(scope="session")
def builtin_index_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("builtin-index")


@pytest.fixture(scope="session")
def qa_builtin(encoder, builtin_index_dir):
    """QA over the built-in article, index in a session temp folder."""
    from qa import QA
    return QA(index_dir=builtin_index_dir)


@pytest.fixture(scope="session")
def dev_questions():
    """The shared development questions, if present beside the project (skipped otherwise)."""
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "shared" / "eval" / "dev.jsonl"
    if not path.exists():
        pytest.skip("../shared/eval/dev.jsonl not found")
    from qa.evaluate import load_questions
    return load_questions(path)

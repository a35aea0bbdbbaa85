"""Shared fixtures: the real default embedder and the built-in index, built once per session."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def encoder():
    from qa.index.embed import load_encoder
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


@pytest.fixture(scope="session")
def launch_local():
    """A function that starts a Gradio demo in this process on a free loopback port and returns
    its URL (no share link, no monitoring); the caller closes the demo."""
    import socket

    def launch(demo, **options) -> str:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                    share=False, enable_monitoring=False, ssr_mode=False, **options)
        return demo.local_url

    return launch


@pytest.fixture(scope="session")
def small_kb(encoder, tmp_path_factory):
    """A function (file name, text) -> QA over that one document in a temporary index, uploads
    going to <tmp>/kb: never the real index."""
    from qa import QA

    def make(name: str, text: str):
        root = tmp_path_factory.mktemp("kb")
        source = root / "sources" / name
        source.parent.mkdir()
        source.write_text(text, encoding="utf-8")
        return QA(sources=[source], index_dir=root / "index", kb_dir=root / "kb")

    return make


@pytest.fixture(scope="module")
def serve_app():
    """A function that serves a FastAPI app (qa.serve.rest.create_app) with uvicorn in a thread on a
    free loopback port and returns its base URL; the servers stop when the module's tests end."""
    import threading
    import time

    from qa.serve.rest import build_server

    running = []

    def serve(app) -> str:
        server = build_server(app, log_level="warning")
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        running.append((server, thread))
        deadline = time.monotonic() + 30
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
            time.sleep(0.05)
        return f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"

    yield serve
    for server, thread in running:
        server.should_exit = True
        thread.join(timeout=10)

"""Launch the Gradio chat app and the REST API: parse the flags, open the index, build the UI, serve."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
import time

# Before gradio is imported: it reads this once, at import time.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402

from qa import QA, QAError  # noqa: E402
from qa.errors import UnsafeBindError  # noqa: E402
from qa.ingest import warm as start_parse_worker  # noqa: E402
from qa.serve.rest import serve  # noqa: E402
from qa.serve.settings import is_loopback  # noqa: E402
from qa.serve.ui import build_demo  # noqa: E402
from qa.serve.ui_page import page_options  # noqa: E402
from qa.serve.uploads import MAX_UPLOAD_BYTES  # noqa: E402


def launch(demo: gr.Blocks, host: str, port: int, qa: QA | None = None) -> None:
    """Serve the demo at / and the REST API at /api (docs: /docs) from one uvicorn process (blocks
    until stopped). The one place that decides how the app is served."""
    try:
        # Not demo.launch(): its queue costs ~170 ms a question; /api/ask calls the engine directly.
        options = {**page_options(), "show_error": False, "ssr_mode": False,
                   "enable_monitoring": False, "max_file_size": MAX_UPLOAD_BYTES}
        serve(qa, demo, host, port, gradio_options=options)
    except UnsafeBindError as e:
        raise SystemExit(f"error: {e}") from None


def parse_args(argv=None) -> argparse.Namespace:
    """--host/--port/--index-dir; host and port default to GRADIO_SERVER_NAME/GRADIO_SERVER_PORT."""
    parser = argparse.ArgumentParser(description="文档问答：Gradio chat app over the indexed documents.")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME") or "127.0.0.1",
                        help="address to bind (default: $GRADIO_SERVER_NAME or 127.0.0.1)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT") or 7860),
                        help="port (default: $GRADIO_SERVER_PORT or 7860)")
    parser.add_argument("--index-dir", default=None, help="index folder (default: $QA_INDEX_DIR or ./index)")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    started = time.perf_counter()
    # Progress on the console while nothing answers yet: a first start embeds every passage.
    print("正在加载模型和索引（第一次启动要为所有段落建立索引，约半分钟；进度见下）…", flush=True)
    try:
        qa = QA(index_dir=args.index_dir)  # model and index load once, here
    except QAError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    # The document parser's worker process starts now, not on the first upload.
    threading.Thread(target=start_parse_worker, name="qa-parse-warm", daemon=True).start()
    built = f"新建索引用时 {qa.build_seconds:.1f} s，" if qa.build_seconds is not None else ""
    print(f"索引就绪：{len(qa.documents())} 篇文档，{len(qa.chunks)} 个段落（{built}"
          f"到此共 {time.perf_counter() - started:.1f} s）。正在启动网页…", flush=True)
    # The page has no login: uploads and removals only while no other machine can reach it, and
    # never on a read-only replica (QA_REPLICA=1).
    launch(build_demo(qa, writable=is_loopback(args.host) and not qa.replica), args.host, args.port, qa=qa)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Load stage: start `python app.py`, send questions from concurrent gradio_client clients to /ask."""

from __future__ import annotations

import os
import queue
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from .stats import percentile_ms

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(url: str, proc: subprocess.Popen, timeout: float):
    from gradio_client import Client

    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"app.py exited with code {proc.returncode}")
        try:
            return Client(url, verbose=False)
        except Exception as e:  # noqa: BLE001 - not up yet: connection refused, 502, ...
            last = e
            time.sleep(1)
    raise RuntimeError(f"app.py did not answer on {url} within {timeout:.0f} s ({last})")


def run_load(questions: list[str], total: int = 200, clients: int = 16, startup_timeout: float = 180) -> dict:
    """p50/p99 latency and errors of `total` /ask calls from `clients` threads, each its own Client.

    Returns {"skipped": reason} when app.py is missing.
    """
    app = ROOT / "app.py"
    if not app.exists():
        return {"skipped": "app.py not found (not written yet); re-run this stage once it exists"}
    try:
        from gradio_client import Client
    except ImportError:
        return {"skipped": "gradio_client is not installed: pip install -e \".[test]\""}
    port = _free_port()
    url = f"http://127.0.0.1:{port}/"
    with tempfile.TemporaryDirectory(prefix="qa-bench-load-") as tmp:
        env = dict(os.environ, GRADIO_ANALYTICS_ENABLED="False", HF_HUB_OFFLINE="1")
        log = open(Path(tmp) / "app.log", "w")
        cmd = [sys.executable, str(app), "--port", str(port), "--index-dir", str(Path(tmp) / "index")]
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            start = time.monotonic()
            _wait_for(url, proc, startup_timeout)
            startup = time.monotonic() - start
            work: queue.Queue = queue.Queue()
            for n in range(total):
                work.put(questions[n % len(questions)])
            times: list[float] = []
            errors: list[str] = []
            lock = threading.Lock()

            def client_loop():
                client = Client(url, verbose=False)
                while True:
                    try:
                        q = work.get_nowait()
                    except queue.Empty:
                        return
                    t = time.perf_counter()
                    try:
                        client.predict(q, api_name="/ask")
                        ok, err = True, None
                    except Exception as e:  # noqa: BLE001 - every failure counts as an error
                        ok, err = False, f"{type(e).__name__}: {e}"[:200]
                    with lock:
                        (times.append(time.perf_counter() - t) if ok else errors.append(err))

            wall = time.perf_counter()
            threads = [threading.Thread(target=client_loop) for _ in range(clients)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            wall = time.perf_counter() - wall
        except RuntimeError as e:
            log.flush()
            tail = (Path(tmp) / "app.log").read_text(errors="replace").strip().splitlines()[-3:]
            return {"skipped": f"{e}; app log: {' | '.join(tail)}"}
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
            log.close()
    return {"requests": total, "clients": clients, "ok": len(times), "errors": len(errors),
            "error_examples": sorted(set(errors))[:3], "startup_s": round(startup, 1),
            "p50_ms": percentile_ms(times, 50) if times else None,
            "p99_ms": percentile_ms(times, 99) if times else None,
            "throughput_qps": round(len(times) / wall, 2)}

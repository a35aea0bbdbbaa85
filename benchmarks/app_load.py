"""Start-up time of `python app.py` and latency of a concurrent burst against /ask and /chat.

    python benchmarks/app_load.py [--index-dir DIR] [--clients 16] [--per-client 4]

Starts the app in a subprocess on a free port (the index is built first, so start-up measures
loading, not building), times until the page answers, then sends the burst through gradio_client.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
# Written for this benchmark about the built-in article; not taken from any evaluation set.
QUESTIONS = [
    "雍景苑小区的停车管理条例是怎么制定的？", "林路担任过什么职务？", "江湾国际公寓为什么要安装门禁系统？",
    "“一三角”是哪三方之间的关系？", "新江湾城街道在哪个区？", "What did the expert committee change?",
    "睦邻中心开发了哪些课程？", "怎样给自行车的内胎补漏气？",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def burst(url: str, api_name: str, clients: int, per_client: int) -> dict:
    from gradio_client import Client

    pool_clients = [Client(url, verbose=False) for _ in range(clients)]

    def run(n: int) -> list[float]:
        times = []
        for i in range(per_client):
            question = QUESTIONS[(n + i) % len(QUESTIONS)]
            args = (question,) if api_name == "/ask" else (question, [])
            start = time.perf_counter()
            result = pool_clients[n].predict(*args, api_name=api_name)
            times.append(time.perf_counter() - start)
            assert result, f"empty result for {question}"
        return times

    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        times = [t for batch in pool.map(run, range(clients)) for t in batch]
    wall = time.perf_counter() - start
    return {"endpoint": api_name, "questions": len(times), "clients": clients, "wall_s": round(wall, 2),
            "p50_s": round(statistics.median(times), 3), "p99_s": round(percentile(times, 0.99), 3),
            "max_s": round(max(times), 3)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index-dir", default=str(ROOT / "index"))
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--per-client", type=int, default=4)
    parser.add_argument("--settle", type=float, default=10.0, help="seconds to wait for the warm-up")
    args = parser.parse_args(argv)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    subprocess.run([sys.executable, "-c", f"from qa import QA; QA(index_dir={args.index_dir!r})"],
                   check=True, env=env, cwd=ROOT)
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "app.py", "--port", str(port), "--index-dir", args.index_dir],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                if httpx.get(url, timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.perf_counter() - start > 120:
                raise SystemExit("the app did not start")
            time.sleep(0.2)
        ready = time.perf_counter() - start
        time.sleep(args.settle)
        report = {"startup_to_page_ready_s": round(ready, 2),
                  "load_average": os.getloadavg(),
                  "sequential": burst(url, "/ask", 1, 2 * len(QUESTIONS)),
                  "bursts": [burst(url, "/ask", args.clients, args.per_client),
                             burst(url, "/chat", args.clients, args.per_client)]}
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

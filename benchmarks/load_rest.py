"""Load test of POST /api/ask on a real server: sequential and 16 concurrent clients vs in-process ask().

Usage:
    python benchmarks/load_rest.py                 # starts `python app.py` on a free port, measures, stops it
    python benchmarks/load_rest.py --url http://127.0.0.1:7860   # measure a server that is already running
    python benchmarks/load_rest.py --synthetic 4   # the REST layer alone, over an engine that takes 4 ms
    python benchmarks/load_rest.py --encoder-threads 1   # experiment: one BLAS thread per query

Steps: (1) sequential: ask() in this process and /api/ask over one keep-alive connection, call by
call in turn (so load from other programs weighs on both alike): the two medians; (2) how many
ask() calls one thread completes per second, back to back, before and after (3); (3) concurrent: N
clients in a closed loop for D seconds with wrk (C, from Debian) or, without wrk, an async httpx
client: p50/p99 latency, requests/s and errors.
Every loop is bounded in count and time and targets 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[1]

# Our own questions about the built-in article (none from the shared evaluation set).
QUESTIONS = [
    "新江湾城街道的“三驾马车”指的是哪三方？",
    "江湾国际公寓的业委会主任叫什么名字？",
    "雍景苑小区后来怎样处理随意停车的居民？",
    "“业委会规范化建设委员”能在什么情况下提供支持？",
    "党建引领功能实体化建设包括哪些框架结构？",
    "居民区党组织如何协调业委会和物业之间的矛盾？",
    "林路交叉任职到了哪个组织？",
    "What does the street office do when residents ignore parking rules?",
    "How many residents agreed to the parking regulations?",
    "新江湾城街道属于上海哪个区？",
    "“四平台”是做什么用的？",
    "小区物业管理遇到突发事件时谁来帮忙？",
]


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ----- (1) in-process baseline -----

class SyntheticQA:
    """Stand-in engine that spends a fixed CPU time per question holding the GIL (the worst case for
    a thread pool), then answers like the real one: isolates the REST layer's cost from the engine's."""

    build_seconds = None
    chunks = ()
    manifest = {"model": {"id": "synthetic", "dimension": 0}}

    def __init__(self, ms: float):
        from qa.answer import Answer, Citation, Hit

        self.seconds = ms / 1000
        citation = Citation(source="杨浦区新江湾城街道率先探索党建引领功能实体化建设", path="xinjiangwan.txt",
                            lines=[(43, 43), (45, 45)], section="明责,增能,赋权,落实党建引领功能实体化建设")
        text = "几年前,雍景苑小区出现过停车管理难题。由党组织牵头,党支部、业委会、居委会群策群力。" * 3
        self.hit = Hit(text=text, score=0.8, citation=citation, confidence=0.9)
        self.answer = Answer

    def documents(self):
        return []

    def ask(self, question, k=3):
        end = time.thread_time() + self.seconds
        while time.thread_time() < end:  # pure Python: holds the GIL throughout
            pass
        return self.answer(question=question, found=True, hits=[self.hit] * k, confidence=0.9)


def load_engine(index_dir: Path, synthetic_ms: float | None, encoder_threads: int | None = None):
    if synthetic_ms is not None:
        return SyntheticQA(synthetic_ms)
    from qa import QA

    qa = QA(index_dir=index_dir)
    if encoder_threads:
        # Experiment knob, not a setting of the engine: the built-in USE encoder runs each query on
        # min(4, cores) BLAS threads; this sets its numpy backend's count (private attribute).
        qa.ask("热身")  # the backend is created on first use
        backend = getattr(getattr(qa.encoder[0], "use", None), "_backend", None)
        if backend is None or not hasattr(backend, "threads"):
            raise SystemExit("--encoder-threads: this engine has no USE numpy backend to set")
        backend.threads = encoder_threads
    return qa


def ask_loop(qa, seconds: float) -> dict:
    """How many ask() calls one thread completes per second, back to back, and the CPU each takes."""
    done, start, cpu = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - start < seconds:
        qa.ask(QUESTIONS[done % len(QUESTIONS)], k=3)
        done += 1
    elapsed = time.perf_counter() - start
    # process_time counts every thread of this process, the engine's BLAS threads included.
    cpu_ms = (time.process_time() - cpu) / done * 1000
    return {"calls": done, "per_s": done / elapsed, "cpu_ms_per_call": cpu_ms}


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc), all its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ----- (2) sequential: in-process and HTTP, interleaved -----

def body(i: int, k: int = 3) -> bytes:
    return json.dumps({"question": QUESTIONS[i % len(QUESTIONS)], "k": k}, ensure_ascii=False).encode()


def sequential(qa, url: str, n: int) -> dict:
    """Median latency of ask() in-process and of /api/ask over one keep-alive connection.

    The two alternate call by call, so other work on the machine weighs on both alike.
    """
    parsed = urlparse(url)
    conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)
    headers = {"Content-Type": "application/json"}
    local, remote, errors = [], [], 0
    for i in range(n + 20):
        start = time.perf_counter()
        qa.ask(QUESTIONS[i % len(QUESTIONS)], k=3)
        middle = time.perf_counter()
        conn.request("POST", "/api/ask", body=body(i), headers=headers)  # http.client: the lightest client
        response = conn.getresponse()
        payload = response.read()
        end = time.perf_counter()
        if response.status != 200 or not json.loads(payload)["hits"]:
            errors += 1
        if i >= 20:  # the first calls warm up lazy imports, caches and the server's pool
            local.append(middle - start)
            remote.append(end - middle)
    conn.close()
    return {"in_process_median_ms": statistics.median(local) * 1000,
            "in_process_p99_ms": percentile(local, 99) * 1000,
            "http_median_ms": statistics.median(remote) * 1000, "http_p99_ms": percentile(remote, 99) * 1000,
            "calls": n, "errors": errors}


# ----- (3) concurrent clients -----

WRK_SCRIPT = """
local bodies = {%s}
local n = 0
request = function()
  n = n + 1
  return wrk.format("POST", "/api/ask", {["Content-Type"] = "application/json"}, bodies[(n %% #bodies) + 1])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRKJSON {"requests": %%d, "duration_us": %%d, "connect": %%d, "read": %%d, ' ..
    '"write": %%d, "status": %%d, "timeout": %%d, "p50_us": %%d, "p90_us": %%d, "p99_us": %%d, ' ..
    '"max_us": %%d}\\n', summary.requests, summary.duration, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
"""


def concurrent_wrk(url: str, clients: int, seconds: float) -> dict:
    # Raw UTF-8 in the Lua literals: LuaJIT has no \u escapes.
    lua_bodies = ", ".join(json.dumps(body(i).decode(), ensure_ascii=False) for i in range(len(QUESTIONS)))
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(WRK_SCRIPT % lua_bodies)
    try:
        # One wrk thread: it is C and light, and every core it takes is one the server does not get.
        run = subprocess.run(["wrk", "-t1", f"-c{clients}", f"-d{int(seconds)}s", "--timeout", "10s",
                              "-s", f.name, url], capture_output=True, text=True, timeout=seconds + 60)
    finally:
        os.unlink(f.name)
    found = re.search(r"WRKJSON (\{.*\})", run.stdout)
    if run.returncode != 0 or not found:
        raise SystemExit(f"wrk failed ({run.returncode}):\n{run.stdout}\n{run.stderr}")
    data = json.loads(found.group(1))
    errors = data["connect"] + data["read"] + data["write"] + data["status"] + data["timeout"]
    return {"tool": "wrk 1 thread", "clients": clients, "requests": data["requests"],
            "per_s": data["requests"] / (data["duration_us"] / 1e6), "p50_ms": data["p50_us"] / 1000,
            "p90_ms": data["p90_us"] / 1000, "p99_ms": data["p99_us"] / 1000, "max_ms": data["max_us"] / 1000,
            "errors": errors, "error_detail": {k: data[k] for k in ("connect", "read", "write", "status",
                                                                   "timeout")}}


def concurrent_httpx(url: str, clients: int, seconds: float) -> dict:
    import httpx

    async def run() -> dict:
        latencies: list[float] = []
        errors = 0
        limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
        async with httpx.AsyncClient(base_url=url, timeout=10, limits=limits) as client:
            stop = time.perf_counter() + seconds

            async def worker(w: int):
                nonlocal errors
                i = w
                while time.perf_counter() < stop:
                    start = time.perf_counter()
                    try:
                        r = await client.post("/api/ask", content=body(i),
                                              headers={"Content-Type": "application/json"})
                        if r.status_code != 200:
                            errors += 1
                    except httpx.HTTPError:
                        errors += 1
                    latencies.append(time.perf_counter() - start)
                    i += clients

            began = time.perf_counter()
            await asyncio.gather(*(worker(w) for w in range(clients)))
            elapsed = time.perf_counter() - began
        return {"tool": "httpx async", "clients": clients, "requests": len(latencies),
                "per_s": len(latencies) / elapsed, "p50_ms": percentile(latencies, 50) * 1000,
                "p90_ms": percentile(latencies, 90) * 1000, "p99_ms": percentile(latencies, 99) * 1000,
                "max_ms": max(latencies) * 1000, "errors": errors}

    return asyncio.run(run())


# ----- driver -----

def serve_alone(port: int, index_dir: Path, synthetic_ms: float | None, encoder_threads: int | None) -> None:
    """The REST app without the Gradio page (child process for --synthetic and --encoder-threads)."""
    from qa.serve.rest import serve

    serve(load_engine(index_dir, synthetic_ms, encoder_threads), None, "127.0.0.1", port)


def start_server(index_dir: Path, port: int, synthetic_ms: float | None,
                 encoder_threads: int | None) -> subprocess.Popen:
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1"}
    if synthetic_ms is None and encoder_threads is None:
        command = [sys.executable, str(ROOT / "app.py"), "--host", "127.0.0.1", "--port", str(port),
                   "--index-dir", str(index_dir)]
    else:
        command = [sys.executable, __file__, "--serve-alone", str(port), "--index-dir", str(index_dir)]
        command += ["--synthetic", str(synthetic_ms)] if synthetic_ms is not None else []
        command += ["--encoder-threads", str(encoder_threads)] if encoder_threads else []
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited early:\n{proc.stderr.read()}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/api/health")
            if conn.getresponse().status == 200:
                return proc
        except OSError:
            pass
        time.sleep(0.5)
    proc.kill()
    raise SystemExit("server did not become ready in 180 s")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="measure this running server instead of starting app.py")
    parser.add_argument("--index-dir", type=Path, default=Path(tempfile.gettempdir()) / "qa-load-rest-index")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=20, help="length of the concurrent run")
    parser.add_argument("-n", type=int, default=300, help="sequential calls (in-process and HTTP)")
    parser.add_argument("--tool", choices=["auto", "wrk", "httpx"], default="auto")
    parser.add_argument("--synthetic", type=float, metavar="MS",
                        help="measure the REST layer alone: an engine that burns MS ms of CPU per question")
    parser.add_argument("--encoder-threads", type=int, metavar="N",
                        help="experiment: BLAS threads per query for the built-in encoder, in this process "
                             "and in the server (then started without the Gradio page)")
    parser.add_argument("--serve-alone", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=None,
                        help="JSON report (default: benchmarks/results/rest.json or rest-synthetic.json)")
    args = parser.parse_args(argv)
    if args.serve_alone:
        serve_alone(args.serve_alone, args.index_dir, args.synthetic, args.encoder_threads)
        return 0
    if args.out is None:
        name = ("rest-synthetic" if args.synthetic is not None
                else f"rest-encoder-threads-{args.encoder_threads}" if args.encoder_threads else "rest")
        args.out = ROOT / "benchmarks" / "results" / f"{name}.json"
    tool = args.tool if args.tool != "auto" else ("wrk" if shutil.which("wrk") else "httpx")

    load_before = os.getloadavg()[0]
    qa = load_engine(args.index_dir, args.synthetic, args.encoder_threads)
    proc = None
    try:
        if args.url:
            url = args.url.rstrip("/")
        else:
            port = free_port()
            print(f"starting the server on port {port} …", flush=True)
            proc = start_server(args.index_dir, port, args.synthetic, args.encoder_threads)
            url = f"http://127.0.0.1:{port}"
        print(f"sequential: {args.n} in-process ask() and {args.n} /api/ask, alternating …", flush=True)
        seq = sequential(qa, url, args.n)
        # The single-thread loop runs before and after the concurrent run; their mean is the baseline.
        loop_seconds = min(args.seconds / 2, 10)
        before = ask_loop(qa, loop_seconds)
        print(f"{args.clients} concurrent clients for {args.seconds:.0f} s with {tool} …", flush=True)
        cpu = process_cpu_seconds(proc.pid) if proc is not None else None
        conc = (concurrent_wrk if tool == "wrk" else concurrent_httpx)(url, args.clients, args.seconds)
        if cpu is not None:
            # CPU per request barely depends on what else runs on the machine, unlike the timings.
            used = process_cpu_seconds(proc.pid) - cpu
            conc["server_cpu_ms_per_request"] = used / conc["requests"] * 1000
        after = ask_loop(qa, loop_seconds)
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
    loop_per_s = (before["per_s"] + after["per_s"]) / 2

    report = {
        "engine": ("real" if args.synthetic is None else f"synthetic {args.synthetic} ms CPU (GIL held)")
                  + (f", encoder on {args.encoder_threads} BLAS thread(s)" if args.encoder_threads else ""),
        "server": "app.py" if args.synthetic is None and not args.encoder_threads else "REST app alone",
        # Other work on the machine inflates every figure: the 1-minute load average says how much.
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "load_avg_before": load_before, "load_avg_after": os.getloadavg()[0]},
        "sequential": seq,
        "in_process_loop": {"before": before, "after": after, "per_s": loop_per_s,
                            "cpu_ms_per_call": (before["cpu_ms_per_call"] + after["cpu_ms_per_call"]) / 2},
        "concurrent_http": conc,
        "overhead_ms": seq["http_median_ms"] - seq["in_process_median_ms"],
        "throughput_ratio": conc["per_s"] / loop_per_s,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")

    ok = lambda good: "ok" if good else "MISSED"  # noqa: E731
    print(f"\nin-process ask(): median {seq['in_process_median_ms']:.2f} ms; "
          f"one thread {loop_per_s:.1f} asks/s")
    print(f"sequential /api/ask: median {seq['http_median_ms']:.2f} ms (+{report['overhead_ms']:.2f} ms; "
          f"target <= +10 ms: {ok(report['overhead_ms'] <= 10)}), errors {seq['errors']}")
    print(f"{conc['clients']} clients ({conc['tool']}): {conc['per_s']:.1f} req/s, "
          f"p50 {conc['p50_ms']:.1f} ms, "
          f"p99 {conc['p99_ms']:.1f} ms (target <= 150: {ok(conc['p99_ms'] <= 150)}), "
          f"errors {conc['errors']} (target 0: {ok(conc['errors'] == 0 and seq['errors'] == 0)})")
    print(f"throughput ratio {report['throughput_ratio']:.2f} (target >= 0.70: "
          f"{ok(report['throughput_ratio'] >= 0.7)})")
    if "server_cpu_ms_per_request" in conc:
        print(f"CPU: {report['in_process_loop']['cpu_ms_per_call']:.2f} ms per in-process ask(), "
              f"{conc['server_cpu_ms_per_request']:.2f} ms per request in the server")
    print(f"load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after; written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

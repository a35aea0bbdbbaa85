"""Latency stage: ask() against a bare encoder.encode([q]), the peer's similarity_search and (for
the built-in model) the model alone (the USE library's own encode), interleaved in one process so that machine
load hits all of them alike; and a breakdown of ask()."""

from __future__ import annotations

import time

from .stats import percentile_ms


def _timed(fn, arg) -> float:
    start = time.perf_counter()
    fn(arg)
    return time.perf_counter() - start


def run_latency(qa, peer, questions: list[str], rounds: int) -> dict:
    """p50/p99 in ms per path and the ratios; every question once per round, order rotated."""
    paths = {
        "ask": lambda q: qa.ask(q, k=3),
        "encode": lambda q: qa.encoder.encode([q]),
        "peer": lambda q: peer.similarity_search(q, k=3),
    }
    model = getattr(qa.encoder[0], "encode_one", None)
    if model is not None:  # the model alone, as ask() calls it (no sentence-transformers)
        paths["model"] = model
    for q in questions[:5]:  # warm-up: caches, lazy imports, first-call allocations
        for fn in paths.values():
            fn(q)
    times: dict[str, list[float]] = {name: [] for name in paths}
    names = list(paths)
    for r in range(rounds):
        for n, q in enumerate(questions):
            shift = (r + n) % len(names)
            for name in names[shift:] + names[:shift]:
                times[name].append(_timed(paths[name], q))
    out = {name: {"p50_ms": percentile_ms(t, 50), "p99_ms": percentile_ms(t, 99), "n": len(t)}
           for name, t in times.items()}
    out["ask_over_encode"] = round(out["ask"]["p50_ms"] / out["encode"]["p50_ms"], 3)
    out["ask_over_peer"] = round(out["ask"]["p50_ms"] / out["peer"]["p50_ms"], 3)
    out["ask_over_encode_p99"] = round(out["ask"]["p99_ms"] / out["encode"]["p99_ms"], 3)
    if "model" in out:
        out["ask_over_model"] = round(out["ask"]["p50_ms"] / out["model"]["p50_ms"], 3)
    out["breakdown"] = ask_breakdown(qa, questions)
    return out


def ask_breakdown(qa, questions: list[str], repeats: int = 3) -> dict:
    """Where ask() spends its time, from cProfile: cumulative ms per call of its main parts."""
    import cProfile
    import pstats

    profile = cProfile.Profile()
    profile.enable()
    for _ in range(repeats):
        for q in questions:
            qa.ask(q, k=3)
    profile.disable()
    calls = repeats * len(questions)
    stats = pstats.Stats(profile).stats
    wanted = {"encode_query": "engine.py", "search": "retrieve.py", "dense_candidates": "retrieve.py",
              "scores": "sparse.py", "coverage": "sparse.py", "query_tokens": "terms.py",
              "ask": "engine.py"}
    out = {}
    for (path, _, func), (_, _, _, cumulative, _) in stats.items():
        if func in wanted and path.endswith(wanted[func]):
            out[f"{wanted[func].removesuffix('.py')}.{func}"] = round(cumulative / calls * 1000, 3)
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))

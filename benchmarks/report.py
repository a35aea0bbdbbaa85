"""Targets, the Markdown table and the PNG plot from a benchmark result dict."""

from __future__ import annotations

import math
from pathlib import Path

QUALITY_METRICS = ("hit@1", "hit@3", "mrr", "cross_lingual_hit@3")
SYSTEMS = ("ours", "peer", "bm25", "dense")


def _no_answer(m: dict) -> float | None:
    return m.get("no_answer", {}).get("rejected")


def growth_slope(rows: list[dict], key: str = "query_p50_ms") -> float | None:
    """Log-log slope of `key` against chunks from the smallest to the largest size (< 1: sub-linear)."""
    ok = [r for r in rows if key in r]
    if len(ok) < 2 or ok[0][key] <= 0:
        return None
    a, b = ok[0], ok[-1]
    return round(math.log(b[key] / a[key]) / math.log(b["chunks"] / a["chunks"]), 3)


def targets(result: dict) -> dict:
    """Each target of the issue with its value and whether it is met (None: not measured)."""
    out: dict = {}
    q = result.get("quality") or {}
    if "ours" in q and "peer" in q:
        for m in QUALITY_METRICS:
            ours, peer = q["ours"].get(m), q["peer"].get(m)
            if ours is None or peer is None:
                continue
            out[f"quality {m} ahead of peer"] = {"value": f"{ours:.3f} vs {peer:.3f}",
                                                 "met": ours > peer or (ours == peer == 1.0),
                                                 "note": "tie at 1.0" if ours == peer == 1.0 else ""}
        ours, peer = _no_answer(q["ours"]), _no_answer(q["peer"])
        if ours is not None and peer is not None:
            out["quality no-answer ahead of peer"] = {
                "value": f"{ours:.3f} vs {peer:.3f} rejected (calibrated threshold)",
                "met": ours > peer or (ours == peer == 1.0),
                "note": "tie at 1.0" if ours == peer == 1.0 else ""}
    lat = result.get("latency") or {}
    if "ask_over_encode" in lat:
        out["ask() <= 1.25x bare encode (p50)"] = {"value": lat["ask_over_encode"],
                                                   "met": lat["ask_over_encode"] <= 1.25}
        out["ask() faster than the peer's query (p50)"] = {"value": lat["ask_over_peer"],
                                                           "met": lat["ask_over_peer"] < 1.0}
    build = result.get("build") or {}
    if "over_encode" in build:
        out["build >= 0.8x bare encoder throughput"] = {"value": build["over_encode"],
                                                        "met": build["over_encode"] >= 0.8}
    rows = [r for r in result.get("growth") or [] if "error" not in r]
    if rows:
        approx = [r for r in rows if r["index"] != "flat"]
        if approx:
            worst = min(r["recall@10"] for r in approx)
            out["recall@10 >= 0.95 where approximate"] = {"value": worst, "met": worst >= 0.95}
        slope = growth_slope(rows)
        if slope is not None:
            out["sub-linear query latency (log-log slope < 1)"] = {"value": slope, "met": slope < 1}
        top = rows[-1]
        if top["chunks"] >= 1_000_000:
            out["1M: dense search p50 < 10 ms"] = {"value": top["dense_p50_ms"],
                                                   "met": top["dense_p50_ms"] < 10}
            whole = top.get("query_p50_ms")
            out["1M: dense+BM25+fusion p50 < 50 ms"] = {
                "value": whole if whole is not None else top.get("sparse_error", "not measured"),
                "met": whole is not None and whole < 50}
    return out


def _fmt(v) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.3f}" if abs(v) < 10 else f"{v:,.1f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def _table(header: list[str], rows: list[list]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(_fmt(c) for c in row) + " |" for row in rows] + [""]


QUALITY_HEADER = ["system", "hit@1", "hit@3", "MRR", "cross-lingual hit@3", "no-answer rejected",
                  "answerable accepted"]
SYSTEM_NAMES = {"ours": "this service", "peer": "LangChain peer", "bm25": "BM25 alone",
                "dense": "dense alone"}
GROWTH_KEYS = ["chunks", "index", "recall@10", "dense_p50_ms", "bm25_p50_ms", "query_p50_ms", "query_p99_ms",
               "rss_mb", "peak_rss_mb"]
GROWTH_HEADER = ["chunks", "index", "recall@10", "dense p50 ms", "BM25 p50 ms", "dense+BM25+fusion p50 ms",
                 "p99 ms", "RSS MB", "peak RSS MB"]


def markdown(result: dict) -> str:
    """The result as Markdown tables (also printed by run.py)."""
    lines = []
    q = result.get("quality") or {}
    if q:
        lines += [f"**Quality** ({q.get('n', '?')} questions of `{q.get('questions', '?')}`, top 3)", ""]
        rows = []
        for s in (s for s in SYSTEMS if s in q):
            na = q[s].get("no_answer", {})
            rows.append([SYSTEM_NAMES[s]] + [q[s].get(k) for k in QUALITY_METRICS]
                        + [na.get("rejected"), na.get("answerable_accepted")])
        lines += _table(QUALITY_HEADER, rows)
    lat = result.get("latency") or {}
    if lat:
        lines += ["**Query latency** (interleaved in one process)", ""]
        labels = {"ask": "`qa.ask(q)`", "encode": "bare `encoder.encode([q])`",
                  "peer": "peer `similarity_search(q)`", "model": "the model alone (USE's own encode)"}
        lines += _table(["path", "p50 ms", "p99 ms"], [[v, lat[k]["p50_ms"], lat[k]["p99_ms"]]
                                                       for k, v in labels.items() if k in lat])
        line = f"ask / encode = **{lat['ask_over_encode']}**, ask / peer = **{lat['ask_over_peer']}**"
        if "ask_over_model" in lat:
            line += f", ask / model alone = **{lat['ask_over_model']}**"
        lines += [line + " (p50)", ""]
    build = result.get("build") or {}
    if build.get("runs"):
        lines += ["**Build cost**", ""]
        keys = ["corpus", "chunks", "chars", "build_s", "build_chars_per_s", "encode_chars_per_s",
                "over_encode", "pipeline_s"]
        lines += _table(["corpus", "sentences", "characters", "build s", "build chars/s",
                         "bare encode chars/s", "ratio", "build s outside the encoder"],
                        [[r.get(k) for k in keys] for r in build["runs"]])
    rows = result.get("growth") or []
    if rows:
        lines += ["**Growth** (synthetic vectors and token lists around real ones; one process per size)", ""]
        lines += _table(GROWTH_HEADER, [[r["chunks"], "error: " + r["error"]] + [""] * 7 if "error" in r
                                        else [r.get(k) for k in GROWTH_KEYS] for r in rows])
        errors = [f"{r['chunks']:,} chunks: {r['sparse_error']}" for r in rows if "sparse_error" in r]
        lines += errors + ([""] if errors else [])
    choice = result.get("choice") or []
    if choice:
        lines += ["**Index choice** (same vectors; single queries)", ""]
        keys = ["chunks", "index", "build_s", "query_p50_ms", "query_p99_ms", "recall@10"]
        lines += _table(["chunks", "index", "build s", "p50 ms", "p99 ms", "recall@10"],
                        [[r[k] for k in keys] for r in choice])
    load = result.get("load") or {}
    if load:
        lines.append("**Service under load**: " + (
            f"skipped: {load['skipped']}" if "skipped" in load else
            f"{load['requests']} questions from {load['clients']} gradio_client clients to /ask: "
            f"p50 {_fmt(load['p50_ms'])} ms, p99 {_fmt(load['p99_ms'])} ms, {load['errors']} errors, "
            f"{_fmt(load['throughput_qps'])} questions/s"))
        lines.append("")
    t = result.get("targets") or {}
    if t:
        lines += ["**Targets**", ""]
        lines += _table(["target", "value", "met"],
                        [[name, v["value"], ("yes" if v["met"] else "**no**")
                          + (f" ({v['note']})" if v.get("note") else "")] for name, v in t.items()])
    return "\n".join(lines).rstrip() + "\n"


def plot(result: dict, path: Path) -> Path | None:
    """Four panels: quality, query latency, growth latency, growth memory. None without matplotlib."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed (pip install -e \".[bench]\"): no plot")
        return None
    fig, axes = plt.subplots(2, 2, figsize=(12, 8.5))
    q = result.get("quality") or {}
    ax = axes[0][0]
    systems = [s for s in SYSTEMS if s in q]
    metrics = ("hit@1", "hit@3", "mrr")
    width = 0.8 / max(1, len(systems))
    for i, s in enumerate(systems):
        ax.bar([j + i * width for j in range(len(metrics))], [q[s].get(m, 0) for m in metrics], width,
               label=SYSTEM_NAMES[s])
    ax.set_xticks([j + width * (len(systems) - 1) / 2 for j in range(len(metrics))], metrics)
    ax.set_ylim(0, 1.05)
    ax.set_title("Quality (dev questions)")
    if systems:
        ax.legend(fontsize=8)
    lat = result.get("latency") or {}
    ax = axes[0][1]
    if lat:
        names = [n for n in ("ask", "encode", "peer", "model") if n in lat]
        ax.bar(names, [lat[n]["p50_ms"] for n in names], label="p50")
        ax.scatter(names, [lat[n]["p99_ms"] for n in names], color="black", marker="_", s=400, label="p99")
        ax.set_ylabel("ms")
        ax.set_title(f"Query latency (ask/encode {lat['ask_over_encode']}, ask/peer {lat['ask_over_peer']})")
        ax.legend(fontsize=8)
    rows = [r for r in result.get("growth") or [] if "error" not in r]
    ax = axes[1][0]
    if rows:
        n = [r["chunks"] for r in rows]
        for key, label in (("query_p50_ms", "dense+BM25+fusion p50"), ("dense_p50_ms", "dense search p50"),
                           ("bm25_p50_ms", "BM25 p50")):
            have = [r for r in rows if key in r]
            ax.plot([r["chunks"] for r in have], [r[key] for r in have], marker="o", label=label)
        for r in rows:
            ax.annotate(f"{r['index']}\nR@10 {r['recall@10']:.2f}", (r["chunks"], r["dense_p50_ms"]),
                        fontsize=7, textcoords="offset points", xytext=(4, 4))
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("chunks")
        ax.set_ylabel("ms")
        ax.set_title("Growth: query latency")
        ax.legend(fontsize=8)
        ax = axes[1][1]
        ax.plot(n, [r["peak_rss_mb"] for r in rows], marker="o", label="peak RSS (incl. build)")
        ax.plot(n, [r["rss_mb"] for r in rows], marker="o", label="RSS after build")
        for r in rows:
            if "sparse_error" in r:
                ax.annotate("BM25 build ran out of memory:\nRSS = vectors + index only",
                            (r["chunks"], r["rss_mb"]), fontsize=7, textcoords="offset points",
                            xytext=(-150, -25))
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("chunks")
        ax.set_ylabel("MB")
        ax.set_title("Growth: memory")
        ax.legend(fontsize=8)
    m = result.get("machine", {})
    fig.suptitle(f"qa benchmarks ({result.get('mode', '?')} run, {m.get('cpu', '?')}, "
                 f"{m.get('nproc', '?')} cores)")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path

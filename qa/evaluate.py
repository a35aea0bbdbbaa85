"""Evaluation on a JSONL question set: hit@1, hit@3, MRR per language, and no-answer accuracy.

Each line: {"question": str, "expect": str | null, "lang": "zh" | "en" | "ood"}; a hit is right
when its passage contains `expect` (whitespace removed); `expect: null` means the corpus cannot
answer and the right outcome is found=False.
"""

from __future__ import annotations

import json
from pathlib import Path

from .errors import SourceError


def load_questions(path) -> list[dict]:
    """Read and check a question file. Raises SourceError on a malformed line."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise SourceError(f"cannot read question file {path}: {e}") from e
    items = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            assert isinstance(item.get("question"), str)
        except (ValueError, AssertionError, AttributeError) as e:
            raise SourceError(f"{path}:{n}: not a question object ({e})") from e
        item.setdefault("expect", None)
        item.setdefault("lang", "ood" if item["expect"] is None else "zh")
        items.append(item)
    return items


def _squash(text: str) -> str:
    return "".join(text.split())


def rank_of(answer, expect: str) -> int | None:
    """0-based rank of the first hit containing `expect`, or None."""
    want = _squash(expect)
    return next((i for i, h in enumerate(answer.hits) if want in _squash(h.text)), None)


def evaluate(qa, items: list[dict], k: int = 3) -> dict:
    """Metrics per language plus overall; also the per-question rows under "rows"."""
    rows = []
    for item in items:
        answer = qa.ask(item["question"], k=k)
        rank = rank_of(answer, item["expect"]) if item["expect"] is not None else None
        rows.append({"question": item["question"], "lang": item["lang"], "expect": item["expect"],
                     "rank": rank, "found": answer.found, "confidence": answer.confidence,
                     "top": answer.hits[0].text[:60] if answer.hits else ""})
    report: dict = {}
    answerable = [r for r in rows if r["expect"] is not None]
    for lang in sorted({r["lang"] for r in answerable}) + ["all"]:
        group = [r for r in answerable if lang == "all" or r["lang"] == lang]
        if not group:
            continue
        report[lang] = {
            "n": len(group),
            "hit@1": sum(r["rank"] == 0 for r in group) / len(group),
            "hit@3": sum(r["rank"] is not None and r["rank"] < 3 for r in group) / len(group),
            "mrr": sum(1 / (r["rank"] + 1) for r in group if r["rank"] is not None) / len(group),
            "accepted": sum(r["found"] for r in group) / len(group),
        }
    ood = [r for r in rows if r["expect"] is None]
    if ood:
        report["no_answer"] = {"n": len(ood), "rejected": sum(not r["found"] for r in ood) / len(ood)}
    report["rows"] = rows
    return report


def format_report(report: dict) -> str:
    lines = [f"{'set':<6}{'n':>4}{'hit@1':>8}{'hit@3':>8}{'MRR':>8}{'accepted':>10}"]
    for lang, m in report.items():
        if lang in ("rows", "no_answer"):
            continue
        lines.append(f"{lang:<6}{m['n']:>4}{m['hit@1']:>8.2f}{m['hit@3']:>8.2f}{m['mrr']:>8.2f}{m['accepted']:>10.2f}")
    if "no_answer" in report:
        na = report["no_answer"]
        lines.append(f"no-answer: {na['rejected']:.2f} of {na['n']} out-of-domain questions rejected")
    return "\n".join(lines)

"""The simplest baseline on article question files: jieba + BM25 (bm25s) over the article's
paragraphs, as `../shared/eval/ext/extbench.py bm25-para` does for the public sets, and over runs
of consecutive paragraphs of at least --min-chars characters (one starting at each paragraph), so
that its passages are as long as the service's (~265 characters on the article).

    python -m benchmarks.article_baseline FILE [FILE ...] [--min-chars 265] [--source TEXT]

Prints hit@1, hit@3 and the mean characters of the top passage per file, system and language
(zh, zh-hant, en); a hit is a passage holding the question's `expect`, as `qa eval` counts it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from qa.config import BUILTIN_CORPUS
from qa.evaluate import holds, load_questions


def _tokens(text: str) -> list[str]:
    import jieba

    jieba.setLogLevel(60)
    return [w for w in jieba.lcut_for_search(text) if w.strip() and not re.fullmatch(r"[\W_]+", w)]


def units(paragraphs: list[str], min_chars: int) -> list[str]:
    """Each paragraph joined with the ones after it until the run holds min_chars characters
    (0: the paragraphs as they are)."""
    out = []
    for i in range(len(paragraphs)):
        text, j = "", i
        while j < len(paragraphs) and (not text or len(text) < min_chars):
            text += paragraphs[j]
            j += 1
        out.append(text)
    return out


def score(questions: list[dict], passages: list[str]) -> dict:
    import bm25s

    index = bm25s.BM25()
    index.index([_tokens(p) for p in passages], show_progress=False)
    h1 = h3 = 0
    chars = []
    for q in questions:
        ids, _ = index.retrieve([_tokens(q["question"]) or ["的"]], k=min(3, len(passages)),
                                show_progress=False)
        top = [passages[i] for i in ids[0]]
        ok = [holds(t, q["expect"]) for t in top]
        h1 += ok[0]
        h3 += any(ok)
        chars.append(len(top[0]))
    n = len(questions)
    return {"n": n, "hit@1": round(h1 / n, 3), "hit@3": round(h3 / n, 3),
            "top_chars_mean": round(sum(chars) / n, 1)}


def main(argv=None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", type=Path, nargs="+")
    parser.add_argument("--min-chars", type=int, default=265)
    parser.add_argument("--source", type=Path, default=BUILTIN_CORPUS)
    args = parser.parse_args(argv)
    paragraphs = [line for line in args.source.read_text(encoding="utf-8").splitlines()
                  if line.strip() and not line.startswith("# ")]
    systems = {"bm25-para": units(paragraphs, 0),
               f"bm25-para>={args.min_chars}": units(paragraphs, args.min_chars)}
    for path in args.files:
        rows = load_questions(path)
        for name, passages in systems.items():
            for lang in ("zh", "zh-hant", "en"):
                qs = [r for r in rows if r.get("lang") == lang and r.get("expect")]
                if qs:
                    print(json.dumps({"file": path.name, "system": name, "lang": lang, **score(qs, passages)},
                                     ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

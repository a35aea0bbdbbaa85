"""How often the service says "found" for questions its knowledge base answers, and "not found" for
near-topic questions it cannot answer, with and without the answer checks (qa.answerable), in one
run on the same indexes.

Public questions (SQuAD format) make both kinds: a knowledge base of half a set's articles (or, for
DRCD, of every article's even paragraphs) is asked the questions of what it holds (answerable) and
of what it left out, whose answer stands nowhere in the kept text (near-topic: same genre, often the
same article, the fact missing). A JSONL question file (`qa eval` format) is asked too, over the
built-in article unless --source says otherwise.

    python -m benchmarks.answerable [--work /tmp/answerable-bench] [--questions FILE ...]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from benchmarks.train_answerable import EXT, SETS, half_set
from qa.config import Config
from qa.engine import QA
from qa.evaluate import evaluate, load_questions

#: The two settings compared, by the name the report gives them.
SETTINGS = (("without checks", False), ("with checks", True))
#: (name, set, paragraphs): articles left out of both sets, paragraphs left out of DRCD's articles
#: (CMRC's articles have one paragraph each).
GROUPS = (("cmrc", "cmrc", False), ("drcd", "drcd", False), ("drcd-paragraphs", "drcd", True))


def judge(qa: QA, inside: list[dict], outside: list[dict]) -> dict:
    """Share of answerable questions found and of unanswerable ones not found."""
    found_in = sum(qa.ask(q["question"]).found for q in inside)
    found_out = sum(qa.ask(q["question"]).found for q in outside)
    return {"answerable": len(inside), "accepted": round(found_in / len(inside), 4),
            "unanswerable": len(outside), "rejected": round(1 - found_out / len(outside), 4)}


def public(work: Path) -> dict:
    report = {}
    for name, set_name, paragraphs in GROUPS:
        folder = work / name
        inside, outside = half_set(EXT / SETS[set_name], 0, folder, paragraphs)
        report[name] = {
            label: judge(QA(sources=[folder / "documents"], index_dir=folder / "index",
                            config=Config(answer_checks=checks)), inside, outside)
            for label, checks in SETTINGS}
    return report


def question_file(path: Path, work: Path, sources) -> dict:
    out = {}
    for label, checks in SETTINGS:
        qa = QA(sources=sources, index_dir=work / "article-index", config=Config(answer_checks=checks))
        rep = evaluate(qa, load_questions(path))
        rows = rep.pop("rows")
        out[label] = {**{lang: {k: round(v, 3) for k, v in m.items() if k != "mrr"}
                          for lang, m in rep.items() if lang not in ("all", "no_answer")},
                       "not found": {kind: f"{sum(not r['found'] for r in rows if r['lang'] == kind)} of "
                                           f"{sum(r['lang'] == kind for r in rows)}"
                                     for kind in sorted({r["lang"] for r in rows if r["expect"] is None})}}
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/answerable-bench"))
    ap.add_argument("--questions", type=Path, action="append", default=[],
                    help="a JSONL question file (repeatable)")
    ap.add_argument("--source", action="append", default=None, help="documents for --questions")
    ap.add_argument("--skip-public", action="store_true")
    args = ap.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    report: dict = {} if args.skip_public else {"public": public(args.work)}
    for path in args.questions:
        report[path.name] = question_file(path, args.work, args.source)
    print(json.dumps(report, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()

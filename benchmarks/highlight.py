"""Does the highlighted sentence contain the answer? Rate on the dev questions and public QA sets.

Usage: python benchmarks/highlight.py [--articles 100] [--out benchmarks/results/highlight.json]

For each question the app's path is followed: the best passage (`QA.ask`, the chat's k), then the
sentence `qa.serve.highlight.best_sentence_span` marks in it. Reported per set:

- `passage`: the best passage contains the gold answer (retrieval; the highlight cannot do better);
- `highlight`: the highlighted sentence contains it (a passage of one sentence is its own highlight);
- `highlight_given_passage`: the same among questions whose passage contains it (the highlight's
  own quality), next to `first_sentence` (always mark the first sentence) and `oracle` (some sentence
  of the passage contains the whole answer: the ceiling, as answers may cross a sentence end).

Sets: `../shared/eval/dev.jsonl` over the built-in article, and the SQuAD-format files in
`../shared/eval/ext/` (CMRC 2018 trial, DRCD test), each as a knowledge base of its first
`--articles` articles, one Markdown file each, written as `ext/extbench.py prepare` writes them.
Gold answers are compared after NFKC with whitespace removed (as extbench does).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import tempfile
import time
import unicodedata
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from qa import QA  # noqa: E402
from qa.chunk import sentence_spans  # noqa: E402
from qa.evaluate import load_questions  # noqa: E402
from qa.serve.highlight import SentenceVectors, best_sentence_span  # noqa: E402

#: Passages per question, as in the chat (qa.serve.ui_chat.CHAT_K); the best one is highlighted.
K = 4
DEFAULT_EVAL_DIR = Path(__file__).resolve().parents[2] / "shared" / "eval"


def norm(text: str) -> str:
    return "".join(unicodedata.normalize("NFKC", text or "").split())


def extbench_prepare(eval_dir: Path):
    """The `prepare` function of ext/extbench.py (the public sets' own knowledge-base writer)."""
    spec = importlib.util.spec_from_file_location("extbench", eval_dir / "ext" / "extbench.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.prepare


def first_articles(dataset: Path, n: int, folder: Path) -> Path:
    """A copy of the SQuAD file holding only its first n articles."""
    data = json.loads(dataset.read_text(encoding="utf-8"))
    path = folder / dataset.name
    path.write_text(json.dumps({"data": data["data"][:n]}, ensure_ascii=False), encoding="utf-8")
    return path


def contains(golds: list[str]):
    """text -> whether it holds one of the (normalised) gold answers."""
    return lambda text: any(g in norm(text) for g in golds)


def measure(qa: QA, questions: list[tuple[str, list[str]]], passages: list | None = None) -> dict:
    """questions: (question, gold answers). Rates as described in the module docstring.

    passages: a list that gets (question, best passage, gold answers) of every question.
    """
    vectors = SentenceVectors(qa)
    vectors.warm([c.text for c in qa.chunks])  # as the app does in the background after start
    counts = dict(passage=0, highlight=0, first_sentence=0, oracle=0, single_sentence=0)
    misses, started = [], time.perf_counter()
    for question, golds in questions:
        golds = [norm(g) for g in golds if norm(g)]
        best = qa.ask(question, k=K).best
        if best is None or not golds:
            continue
        passage = best.text
        if passages is not None:
            passages.append((question, passage, golds))
        spans = sentence_spans(passage) or [(0, len(passage))]
        span = best_sentence_span(qa, question, passage, vectors)
        counts["single_sentence"] += span is None
        marked = passage[span[0]:span[1]] if span else passage
        has = contains(golds)
        if not has(passage):
            continue
        counts["passage"] += 1
        counts["highlight"] += has(marked)
        counts["first_sentence"] += has(passage[slice(*spans[0])])
        counts["oracle"] += any(has(passage[a:b]) for a, b in spans)
        if not has(marked) and len(misses) < 30:
            misses.append({"question": question, "gold": golds[0], "highlight": marked[:80]})
    n, found = len(questions), max(counts["passage"], 1)
    return {"n": n, "passage": round(counts["passage"] / n, 4),
            "highlight": round(counts["highlight"] / n, 4),
            "highlight_given_passage": round(counts["highlight"] / found, 4),
            "first_sentence_given_passage": round(counts["first_sentence"] / found, 4),
            "oracle_given_passage": round(counts["oracle"] / found, 4),
            "single_sentence_passages": counts["single_sentence"],
            "seconds": round(time.perf_counter() - started, 1), "misses": misses}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--eval-dir", type=Path, default=DEFAULT_EVAL_DIR)
    parser.add_argument("--articles", type=int, default=100, help="articles of each public set (default 100)")
    parser.add_argument("--sets", nargs="*", default=None, help="dev and/or ext file names (default: all)")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--passages", type=Path, default=None,
                        help="also write each question's best passage here (JSON), to study the highlight")
    args = parser.parse_args(argv)
    results, passages = {}, {}
    with tempfile.TemporaryDirectory(prefix="highlight-bench-") as tmp:
        tmp = Path(tmp)
        if args.sets is None or "dev" in args.sets:
            items = [q for q in load_questions(args.eval_dir / "dev.jsonl") if q["expect"] is not None]
            results["dev"] = measure(QA(index_dir=tmp / "dev-index"),
                                     [(q["question"], [q["expect"]]) for q in items],
                                     passages.setdefault("dev", []))
            print("dev", json.dumps({k: v for k, v in results["dev"].items() if k != "misses"}), flush=True)
        prepare = extbench_prepare(args.eval_dir)
        for dataset in sorted((args.eval_dir / "ext").glob("*.json")):
            if args.sets is not None and dataset.name not in args.sets:
                continue
            docs = tmp / dataset.stem
            questions = prepare(first_articles(dataset, args.articles, tmp), docs)
            qa = QA(sources=[docs], index_dir=tmp / f"{dataset.stem}-index")
            results[dataset.name] = measure(qa, [(q["q"], q["answers"]) for q in questions],
                                            passages.setdefault(dataset.name, []))
            print(dataset.name, json.dumps({k: v for k, v in results[dataset.name].items() if k != "misses"}),
                  flush=True)
    if args.out:
        args.out.write_text(json.dumps({"articles": args.articles, "k": K, "sets": results},
                                       ensure_ascii=False, indent=1), encoding="utf-8")
    if args.passages:
        args.passages.write_text(json.dumps(passages, ensure_ascii=False), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

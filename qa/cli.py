"""Command line: python -m qa index|ask|eval."""

from __future__ import annotations

import argparse
import json
import logging
import sys

from .errors import QAError


def _qa(args, rebuild: bool = False):
    from .engine import QA
    return QA(sources=args.sources or None, index_dir=args.index_dir, model=args.model, rebuild=rebuild)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m qa", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress")
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p):
        p.add_argument("--index-dir", default=None, help="index folder (default: $QA_INDEX_DIR or ./index)")
        p.add_argument("--model", default=None, help="embedding model id or path (default: built-in USE)")
        p.add_argument("--source", dest="sources", action="append", default=None,
                       help="document file or folder (repeatable; default: the built-in article)")

    p_index = sub.add_parser("index", help="build or refresh the index")
    p_index.add_argument("paths", nargs="*", help="document files or folders")
    common(p_index)
    p_index.add_argument("--force", action="store_true", help="rebuild even if the index is current")
    p_ask = sub.add_parser("ask", help="answer one question")
    p_ask.add_argument("question")
    p_ask.add_argument("-k", "--top-k", type=int, default=3, dest="k")
    p_ask.add_argument("--json", action="store_true")
    common(p_ask)
    p_eval = sub.add_parser("eval", help="hit@1/hit@3/MRR and no-answer accuracy on a JSONL file")
    p_eval.add_argument("file")
    p_eval.add_argument("-k", "--top-k", type=int, default=3, dest="k")
    p_eval.add_argument("--json", action="store_true")
    p_eval.add_argument("--show", action="store_true", help="print each question's result")
    common(p_eval)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(message)s")
    try:
        if args.command == "index":
            if args.paths:
                args.sources = (args.sources or []) + args.paths
            qa = _qa(args, rebuild=args.force)
            m = qa.manifest
            state = f"built in {qa.build_seconds:.2f} s" if qa.build_seconds is not None else "already current"
            print(f"index {qa.index_dir}: {m['counts']['documents']} documents, {m['counts']['chunks']} passages,"
                  f" model {m['model']['id']} ({state})")
        elif args.command == "ask":
            answer = _qa(args).ask(args.question, k=args.k)
            if args.json:
                print(json.dumps(answer.to_dict(), ensure_ascii=False, indent=1))
            else:
                if not answer.found:
                    print("没有找到相关内容。最接近的段落（可信度低）：")
                for n, hit in enumerate(answer.hits, start=1):
                    print(f"[{n}] {hit.text}\n    —— {hit.citation}  (score {hit.score:.3f})")
        elif args.command == "eval":
            from .evaluate import evaluate, format_report, load_questions
            report = evaluate(_qa(args), load_questions(args.file), k=args.k)
            if args.json:
                print(json.dumps(report if args.show else {k: v for k, v in report.items() if k != "rows"},
                                 ensure_ascii=False, indent=1))
            else:
                if args.show:
                    for r in report["rows"]:
                        print(f"{r['lang']:<4}{str(r['rank']):>5} {'Y' if r['found'] else 'n'} "
                              f"{r['confidence']:.2f} {r['question']} | {r['top'][:40]}")
                print(format_report(report))
    except QAError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0

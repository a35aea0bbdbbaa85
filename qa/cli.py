"""Command line: python -m qa index|ask|eval|add|remove|list."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

from .errors import QAError, ServiceUnavailable
from .evaluate import evaluate, evaluate_squad, format_report, format_squad_report, is_squad, load_questions
from .ingest import DOCUMENT_SUFFIXES

#: Where `python -m qa ask` looks for a running service (python app.py) before loading the model.
DEFAULT_SERVICE_URL = "http://127.0.0.1:7860"
#: Seconds to wait for the running service's first reply; an absent service refuses at once.
SERVICE_TIMEOUT = 2.0


def _qa(args, rebuild: bool = False):
    from .engine import QA
    return QA(sources=args.sources or None, index_dir=args.index_dir, model=args.model, rebuild=rebuild)


def _kb(args, paths=None):
    """The knowledge base in --index-dir; a new one holds just `paths` (not the built-in article)."""
    from .config import default_index_dir
    from .engine import QA
    from .index.stores import open_store

    index_dir = args.index_dir or default_index_dir()
    # Asked of the store ($QA_STORE): with Milvus the index folder's manifest.json is not the index.
    if paths and open_store(None, Path(index_dir)).stamp() is None:
        return QA(sources=paths, index_dir=index_dir, model=args.model), True
    return QA(index_dir=index_dir, model=args.model), False


def _print_report(report: dict) -> None:
    for key, label in (("added", "added"), ("updated", "updated"), ("removed", "removed")):
        for path in report.get(key, []):
            print(f"{label:8} {path}")
    for s in report.get("skipped", []):
        print(f"skipped  {s['path']}: {s['reason']}")
    print(f"{report.get('embedded', 0)} passages embedded, {report.get('reused', 0)} reused, "
          f"{report.get('unchanged', 0)} documents unchanged ({report.get('seconds', 0):.2f} s)")


def _post_json(url: str, body: dict, timeout: float) -> dict:
    request = urllib.request.Request(url, data=json.dumps(body).encode("utf-8"), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read().decode("utf-8"))


def _get_json(url: str, timeout: float) -> dict:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return json.loads(response.read().decode("utf-8"))
    except urllib.error.HTTPError as e:  # 503 "not ready" still has a JSON body
        return json.loads(e.read().decode("utf-8") or "{}")


def _local_manifest(index_dir) -> dict:
    """The local knowledge base's last committed manifest, read from its store ($QA_STORE; just
    the JSON: no model, no index loaded), or {} if there is none or it cannot be read."""
    from .config import default_index_dir
    from .index.stores import open_store

    try:
        # any_version: only read (a damaged manifest is not recovered from its backup here)
        manifest = open_store(None, Path(index_dir or default_index_dir())).read_manifest(any_version=True)
    except (OSError, ValueError, QAError):
        return {}
    return manifest if isinstance(manifest, dict) else {}


def ask_service(url: str, question: str, k: int, index_dir=None, check_index: bool = True,
                timeout: float = SERVICE_TIMEOUT) -> dict:
    """The running service's answer (the dict `Answer.to_dict` gives) from its REST /api/ask.

    check_index: use the service only if it serves the same build of the index as the local
    index folder (its /api/health `index_created`), so that the answer is the one an in-process
    QA would give.

    Raises:
        ServiceUnavailable: nothing answers at `url`, it is not ready, or it serves another index.
        QAError: the service refused the question (its message).
    """
    base = url.rstrip("/")
    try:
        health = _get_json(f"{base}/api/health", timeout)
    except (OSError, ValueError) as e:
        raise ServiceUnavailable(f"no service at {base} ({e})") from e
    if not health.get("ready"):
        raise ServiceUnavailable(f"the service at {base} is not ready yet")
    if check_index and health.get("index_created") != _local_manifest(index_dir).get("created"):
        raise ServiceUnavailable(f"the service at {base} serves another build of the index")
    try:
        return _post_json(f"{base}/api/ask", {"question": question, "k": k}, timeout=max(timeout, 30.0))
    except urllib.error.HTTPError as e:
        try:
            detail = json.loads(e.read().decode("utf-8")).get("detail")
        except ValueError:
            detail = None
        raise QAError(detail or f"the service at {base} answered HTTP {e.code}") from e
    except (OSError, ValueError) as e:
        raise ServiceUnavailable(f"the service at {base} did not answer ({e})") from e


def _answer_dict(args) -> dict:
    """Answer from the running service when one serves this index (or --service forces it),
    else in this process (--local forces that)."""
    chosen = args.sources or args.model
    if not args.local and (args.service or not chosen):
        url = args.service or os.environ.get("QA_SERVICE_URL") or DEFAULT_SERVICE_URL
        try:
            return ask_service(url, args.question, args.k, args.index_dir, check_index=not args.service)
        except ServiceUnavailable as e:
            if args.service:
                raise
            logging.getLogger(__name__).info("answering in this process: %s", e)
    return _qa(args).ask(args.question, k=args.k).to_dict()


def _print_answer(answer: dict) -> None:
    if not answer["found"]:
        print("没有找到相关内容。最接近的段落（可信度低）：")
    for n, hit in enumerate(answer["hits"], start=1):
        print(f"[{n}] {hit['text']}\n    —— {hit['citation']['display']}  (score {hit['score']:.3f})")


def _print_list(qa) -> None:
    docs = qa.documents()
    for d in docs:
        extra = f", {d['pages']} pages" if d.get("pages") else ""
        if d.get("empty_pages"):
            extra += f" (no text on pages {', '.join(map(str, d['empty_pages']))})"
        print(f"{d['passages']:5} passages  {d['format']:5}  {d['path']}  《{d['title']}》{extra}")
    for s in qa.skipped():
        print(f"  skipped  {s['path']}: {s['reason']}")
    print(f"{len(docs)} documents, {len(qa.chunks)} passages in {qa.index_dir}; sources: "
          + ", ".join(map(str, qa.sources)))


def main(argv=None) -> int:
    """Run one command; a reader that stops early (`| head`) ends it quietly."""
    try:
        status = _main(argv)
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader closed the pipe: nothing more can be shown. Point stdout at /dev/null so the
        # interpreter's own flush at exit does not raise (and print) the same error again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    return status


def _main(argv=None) -> int:
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
    where = p_ask.add_mutually_exclusive_group()
    where.add_argument("--service", metavar="URL", default=None,
                       help="ask this running service (python app.py) and nothing else; by default a "
                            f"service at $QA_SERVICE_URL or {DEFAULT_SERVICE_URL} is used when it serves "
                            "the same index, else the model is loaded here")
    where.add_argument("--local", action="store_true",
                       help="always answer in this process (load the model and index here)")
    common(p_ask)
    p_eval = sub.add_parser("eval", help="hit@1/hit@3/MRR and no-answer accuracy on a JSONL file, or "
                            "hit@1/hit@3/para@1 on SQuAD-format JSON sets indexed as one knowledge base")
    p_eval.add_argument("file", nargs="+", help="a JSONL question file, or SQuAD-format .json files")
    p_eval.add_argument("--limit", type=int, default=None, help="SQuAD sets: score the first N questions")
    p_eval.add_argument("-k", "--top-k", type=int, default=3, dest="k")
    p_eval.add_argument("--json", action="store_true")
    p_eval.add_argument("--show", action="store_true", help="print each question's result")
    common(p_eval)

    def kb_common(p):
        p.add_argument("--index-dir", default=None, help="index folder (default: $QA_INDEX_DIR or ./index)")
        p.add_argument("--model", default=None, help="embedding model id or path (default: built-in USE)")

    p_add = sub.add_parser("add", help="add files or folders to the knowledge base (embeds only new text)")
    p_add.add_argument("paths", nargs="+", help=" ".join(DOCUMENT_SUFFIXES) + " files or folders")
    kb_common(p_add)
    p_remove = sub.add_parser("remove", help="take files or folders out of the knowledge base")
    p_remove.add_argument("paths", nargs="+")
    kb_common(p_remove)
    p_list = sub.add_parser("list", help="list the documents of the knowledge base")
    p_list.add_argument("--json", action="store_true")
    kb_common(p_list)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(message)s")
    try:
        if args.command == "index":
            if args.paths:
                args.sources = (args.sources or []) + args.paths
            qa = _qa(args, rebuild=args.force)
            m = qa.manifest
            state = "already current" if qa.build_seconds is None else f"updated in {qa.build_seconds:.2f} s"
            print(f"index {qa.index_dir}: {len(qa.documents())} documents, {len(qa.chunks)} passages,"
                  f" model {m['model']['id']} ({state})")
            for s in qa.skipped():
                print(f"skipped  {s['path']}: {s['reason']}")
        elif args.command == "ask":
            answer = _answer_dict(args)
            if args.json:
                print(json.dumps(answer, ensure_ascii=False, indent=1))
            else:
                _print_answer(answer)
        elif args.command == "add":
            qa, created = _kb(args, args.paths)
            _print_report(qa.last_update if created else qa.add(args.paths))
        elif args.command == "remove":
            qa, _ = _kb(args)
            _print_report(qa.remove(args.paths))
        elif args.command == "list":
            qa, _ = _kb(args)
            if args.json:
                print(json.dumps({"documents": qa.documents(), "skipped": qa.skipped(),
                                  "sources": [str(s) for s in qa.sources]}, ensure_ascii=False, indent=1))
            else:
                _print_list(qa)
        elif args.command == "eval" and all(map(is_squad, args.file)):
            report = evaluate_squad(args.file, k=args.k, model=args.model, limit=args.limit,
                                    progress=not args.json, work_dir=args.index_dir)
            if not args.show:
                report.pop("misses")
            print(json.dumps(report, ensure_ascii=False, indent=1) if args.json
                  else format_squad_report(report))
        elif args.command == "eval":
            if len(args.file) > 1:
                raise QAError("give one JSONL question file, or only SQuAD-format .json files")
            report = evaluate(_qa(args), load_questions(args.file[0]), k=args.k)
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

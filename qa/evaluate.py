"""Evaluation: a JSONL question set against the knowledge base, or SQuAD-format sets as their
own knowledge base.

JSONL, each line: {"question": str, "expect": str | null, "lang": "zh" | "en" | "ood"}; a hit is
right when its passage contains `expect` (whitespace removed); `expect: null` means the corpus
cannot answer and the right outcome is found=False. Reported: hit@1, hit@3, MRR per language, and
no-answer accuracy.

SQuAD format (CMRC 2018, DRCD, or your own annotated documents): every article becomes one Markdown
file ("# title", then each paragraph on one line followed by a blank line) of a knowledge base
built in a temporary folder; each question is right when a passage contains one of its gold
answers (NFKC, whitespace removed). Reported: hit@1, hit@3, para@1 (the top passage cites the
gold paragraph's line of the gold file), the top passage's mean length, the share of questions
accepted as answered (found), query p50 and build time.
"""

from __future__ import annotations

import json
import re
import statistics
import tempfile
import time
import unicodedata
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


def holds(text: str, expect: str) -> bool:
    """Whether a passage holds the expected phrase, whitespace aside (what a hit is)."""
    return _squash(expect) in _squash(text)


def rank_of(answer, expect: str) -> int | None:
    """0-based rank of the first hit containing `expect`, or None."""
    return next((i for i, h in enumerate(answer.hits) if holds(h.text, expect)), None)


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
        kinds = sorted({r["lang"] for r in ood})
        if len(kinds) > 1:  # e.g. near-topic and far-topic questions, which differ a lot
            report["no_answer"]["by_lang"] = {
                kind: {"n": len(group), "rejected": sum(not r["found"] for r in group) / len(group)}
                for kind in kinds for group in [[r for r in ood if r["lang"] == kind]]}
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
        for kind, m in na.get("by_lang", {}).items():
            lines.append(f"  {kind}: {m['rejected']:.2f} of {m['n']} rejected")
    return "\n".join(lines)


# ----- SQuAD-format sets (document QA) -----

def is_squad(path) -> bool:
    """Whether a file is a SQuAD-format JSON set (a top-level "data" list of articles)."""
    path = Path(path)
    if path.suffix.lower() != ".json":
        return False
    try:
        with open(path, encoding="utf-8") as f:
            head = f.read(4096)
    except (OSError, UnicodeDecodeError):
        return False
    return '"data"' in head


def _answer_norm(text: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text or ""))


_UNSAFE = re.compile(r'[\\/:*?"<>|\s]+')


def _file_name(prefix: str, number: int, title: str) -> str:
    return f"{prefix}{number:04d}_{_UNSAFE.sub('_', title)[:60]}.md"


def write_squad_documents(files, folder) -> list[dict]:
    """Write every article of the SQuAD files as one Markdown file into `folder`.

    Returns:
        the questions: [{"question", "answers", "file", "line"}] (line: 1-based line of the
        gold paragraph in its file). Questions without text or answers are left out.
    Raises:
        SourceError: a file is not a readable SQuAD-format set.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    questions = []
    for n, path in enumerate(files):
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))["data"]
        except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as e:
            raise SourceError(f"{path}: not a SQuAD-format set ({e})") from e
        prefix = f"{n}-" if len(files) > 1 else ""
        for number, article in enumerate(data):
            title = str(article.get("title") or f"article {number}")
            name = _file_name(prefix, number, title)
            lines = [f"# {title}", ""]
            for paragraph in article.get("paragraphs", []):
                line = len(lines) + 1
                lines += [str(paragraph.get("context", "")).replace("\n", " ").strip(), ""]
                for qa in paragraph.get("qas", []):
                    answers = sorted({a["text"] for a in qa.get("answers", [])
                                      if str(a.get("text", "")).strip()})
                    if answers and str(qa.get("question", "")).strip():
                        questions.append({"question": qa["question"], "answers": answers,
                                          "file": name, "line": line, "set": n})
            (folder / name).write_text("\n".join(lines), encoding="utf-8")
    if not questions:
        raise SourceError(f"no questions with answers in {', '.join(map(str, files))}")
    return questions


def evaluate_squad(files, k: int = 3, model: str | None = None, limit: int | None = None,
                   progress: bool = False, work_dir=None) -> dict:
    """Build a knowledge base of the sets' articles and score every question (see module doc).

    Args:
        files: SQuAD-format JSON files; several are indexed as one knowledge base.
        limit: score only the first `limit` questions (the whole knowledge base is still built).
        work_dir: where the documents and the index go (default: a new temporary folder); an
            index already there is reused when the sets and the model are the same.
    """
    from .engine import QA

    root = Path(work_dir or tempfile.mkdtemp(prefix="qa-eval-"))
    questions = write_squad_documents(list(files), root / "documents")
    if limit:
        questions = questions[:limit]
    start = time.perf_counter()
    qa = QA(sources=[root / "documents"], index_dir=root / "index", model=model)
    build = time.perf_counter() - start
    times, misses, results = [], [], []
    rows = questions
    if progress:
        from tqdm import tqdm
        rows = tqdm(questions, desc="questions", unit="q")
    for q in rows:
        t = time.perf_counter()
        answer = qa.ask(q["question"], k=k)
        times.append((time.perf_counter() - t) * 1000)
        golds = [_answer_norm(a) for a in q["answers"]]
        ok = [any(g in _answer_norm(h.text) for g in golds) for h in answer.hits[:3]]
        top = answer.hits[0] if answer.hits else None
        para = top is not None and Path(top.citation.path).name == q["file"] and any(
            a <= q["line"] <= b for a, b in top.citation.lines)
        results.append((q["set"], bool(ok and ok[0]), any(ok), para, len(top.text) if top else None,
                        answer.found))
        if not (ok and ok[0]) and len(misses) < 40:
            misses.append({"question": q["question"], "answers": q["answers"],
                           "top": top.text[:80] if top else None})
    report = {"files": [Path(f).name for f in files], "documents": len(qa.documents()),
              "paragraphs": sum(1 for f in (root / "documents").glob("*.md")
                                for line in f.read_text(encoding="utf-8").splitlines()
                                if line.strip() and not line.startswith("# ")),
              **_squad_metrics(results), "query_p50_ms": round(statistics.median(times), 2),
              "build_s": round(build, 1)}
    if len(files) > 1:
        report["by_file"] = {Path(f).name: _squad_metrics([r for r in results if r[0] == n])
                             for n, f in enumerate(files)}
    report["misses"] = misses
    return report


def _squad_metrics(results) -> dict:
    """hit@1, hit@3, para@1, the top passage's mean length and the share accepted (found) of
    (set, hit1, hit3, para, chars, found) rows."""
    n = len(results)
    lengths = [r[4] for r in results if r[4] is not None]
    return {"n": n, "hit@1": round(sum(r[1] for r in results) / n, 4) if n else 0.0,
            "hit@3": round(sum(r[2] for r in results) / n, 4) if n else 0.0,
            "para@1": round(sum(r[3] for r in results) / n, 4) if n else 0.0,
            "top_chars_mean": round(statistics.mean(lengths), 1) if lengths else 0.0,
            "accepted": round(sum(r[5] for r in results) / n, 4) if n else 0.0}


def format_squad_report(report: dict) -> str:
    def line(label: str, m: dict) -> str:
        return (f"{label:<24}{m['n']:>6}{m['hit@1']:>8.4f}{m['hit@3']:>8.4f}{m['para@1']:>8.4f}"
                f"{m['top_chars_mean']:>8.0f}{m['accepted']:>10.4f}")

    rows = [f"{' + '.join(report['files'])}: {report['documents']} documents, {report['paragraphs']} "
            f"paragraphs; query p50 {report['query_p50_ms']:.2f} ms, build {report['build_s']:.1f} s",
            f"{'set':<24}{'n':>6}{'hit@1':>8}{'hit@3':>8}{'para@1':>8}{'chars':>8}{'accepted':>10}"]
    rows += [line(name, m) for name, m in report.get("by_file", {}).items()]
    rows.append(line("all", report))
    return "\n".join(rows)

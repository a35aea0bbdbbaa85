"""Readers' 👍/👎 on answers: kept as JSON lines in the index folder, exported as an eval file.

Each line of `<index>/feedback.jsonl` is one verdict: {"time", "question", "query", "liked",
"found", "passage", "citation", "highlight"}. `liked` is true (👍), false (👎) or null (the reader
took the vote back). The newest verdict on a question counts.

`eval_items` turns the answers readers confirmed (👍) into questions for `python -m qa eval`
(the JSONL format of qa/evaluate.py: {"question", "expect", "lang"}), `expect` being the sentence
that was highlighted, which the right passage must contain. A 👎 says the answer was wrong but not
what the right one is, so those are listed for review (`disputed`) and not exported.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from pathlib import Path

from ..script import CJK

log = logging.getLogger(__name__)

FEEDBACK_FILE = "feedback.jsonl"
#: Longest text kept per field (a passage is a few hundred characters; this only bounds abuse).
MAX_FIELD_CHARS = 4000
#: Most verdicts read back for the 知识库 tab and the export (the newest ones).
MAX_READ = 10_000

_CJK = re.compile(f"[{CJK}]")
_lock = threading.Lock()


def feedback_path(index_dir) -> Path:
    return Path(index_dir) / FEEDBACK_FILE


def _clip(value) -> str:
    return str(value or "")[:MAX_FIELD_CHARS]


def record(index_dir, question: str, liked: bool | None, *, query: str = "", found: bool = False,
           passage: str = "", citation: str = "", highlight: str = "") -> dict:
    """Append one verdict to the index folder's feedback file; returns the stored entry."""
    entry = {"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "question": _clip(question),
             "query": _clip(query or question), "liked": liked if isinstance(liked, bool) else None,
             "found": bool(found), "passage": _clip(passage), "citation": _clip(citation),
             "highlight": _clip(highlight)}
    path = feedback_path(index_dir)
    line = json.dumps(entry, ensure_ascii=False) + "\n"
    with _lock:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as f:
            f.write(line)
    return entry


def read(index_dir) -> list[dict]:
    """Every stored verdict, oldest first (lines that are not a verdict are skipped)."""
    path = feedback_path(index_dir)
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()[-MAX_READ:]
    except FileNotFoundError:
        return []
    out = []
    for number, line in enumerate(lines, start=1):
        try:
            entry = json.loads(line)
        except ValueError:
            log.warning("%s:%d: not a feedback line; skipped", path, number)
            continue
        if isinstance(entry, dict) and isinstance(entry.get("question"), str):
            out.append(entry)
    return out


def latest(entries: list[dict]) -> list[dict]:
    """The newest verdict per question, newest first (a vote taken back leaves nothing)."""
    newest: dict[str, dict] = {}
    for entry in entries:
        newest.pop(entry["question"], None)
        newest[entry["question"]] = entry
    return [e for e in reversed(newest.values()) if e.get("liked") is not None]


def language(question: str) -> str:
    return "zh" if _CJK.search(question) else "en"


def eval_items(entries: list[dict]) -> list[dict]:
    """Questions for `python -m qa eval` from the confirmed answers, oldest first."""
    items = []
    for e in reversed(latest(entries)):
        expect = (e.get("highlight") or e.get("passage") or "").strip()
        if e.get("liked") is True and e.get("found") and expect:
            items.append({"question": e["question"], "expect": expect, "lang": language(e["question"])})
    return items


def disputed(entries: list[dict]) -> list[dict]:
    """The answers readers marked wrong (👎), newest first: what to look at."""
    return [e for e in latest(entries) if e.get("liked") is False]


def export_eval(entries: list[dict], path) -> int:
    """Write the eval file (JSON lines); returns how many questions it holds."""
    items = eval_items(entries)
    Path(path).write_text("".join(json.dumps(i, ensure_ascii=False) + "\n" for i in items), encoding="utf-8")
    return len(items)

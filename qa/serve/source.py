"""The source view (查看原文): a document's text with a citation's lines or paragraphs marked.

A citation names places in the file: line ranges for text and Markdown, paragraph numbers for Word
and HTML, page and paragraph for PDF. `source_link` turns one into a URL of the server's
/source route, and `render_source` draws the page it shows: the whole text, the cited places
marked and scrolled into view (the URL's #cited), the title, section and location above.
"""

from __future__ import annotations

import hashlib
import html
import re
import threading
from collections import OrderedDict
from pathlib import Path

from ..answer import Citation, format_line_ranges, format_paragraph_ranges, line_runs
from ..errors import SourceError
from ..ingest import SUFFIX_FORMATS, Document, decode_text, page_and_paragraph, parse_bytes

#: Most ranges one link may name (a passage has a handful).
MAX_RANGES = 64
#: Parsed documents kept for the next view of the same file (a PDF takes a while to parse).
CACHED_DOCUMENTS = 8

_RANGES = re.compile(r"^\d{1,7}(-\d{1,7})?(,\d{1,7}(-\d{1,7})?)*$")


def document_key(entry: dict) -> str:
    """The id of an indexed document in source links: the start of its file's SHA-256 (a link
    to a file that has changed since stops working rather than marking the wrong text)."""
    return str(entry.get("sha256", ""))[:16]


def cited_units(citation: Citation, entry: dict) -> tuple[tuple[int, int], ...]:
    """The citation's places in the numbering the file was read with: file lines for text,
    paragraph units for the other formats (PDF pages and paragraphs back to units)."""
    if citation.lines:
        return tuple(tuple(r) for r in citation.lines)
    starts = entry.get("page_starts") or ()
    if citation.pages and len(citation.paragraphs) == len(citation.pages) and starts:
        pairs = zip(citation.pages, citation.paragraphs, strict=True)
        return tuple((starts[p - 1] + a - 1, starts[p - 1] + b - 1)
                     for p, (a, b) in pairs if p <= len(starts))
    return tuple(tuple(r) for r in citation.paragraphs)


def format_ranges(ranges) -> str:
    """((41, 41), (45, 47)) -> '41,45-47' (the link's `at` parameter)."""
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in ranges)


def parse_ranges(text: str | None) -> tuple[tuple[int, int], ...]:
    """Inverse of format_ranges. Raises SourceError for anything else."""
    if not text:
        return ()
    if not _RANGES.match(text) or text.count(",") >= MAX_RANGES:
        raise SourceError(f"not a list of line or paragraph numbers: {text[:40]!r} (e.g. 41,45-47)")
    out = []
    for part in text.split(","):
        a, _, b = part.partition("-")
        first, last = int(a), int(b or a)
        out.append((min(first, last), max(first, last)))
    return tuple(out)


def source_link(citation: Citation, entries: dict[str, dict]) -> str | None:
    """URL of the source view for a citation, or None when its document is not indexed.

    Args:
        entries: the index manifest's document entries by path (they hold sha256 and page starts).
    """
    entry = entries.get(citation.path)
    if not entry or not entry.get("sha256"):
        return None
    at = format_ranges(cited_units(citation, entry))
    return f"/source/{document_key(entry)}" + (f"?at={at}#cited" if at else "")


def find_entry(entries, key: str) -> dict:
    """The manifest entry of the document with this key. Raises SourceError when none has it."""
    for entry in entries:
        if key and document_key(entry) == key:
            return entry
    raise SourceError("这个文档已不在知识库里，或者在引用之后改过；请重新提问，用新的出处打开。")


_documents: OrderedDict = OrderedDict()
_documents_lock = threading.Lock()


def _read(path: Path) -> tuple[bytes, Document | None]:
    """The file's bytes and, for Word/HTML/PDF, its parsed Document (cached by size and mtime)."""
    try:
        stat = path.stat()
        data = path.read_bytes()
    except OSError as e:
        raise SourceError(f"原文文件读不到了：{path.name}（{e.strerror}）") from e
    if SUFFIX_FORMATS.get(path.suffix.lower()) == "text":  # read as lines, not parsed
        return data, None
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    with _documents_lock:
        if key in _documents:
            _documents.move_to_end(key)
            return data, _documents[key]
    doc = parse_bytes(data, str(path))
    with _documents_lock:
        _documents[key] = doc
        while len(_documents) > CACHED_DOCUMENTS:
            _documents.popitem(last=False)
    return data, doc


def _covered(number: int, ranges) -> bool:
    return any(a <= number <= b for a, b in ranges)


def _first_cited(ranges) -> int | None:
    return ranges[0][0] if ranges else None


def _text_body(text: str, ranges, markdown: bool) -> list[str]:
    """One row per line of the file: number, text; cited lines marked, the first one #cited."""
    first = _first_cited(ranges)
    rows = []
    for number, line in enumerate(text.split("\n"), start=1):
        cited = _covered(number, ranges)
        heading = markdown and re.match(r"^#{1,6}\s", line)
        classes = " ".join(c for c in ("line", "cited" if cited else "", "heading" if heading else "") if c)
        content = html.escape(line) or "&#8203;"
        if cited:
            content = f"<mark>{content}</mark>"
        anchor = ' id="cited"' if number == first else ""
        rows.append(f'<div class="{classes}" id="L{number}"><span class="no">{number}</span>'
                    f'<span class="t"{anchor}>{content}</span></div>')
    return rows


def _units_body(doc: Document, ranges) -> list[str]:
    """Word, HTML, PDF: section headings, (PDF) page breaks and the numbered paragraphs."""
    first, rows, section, page = _first_cited(ranges), [], None, None
    starts = doc.page_starts
    for paragraph in doc.paragraphs:
        if paragraph.section != section and paragraph.section:
            rows.append(f'<h2 class="section">{html.escape(paragraph.section)}</h2>')
        section = paragraph.section
        for piece in paragraph.pieces:
            label = f"第{piece.line}段"
            if starts:
                on_page, number = page_and_paragraph(piece.line, starts)
                if on_page != page:
                    rows.append(f'<div class="page">第{on_page}页</div>')
                    page = on_page
                label = f"第{on_page}页第{number}段"
            cited = _covered(piece.line, ranges)
            content = html.escape(piece.text)
            if cited:
                content = f"<mark>{content}</mark>"
            anchor = ' id="cited"' if piece.line == first else ""
            rows.append(f'<p class="unit{" cited" if cited else ""}" id="U{piece.line}"{anchor}>'
                        f'<span class="no">{label}</span>{content}</p>')
    return rows


def _section_of(doc: Document | None, text: str | None, path: str, number: int | None) -> str | None:
    """The section heading above the cited place."""
    if number is None:
        return None
    if doc is None and text is not None:
        doc = parse_bytes(text.encode("utf-8"), path)
    best = None
    for paragraph in doc.paragraphs:
        lines = [p.line for p in paragraph.pieces]
        if number in lines:
            return paragraph.section
        if lines and max(lines) < number:
            best = paragraph.section
    return best


def render_source(entry: dict, ranges: tuple[tuple[int, int], ...]) -> str:
    """The source view's HTML page for one indexed document with `ranges` marked.

    Args:
        entry: the document's manifest entry (path, title, format, sha256).
        ranges: file lines (text, Markdown) or paragraph units (Word, HTML, PDF), as in source links.
    Raises:
        SourceError: the file cannot be read or parsed any more.
    """
    path = Path(entry["path"])
    data, doc = _read(path)
    title = entry.get("title") or path.name
    notes = []
    if hashlib.sha256(data).hexdigest() != entry.get("sha256"):
        notes.append("这个文件在建立索引之后改过，标出的位置可能对不上；重建索引后再看。")
    if doc is None:
        text = decode_text(data, path.name)
        body = _text_body(text, ranges, path.suffix.lower() in (".md", ".markdown"))
        location = format_line_ranges(ranges)
        runs = line_runs(ranges)
        if len(runs) > 1:
            hops = "，再接".join(f"第{run[0][0]}行" for run in runs[1:])
            notes.append(f"这段文字在原文里分栏排版：从第{runs[0][-1][1]}行接到{hops}继续，"
                         "标出的几处连起来读是同一段。")
        section = _section_of(None, text, str(path), _first_cited(ranges))
    else:
        body = _units_body(doc, ranges)
        if doc.page_starts:
            places = [page_and_paragraph(u, doc.page_starts) for a, b in ranges for u in range(a, b + 1)]
            location = "、".join(dict.fromkeys(f"第{p}页第{n}段" for p, n in places))
        else:
            location = format_paragraph_ranges(ranges)
        section = _section_of(doc, None, str(path), _first_cited(ranges))
    if not ranges:
        notes.append("链接里没有指出行或段落：下面是全文。")
    head = " · ".join(html.escape(x) for x in (f"《{title}》", section or "", location) if x)
    note_html = "".join(f'<p class="note">{html.escape(n)}</p>' for n in notes)
    return PAGE.format(title=html.escape(title), head=head, file=html.escape(path.name),
                       notes=note_html, body="\n".join(body))


def error_page(message: str) -> str:
    """The source view's page when there is nothing to show (the reason, a way back)."""
    return PAGE.format(title="找不到原文", head="找不到原文", file="",
                       notes=f'<p class="note">{html.escape(message)}</p>', body="")


#: Headers of every source-view page: no scripts, nothing loaded from elsewhere.
HEADERS = {"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'self'",
           "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}


PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>原文：{title}</title>
<style>
body {{ margin: 0; line-height: 1.75; color: #1f2937; background: #fff;
  font-family: "Noto Sans CJK SC", "Noto Sans SC", "PingFang SC", "Microsoft YaHei", sans-serif; }}
header {{ position: sticky; top: 0; background: #f8fafc; border-bottom: 1px solid #e5e7eb;
  padding: 8px 16px; }}
header h1 {{ font-size: 1.05rem; margin: 0; overflow-wrap: anywhere; }}
header .file {{ font-size: 0.85rem; color: #6b7280; overflow-wrap: anywhere; }}
header a {{ font-size: 0.85rem; }}
main {{ padding: 8px 16px 40vh; max-width: 60rem; }}
.note {{ background: #eff6ff; border-left: 3px solid #3b82f6; padding: 4px 8px; margin: 8px 0;
  font-size: 0.92rem; }}
.line {{ display: flex; gap: 12px; }}
.line .no, .unit .no {{ color: #9ca3af; font-size: 0.8rem; min-width: 2.5em; text-align: right;
  user-select: none; flex: none; padding-top: 0.2em; }}
.unit .no {{ display: block; text-align: left; }}
.line .t {{ white-space: pre-wrap; overflow-wrap: anywhere; min-width: 0; }}
.line.heading .t {{ font-weight: 600; }}
.unit {{ margin: 0.4em 0; overflow-wrap: anywhere; }}
.section {{ font-size: 1rem; margin: 1.2em 0 0.3em; }}
.page {{ margin: 1.2em 0 0.3em; padding-top: 0.3em; border-top: 1px dashed #9ca3af; color: #6b7280;
  font-size: 0.85rem; }}
.cited {{ background: #fef3c7; }}
mark {{ background: #fde68a; color: inherit; padding: 0 2px; border-radius: 3px; }}
#cited {{ scroll-margin-top: 10rem; }}
</style></head>
<body><header><h1>原文 {head}</h1><div class="file">文件：{file} · <a href="/">返回问答</a></div></header>
<main>{notes}
{body}
</main></body></html>
"""

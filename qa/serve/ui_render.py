"""What the page shows: escaped chat markdown, citation lines, the documents panel, tables, reports.

Pure functions of what the engine returns (the 知识库 tab's tables, upload reports and
feedback summaries too); every text from a document or a user is escaped.
"""

from __future__ import annotations

import html
import os
import re
from pathlib import Path

# Before gradio is imported: it reads this once, at import time.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402

from ..answer import Hit  # noqa: E402
from . import feedback as feedback_store  # noqa: E402
from .chat import Turn  # noqa: E402

#: Characters shown of each low-confidence passage when nothing relevant was found.
LOW_CONFIDENCE_PREVIEW = 120
#: Column headers of the 知识库 tab's tables.
DOCUMENT_HEADERS = ["标题", "文件", "格式", "段落数", "章节数"]
SKIPPED_HEADERS = ["文件", "未能收录的原因"]
FEEDBACK_HEADERS = ["时间", "评价", "问题", "出处"]
#: Feedback verdicts listed on the 知识库 tab (the newest; the file keeps all of them).
FEEDBACK_SHOWN = 200
FORMAT_NAMES = {"html": "网页 HTML", "docx": "Word", "pdf": "PDF", ".md": "Markdown", ".markdown": "Markdown",
                ".txt": "纯文本", "image": "图片（OCR）", "pptx": "PowerPoint", "xlsx": "Excel", "csv": "CSV"}


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~:$^=\"'])")
_MARKDOWN_ESCAPED = re.compile(r"\\([!-/:-@\[-`{-~])")


def escape_markdown(text: str) -> str:
    """Text that the Chatbot's markdown shows literally: no HTML, links, emphasis, lists or maths.

    Markdown punctuation is backslash-escaped; <, > and & become entities, so `<script>` in a
    question or a document is shown, never run.
    """
    text = _MARKDOWN_SPECIAL.sub(r"\\\1", text)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def unescape_markdown(text: str) -> str:
    """Inverse of escape_markdown: the question a user typed, from its chat message."""
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return _MARKDOWN_ESCAPED.sub(r"\1", text)


def message_text(message) -> str:
    """The text of a chat message (dict or gr.ChatMessage; content as str or as a list of parts)."""
    content = message.get("content") if isinstance(message, dict) else getattr(message, "content", "")
    if isinstance(content, str):
        return content
    parts = content if isinstance(content, (list, tuple)) else [content]
    texts = [p.get("text", "") if isinstance(p, dict) else getattr(p, "text", "") for p in parts]
    return "".join(t for t in texts if isinstance(t, str))


def user_questions(history) -> list[str]:
    """The questions asked so far, oldest first, as the user typed them."""
    out = []
    for message in history or []:
        role = message.get("role") if isinstance(message, dict) else getattr(message, "role", None)
        if role == "user":
            out.append(unescape_markdown(message_text(message)))
    return out


def with_highlight(text: str, span: tuple[int, int] | None) -> str:
    """Escaped passage with the sentence at `span` wrapped in <mark>."""
    if span is None:
        return escape_markdown(text)
    a, b = span
    return (escape_markdown(text[:a]) + "<mark>" + escape_markdown(text[a:b]) + "</mark>"
            + escape_markdown(text[b:]))


def citation_line(hit: Hit, link: str | None = None) -> str:
    """The citation as its own line: document title, section heading, line numbers, and a link to
    the source view (查看原文) with the cited text marked."""
    line = f"**出处：**{escape_markdown(str(hit.citation))}"
    return line + (f" · [查看原文]({link})" if link else "")


def hit_block(hit: Hit, label: str = "", limit: int | None = None, link: str | None = None) -> str:
    """One passage for the chat (cut to `limit` characters), its citation and score on their own line."""
    text = hit.text if limit is None or len(hit.text) <= limit else hit.text[:limit].rstrip() + "…"
    return (f"{label}{escape_markdown(text)}\n\n"
            f"{citation_line(hit, link)} · 相关度 {hit.score:.2f}")


def answer_messages(turn: Turn, span: tuple[int, int] | None, link_for=None) -> list[dict]:
    """The assistant's messages for one answered question (markdown, every text escaped).

    link_for: hit -> URL of its source view, or None (no 查看原文 links).
    """
    link_for = link_for or (lambda hit: None)
    answer = turn.answer
    note = f"*（结合上文“{escape_markdown(turn.topic)}”理解）*\n\n" if turn.combined else ""
    if not answer.hits:
        return [{"role": "assistant", "content": note + "**没有找到相关内容。** 索引里还没有文档。"}]
    if not answer.found:
        # Only a preview of each: they are probably not the answer; the citation leads to the rest.
        closest = "\n\n".join(hit_block(h, "【低置信度】", LOW_CONFIDENCE_PREVIEW, link_for(h))
                              for h in answer.hits[:3])
        return [{"role": "assistant",
                 "content": f"{note}**没有找到相关内容。** 文档里似乎没有回答这个问题的段落。\n\n"
                            f"下面是最接近的段落，相关性低，仅供参考：\n\n{closest}"}]
    best = answer.hits[0]
    shown = with_highlight(best.text, span)
    messages = [{"role": "assistant", "content": f"{note}{shown}\n\n{citation_line(best, link_for(best))}"}]
    if len(answer.hits) > 1:
        more = "\n\n---\n\n".join(hit_block(h, link=link_for(h)) for h in answer.hits[1:])
        messages.append({"role": "assistant", "content": more,
                         "metadata": {"title": f"更多相关段落（{len(answer.hits) - 1}）", "status": "done"}})
    return messages


def documents_html(documents: list[dict]) -> str:
    """The panel that lists what is indexed: one item per document (title, number of passages,
    its sections as a list under it). HTML, every text escaped: markdown would run a document's
    title into the previous document's last section."""
    if not documents:
        return '<h3>已收录的文档</h3><p class="qa-doc-empty">（还没有文档）</p>'
    items = []
    for d in documents:
        sections = "".join(f"<li>{html.escape(s)}</li>" for s in d.get("sections", []))
        items.append(f'<li class="qa-doc"><div class="qa-doc-title">《{html.escape(d["title"])}》</div>'
                     f'<div class="qa-doc-count">{int(d["passages"])} 个段落</div>'
                     + (f'<ul class="qa-doc-sections">{sections}</ul>' if sections else "") + "</li>")
    return f'<h3>已收录的文档</h3><ul class="qa-doc-list">{"".join(items)}</ul>'


def description(documents: list[dict]) -> str:
    """One line saying what the service knows."""
    titles = "、".join(f"《{escape_markdown(d['title'])}》" for d in documents) or "（还没有文档）"
    passages = sum(d["passages"] for d in documents)
    return (f"根据 {len(documents)} 篇文档回答问题：{titles}，共 {passages} 个段落。"
            "中文、英文提问都可以；每个回答都给出原文段落和出处（文档、章节、行号或段落），可以接着追问。")


def format_name(document: dict) -> str:
    """The document's format for people: 纯文本, Markdown, 网页 HTML, Word or PDF."""
    fmt = document.get("format", "text")
    if fmt == "text":
        return FORMAT_NAMES.get(Path(document.get("path", "")).suffix.lower(), "纯文本")
    return FORMAT_NAMES.get(fmt, fmt)


def document_rows(documents: list[dict]) -> list[list]:
    """Rows of the documents table: title, file name, format, passages, sections.

    Plain strings: the table shows its "str" cells as text, so nothing here is escaped.
    """
    return [[d["title"], Path(d["path"]).name, format_name(d), d["passages"], len(d.get("sections", []))]
            for d in documents]


def skipped_rows(skipped: list[dict]) -> list[list]:
    """Rows of the table of files that could not be read: file name, reason (without the full path
    it often starts with: the file column names the file, and server paths mean nothing to readers)."""
    return [[Path(s["path"]).name, "无法读取：" + s["reason"].removeprefix(f"{s['path']}: ")]
            for s in skipped]


def document_table(documents: list[dict]):
    """The documents table's value (a DataFrame keeps its headers when there are no rows)."""
    import pandas as pd
    return pd.DataFrame(document_rows(documents), columns=DOCUMENT_HEADERS)


def skipped_table(skipped: list[dict]):
    """The skipped-files table's value."""
    import pandas as pd
    return pd.DataFrame(skipped_rows(skipped), columns=SKIPPED_HEADERS)


def document_choices(documents: list[dict]) -> list[tuple[str, str]]:
    """(label, path) for the remove selector; the file name tells apart documents of one title."""
    return [(f"{d['title']}（{Path(d['path']).name}）", d["path"]) for d in documents]


def feedback_table(entries: list[dict]):
    """The 知识库 tab's list of readers' verdicts, newest first: time, 👍/👎, question, citation."""
    import pandas as pd
    rows = [[e.get("time", "")[:16].replace("T", " "), "有用" if e["liked"] else "不对",
             e["question"], e.get("citation", "")] for e in feedback_store.latest(entries)[:FEEDBACK_SHOWN]]
    return pd.DataFrame(rows, columns=FEEDBACK_HEADERS)


def feedback_summary(entries: list[dict]) -> str:
    current = feedback_store.latest(entries)
    up = sum(e["liked"] is True for e in current)
    return (f"读者在回答下点的赞和踩：共 {len(current)} 条，有用 {up} 条，不对 {len(current) - up} 条。"
            "导出的评测文件收录点了赞的回答（高亮的句子作为应找到的内容），"
            "可以用 `python -m qa eval 文件名` 检验以后的版本；点了踩的回答列在下面，供人工查看。")


def refusal(message: str) -> gr.Error:
    """The error a caller gets for input it can fix: shown to the user, no traceback in the log."""
    return gr.Error(message, print_exception=False)


def upload_report(results: list[tuple[str, str | None, dict | None]]) -> str:
    """Markdown, one line per uploaded file: accepted with its passages, or refused with the reason.

    `results` holds (file name, refusal message or None, save_upload's result or None).
    """
    if not results:
        return "请先选择要上传的文件。"
    lines = []
    for name, problem, saved in results:
        if problem is not None:
            # the upload checks' messages start with the (sanitised) file name, shown already.
            reason = problem.split("：", 1)[1] if problem.startswith(f"{Path(name).stem}") else problem
            lines.append(f"- {escape_markdown(name)}：**未加入**。{escape_markdown(reason)}")
            continue
        document = saved.get("document") or {}
        verb = "已替换同名文件" if saved.get("replaced") else "已加入"
        title = escape_markdown(document.get("title", saved["name"]))
        lines.append(f"- {escape_markdown(saved['name'])}：**{verb}**，《{title}》，"
                     f"{document.get('passages', 0)} 个段落")
    accepted = sum(problem is None for _, problem, _ in results)
    summary = f"**上传结果**：{accepted} 个文件已加入，{len(results) - accepted} 个未加入。"
    return summary + "\n\n" + "\n".join(lines)


def feedback_views(index_dir) -> tuple:
    """The 知识库 tab's feedback summary and table, re-read from the index folder's feedback file."""
    entries = feedback_store.read(index_dir)
    return feedback_summary(entries), feedback_table(entries)

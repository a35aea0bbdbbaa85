"""The Gradio chat app: ask questions about the indexed Chinese documents, get passages with citations."""

from __future__ import annotations

import argparse
import contextlib
import html
import logging
import os
import re
import sys
import tempfile
import threading
import time
from functools import lru_cache, partial
from pathlib import Path

# Before gradio is imported: it reads this once, at import time.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402
from gradio.utils import get_upload_folder  # noqa: E402

from qa import QA, Answer, Hit, QAError  # noqa: E402
from qa.config import MAX_K  # noqa: E402
from qa.errors import SourceError, UnsafeBindError  # noqa: E402
from qa.ingest import DOCUMENT_SUFFIXES  # noqa: E402
from qa.ingest import warm as start_parse_worker  # noqa: E402
from qa.serve import feedback as feedback_store  # noqa: E402
from qa.serve.chat import Turn, read_question, resolve, topic_of  # noqa: E402
from qa.serve.highlight import SentenceVectors, best_sentence_span  # noqa: E402
from qa.serve.rest import serve  # noqa: E402
from qa.serve.settings import is_loopback  # noqa: E402
from qa.serve.source import source_link  # noqa: E402
from qa.serve.uploads import MAX_UPLOAD_BYTES, UploadError, delete_document, save_upload  # noqa: E402
from qa.translate import english_index  # noqa: E402

log = logging.getLogger("qa.app")

#: Passages per chat answer: the best one, and the rest under "更多相关段落".
CHAT_K = 4
#: Characters shown of each low-confidence passage when nothing relevant was found.
LOW_CONFIDENCE_PREVIEW = 120
#: Questions answered at the same time. The engine is read-only at query time, so they need no
#: lock; on two cores more than a few at once would only make each one slower.
CONCURRENCY = 4

#: File types the 知识库 tab's file picker offers (qa.serve.uploads checks each upload's content as well).
UPLOAD_TYPES = list(DOCUMENT_SUFFIXES)
#: Gradio's upload cache is swept this often (seconds), of files older than that: uploads that
#: never reached kb_upload (which deletes the rest at once).
UPLOAD_CACHE_SECONDS = (300, 300)
#: Column headers of the 知识库 tab's tables.
DOCUMENT_HEADERS = ["标题", "文件", "格式", "段落数", "章节数"]
SKIPPED_HEADERS = ["文件", "未能收录的原因"]
FEEDBACK_HEADERS = ["时间", "评价", "问题", "出处"]
#: Feedback verdicts listed on the 知识库 tab (the newest; the file keeps all of them).
FEEDBACK_SHOWN = 200
FORMAT_NAMES = {"html": "网页 HTML", "docx": "Word", "pdf": "PDF", ".md": "Markdown", ".markdown": "Markdown",
                ".txt": "纯文本", "image": "图片（OCR）", "pptx": "PowerPoint", "xlsx": "Excel", "csv": "CSV"}

#: Example questions, written for the built-in article (not taken from any evaluation set).
EXAMPLES = (
    "雍景苑小区的停车管理难题后来怎么样了？",
    "江湾国际公寓为什么要安装门禁系统？",
    "“一三角”是哪三方之间的关系？",
    "How did the Party organisation help with parking in Yongjingyuan?",
)

#: Styles for the page; also pass to gr.mount_gradio_app(css=CSS) when the demo is mounted elsewhere.
CSS = """
.gradio-container, .gradio-container .prose { font-family: "Noto Sans CJK SC", "Noto Sans SC",
  "PingFang SC", "Microsoft YaHei", sans-serif; }
.gradio-container .prose { line-height: 1.75; }
.qa-docs .prose { font-size: 0.92em; }
mark { background: #fde68a; color: inherit; padding: 0 2px; border-radius: 3px; }
.qa-kb-note .prose { font-size: 0.92em; color: var(--body-text-color-subdued); }
/* Table cells default to a monospace font, which has no Chinese glyphs of its own. */
#kb-documents .body-cell *, #kb-skipped .body-cell *, #kb-feedback .body-cell * {
  font-family: "Noto Sans CJK SC", "Noto Sans SC", "PingFang SC", "Microsoft YaHei", sans-serif !important; }
/* Words wrap between words, never letter by letter ("Ma/rkd/ow/n"); a table too wide for a phone
   scrolls inside its own box instead of squeezing its columns. */
#kb-documents .body-cell *, #kb-skipped .body-cell *, #kb-feedback .body-cell *,
#kb-documents .header-content, #kb-skipped .header-content, #kb-feedback .header-content {
  word-break: normal !important; overflow-wrap: normal !important; }
@media (max-width: 640px) {
  /* Percent widths squeeze a 5-column table into a phone's 320 px; give each column room for its
     words instead, and let the table scroll sideways inside its own box. */
  #kb-documents [aria-colindex="1"] { width: 9em !important; min-width: 9em !important;
    max-width: 9em !important; flex: 0 0 9em !important; }
  #kb-documents [aria-colindex="2"] { width: 8em !important; min-width: 8em !important;
    max-width: 8em !important; flex: 0 0 8em !important; }
  #kb-documents [aria-colindex="3"] { width: 6.5em !important; min-width: 6.5em !important;
    max-width: 6.5em !important; flex: 0 0 6.5em !important; }
  #kb-documents [aria-colindex="4"], #kb-documents [aria-colindex="5"] { width: 4.5em !important;
    min-width: 4.5em !important; max-width: 4.5em !important; flex: 0 0 4.5em !important; }
  #kb-documents .header-table, #kb-documents .virtual-body { width: 32.5em !important; }
  #kb-feedback [aria-colindex="1"] { width: 8.5em !important; min-width: 8.5em !important;
    max-width: 8.5em !important; flex: 0 0 8.5em !important; }
  #kb-feedback [aria-colindex="2"] { width: 4.5em !important; min-width: 4.5em !important;
    max-width: 4.5em !important; flex: 0 0 4.5em !important; }
  #kb-feedback [aria-colindex="3"], #kb-feedback [aria-colindex="4"] { width: 11em !important;
    min-width: 11em !important; max-width: 11em !important; flex: 0 0 11em !important; }
  #kb-feedback .header-table, #kb-feedback .virtual-body { width: 35em !important; }
}
/* The documents panel: one block per document, its sections listed under it. */
.qa-doc-list { list-style: none; padding: 0; margin: 0; }
.qa-doc { margin: 0 0 0.9em; padding: 0 0 0.6em; border-bottom: 1px solid var(--border-color-primary); }
.qa-doc:last-child { border-bottom: none; }
.qa-doc-title { font-weight: 600; overflow-wrap: anywhere; }
.qa-doc-count { color: var(--body-text-color-subdued); font-size: 0.9em; }
.qa-doc-sections { margin: 0.3em 0 0 1.1em; padding: 0; list-style: disc; font-size: 0.9em; }
.qa-doc-sections li { margin: 0.15em 0; overflow-wrap: anywhere; }
.qa-source-link { white-space: nowrap; }
/* No horizontal scrolling of the page on a phone. */
.gradio-container { overflow-x: hidden; }
@media (max-width: 640px) {
  .gradio-container { padding-left: 8px !important; padding-right: 8px !important; }
}
"""

#: Gradio's own words that a browser set to another language than Chinese would show in English
#: (translation keys of Gradio's frontend; its zh-CN translation is used for Chinese browsers).
I18N_OVERRIDES = {
    "upload_text.drop_file": "将文件拖放到此处", "upload_text.click_to_upload": "点击上传",
    "common.or": "或", "common.clear": "清空", "chatbot.like": "有用", "chatbot.dislike": "不对",
    "chatbot.clear": "清空", "chatbot.copy_message": "复制这条消息", "chatbot.copied_message": "已复制",
    "file.uploading": "正在上传…", "common.loading": "正在加载",
}

#: Tooltips and screen-reader labels that Gradio's components write in English whatever the
#: browser's language; put into Chinese as they appear (attributes only, never page text).
ATTRIBUTE_LABELS = {
    "Copy conversation": "复制整段对话", "Copy message": "复制这条消息", "Copied message": "已复制",
    "Copy table data": "复制表格", "Fullscreen": "全屏", "Exit fullscreen mode": "退出全屏",
    "Exit fullscreen": "退出全屏", "Click to upload or drop files": "点击上传或把文件拖到这里",
    "File upload": "上传文件", "Table actions": "表格操作", "Dataframe": "表格",
    "Open cell menu": "单元格菜单", "chatbot conversation": "对话", "Textbox": "输入框", "Like": "有用",
    "Dislike": "不对", "Clear": "清空", "Copy": "复制", "Copied": "已复制",
    "Gradio footer navigation": "页脚",
    "Scroll down": "滚到最新", "Scroll to bottom": "滚到最新", "Remove": "移除", "Download": "下载",
    "Expand": "展开", "Collapse": "收起", "Clear conversation": "清空对话", "Toggle": "展开或收起",
    "Upload": "上传",
}

#: Runs once when the page loads: translates ATTRIBUTE_LABELS, now and in whatever Gradio adds later.
PAGE_JS = """() => {
  const labels = %s;
  const fix = (root) => {
    for (const attribute of ["title", "aria-label"]) {
      const found = root.querySelectorAll ? root.querySelectorAll(`[${attribute}]`) : [];
      for (const element of [root, ...found]) {
        const value = element.getAttribute && element.getAttribute(attribute);
        if (value && labels[value.trim()]) element.setAttribute(attribute, labels[value.trim()]);
      }
    }
  };
  fix(document.body);
  new MutationObserver((changes) => { for (const c of changes) {
    if (c.type === "attributes") fix(c.target); else c.addedNodes.forEach((n) => n.nodeType === 1 && fix(n));
  } }).observe(document.body, {subtree: true, childList: true, attributes: true,
                               attributeFilter: ["title", "aria-label"]});
}"""


def page_options() -> dict:
    """What the page needs wherever the demo is served: styles, the Chinese labels, the script."""
    import json

    return {"css": CSS, "js": PAGE_JS % json.dumps(ATTRIBUTE_LABELS, ensure_ascii=False),
            "i18n": gr.I18n(en=I18N_OVERRIDES), "footer_links": ["api"]}


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


def ask_result(answer: Answer, highlight: str, link_for=None) -> dict:
    """The JSON object the /ask endpoint returns (`source`: the hit's source-view URL, or "")."""
    link_for = link_for or (lambda hit: None)
    best = answer.best
    return {
        "found": answer.found,
        "passage": best.text if best else "",
        "citation": str(best.citation) if best else "",
        "score": best.score if best else 0.0,
        "confidence": answer.confidence,
        "highlight": highlight,
        # "lines" is empty for Word, HTML and PDF passages; "location" says where they stand.
        "hits": [{"text": h.text, "citation": str(h.citation), "score": h.score,
                  "lines": [list(r) for r in h.citation.lines], "location": h.citation.location,
                  "source": link_for(h) or ""}
                 for h in answer.hits],
    }


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


def is_received_upload(path, received: set, upload_cache: Path) -> bool:
    """Whether `path` is a file Gradio's upload route received (it records each in its upload
    set) and still lies in its upload folder as a regular file, not a link."""
    raw = str(path)
    if raw not in received:
        return False
    try:
        resolved = Path(raw).resolve(strict=True)
    except (OSError, RuntimeError):
        return False
    return resolved.is_relative_to(upload_cache) and resolved.is_file() and not Path(raw).is_symlink()


def warm_up(qa: QA, sentence_vectors: SentenceVectors) -> None:
    """Pay one-off costs before the first visitor does: the first search (lazy initialisation in
    the tokenizer and encoder, ~2 s), the English-Chinese dictionary for English questions (~1 s)
    and the sentence embeddings used for highlighting (~5 s)."""
    try:
        qa.ask(qa.documents()[0]["title"] if qa.documents() else "warm up", k=1)
        english_index()
        sentence_vectors.warm([c.text for c in qa.chunks])
    except Exception:  # noqa: BLE001 - warming is an optimisation; a failure here must not stop the app
        log.exception("warm-up failed; answers will still work, the first ones more slowly")


def build_demo(qa: QA, examples=EXAMPLES, warm: bool = True, writable: bool = True) -> gr.Blocks:
    """The chat page, the 知识库 tab and their API endpoints (`/chat`, `/ask`, `/kb_list`,
    `/kb_upload`, `/kb_remove`) over one loaded QA.

    Args:
        warm: embed the corpus sentences for highlighting in a background thread right away.
        writable: allow uploads and removals from the page; False when other machines can reach it
            (the page has no login; the REST API's token guards writes there).
    """
    documents = qa.documents()
    sentence_vectors = SentenceVectors(qa)
    if warm:
        threading.Thread(target=warm_up, args=(qa, sentence_vectors), name="qa-warm-up", daemon=True).start()

    # Follow-ups replay earlier questions (see qa.serve.chat.topic_of); caching the engine's answers
    # makes that replay free. The engine is deterministic for a given index build; the build id
    # is part of the key because documents can be added while the app runs (qa.add / refresh).
    @lru_cache(maxsize=1024)
    def ask_cached(query: str, build) -> Answer:
        return qa.ask(query, k=CHAT_K)

    def ask_chat(query: str) -> Answer:
        qa.refresh()  # another process (python -m qa add/remove) may have changed the index
        return ask_cached(query, qa.manifest.get("build"))

    def link_for(hit: Hit) -> str | None:
        """URL of the hit's source view (the /source route of qa.serve.rest)."""
        entries = {d["path"]: d for d in qa.manifest.get("documents", [])}
        return source_link(hit.citation, entries)

    def answer_turn(history: list) -> tuple[Turn, tuple[int, int] | None] | None:
        """The turn the last user message of `history` got, replayed (the engine's answers are
        cached), and its highlighted span; None when there is no question in it."""
        questions = user_questions(history)
        if not questions:
            return None
        question, problem = read_question(questions[-1])
        if problem:
            return None
        turn = resolve(ask_chat, question, topic_of(ask_chat, questions[:-1]))
        best = turn.answer.best if turn.answer.found else None
        span = best_sentence_span(qa, question, best.text, sentence_vectors) if best else None
        return turn, span

    def chat(message: str, history: list) -> list:
        """Answer one chat message; returns the whole conversation (messages format)."""
        history = list(history or [])
        question, problem = read_question(message)
        if problem:
            # The refused input is not added as a user message: later turns replay the user
            # messages to resolve follow-ups, and a refused one must not become their topic.
            return history + [{"role": "assistant", "content": escape_markdown(problem)}]
        history.append({"role": "user", "content": escape_markdown(question)})
        try:
            turn, span = answer_turn(history)
        except QAError as e:
            log.warning("question refused: %s", e)
            return history + [{"role": "assistant", "content": escape_markdown(f"无法回答这个问题：{e}")}]
        return history + answer_messages(turn, span, link_for)

    def on_feedback(history: list, data: gr.LikeData):
        """Store a reader's 👍/👎 on an answer with its question, passage and citation."""
        history = list(history or [])
        index = data.index if isinstance(data.index, int) else data.index[0]
        try:
            resolved = answer_turn(history[:index + 1])
        except QAError as e:
            log.warning("feedback not stored: %s", e)
            resolved = None
        if resolved is not None:
            turn, span = resolved
            best = turn.answer.best
            liked = data.liked if isinstance(data.liked, bool) else None
            feedback_store.record(qa.index_dir, turn.question, liked, query=turn.query,
                                  found=turn.answer.found, passage=best.text if best else "",
                                  citation=str(best.citation) if best else "",
                                  highlight=best.text[span[0]:span[1]] if best and span else
                                  (best.text if best and turn.answer.found else ""))
        return feedback_views()

    def feedback_views():
        entries = feedback_store.read(qa.index_dir)
        return feedback_summary(entries), feedback_table(entries)

    def feedback_export():
        """The confirmed answers as an eval file (JSON lines) to download."""
        entries = feedback_store.read(qa.index_dir)
        folder = Path(tempfile.mkdtemp(prefix="feedback-", dir=upload_cache))
        path = folder / "feedback-eval.jsonl"
        count = feedback_store.export_eval(entries, path)
        if not count:
            raise refusal("还没有点了赞的回答，没有可导出的问题。")
        return gr.File(value=str(path), visible=True, label=f"评测文件（{count} 个问题）")

    def ask(question: str, k: int = 3) -> dict:
        """Answer one question; returns {found, passage, citation, score, confidence, highlight, hits}."""
        if not isinstance(question, str):  # read_question would make text of a number or a list
            raise gr.Error(f"问题必须是文字，收到的是 {type(question).__name__}。")
        text, problem = read_question(question)
        if problem:
            raise refusal(problem)
        if isinstance(k, float) and k.is_integer():
            k = int(k)
        if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= MAX_K:
            raise refusal(f"k 必须是 1 到 {MAX_K} 之间的整数，收到的是 {k!r}。")
        try:
            qa.refresh()
            answer = qa.ask(text, k=k)
        except QAError as e:
            raise refusal(f"无法回答这个问题：{e}") from e
        span = best_sentence_span(qa, text, answer.best.text, sentence_vectors) if answer.best else None
        return ask_result(answer, answer.best.text[span[0]:span[1]] if span else "", link_for)

    def kb_views():
        """Everything that shows what is indexed, on both tabs, re-read from the engine."""
        qa.refresh()  # another process (python -m qa add/remove) may have updated the index
        current = qa.documents()
        return (description(current), documents_html(current), document_table(current),
                skipped_table(qa.skipped()), gr.Dropdown(choices=document_choices(current), value=None))

    def refuse_writes():
        if not writable:
            raise refusal("这个服务对其他机器开放，网页上的上传和移除已关闭；"
                          "请在服务器上用 python -m qa add / remove 管理知识库。")

    def kb_upload(files) -> tuple:
        """Add uploaded files to the knowledge base, each on its own: a refused file does not stop
        the others. Returns the per-file report, an emptied file picker and the refreshed views."""
        refuse_writes()
        results = []
        for upload in files or []:
            path = Path(upload).resolve()
            name = path.name  # Gradio keeps the browser's base name for the cached copy
            if not is_received_upload(upload, demo.upload_file_set, upload_cache):
                # Only what this server's upload route received: a path named in the call
                # (/etc/…, ../..) would otherwise copy a server file into the knowledge base.
                log.warning("refused a file that was not uploaded: %r", str(upload)[:300])
                results.append((name, "只接受通过本页上传的文件。", None))
                continue
            try:
                results.append((name, None, save_upload(qa, name, path)))
            except UploadError as e:
                results.append((name, str(e), None))
            except QAError as e:
                results.append((name, f"无法加入知识库：{e}", None))
            except Exception:  # noqa: BLE001 - one broken file must not lose the others' results
                log.exception("upload of %r failed", name)
                results.append((name, "服务器处理这个文件时出错，未加入。", None))
            finally:
                # The knowledge base now has its own copy (or refused the file): Gradio's cached
                # upload would otherwise stay on disk outside the knowledge-base folder.
                if path.is_relative_to(upload_cache):
                    with contextlib.suppress(OSError):
                        path.unlink()
                        path.parent.rmdir()  # Gradio's one-upload folder, if nothing else is in it
        return (upload_report(results), None) + kb_views()

    def kb_remove(path) -> tuple:
        """Take the selected document out of the knowledge base (an uploaded file is deleted too)."""
        refuse_writes()
        if not path:
            raise refusal("请先在列表里选择要移除的文档。")
        known = {d["path"]: d for d in qa.documents()}
        document = known.get(path) or next((d for d in known.values() if Path(d["path"]).name == path), None)
        if document is None:
            raise refusal(f"知识库里没有这个文档：{path}")
        try:
            result = delete_document(qa, document["path"])
        except SourceError as e:
            raise refusal(f"知识库里没有这个文档：{path}") from e
        except QAError as e:
            raise refusal(f"无法移除这个文档：{e}") from e
        note = "上传的文件已一并删除。" if result["deleted_file"] else "源文件不在知识库文件夹里，没有删除。"
        message = (f"已从知识库移除《{escape_markdown(document['title'])}》"
                   f"（{escape_markdown(Path(document['path']).name)}）。{note}")
        return (message,) + kb_views()

    def kb_list() -> dict:
        """What the knowledge base holds: {documents: [{title, file, source, format, passages,
        sections}], skipped: [{file, source, reason}]}; `source` is the full path on the server."""
        qa.refresh()
        # No "path" keys: gradio_client would take such dicts for files and try to download them.
        return {"documents": [{"title": d["title"], "file": Path(d["path"]).name, "source": d["path"],
                               "format": d["format"], "passages": d["passages"],
                               "sections": d.get("sections", [])} for d in qa.documents()],
                "skipped": [{"file": Path(s["path"]).name, "source": s["path"], "reason": s["reason"]}
                            for s in qa.skipped()]}

    # delete_cache: uploads Gradio refused itself (wrong type) never reach kb_upload, which deletes
    # the others; Gradio removes such leftovers from its cache after an hour.
    with gr.Blocks(title="文档问答", analytics_enabled=False, delete_cache=UPLOAD_CACHE_SECONDS) as demo:
        gr.Markdown("# 文档问答")
        # Document titles and headings are escaped; no maths either (a "$$" in a title stays text).
        about = gr.Markdown(description(documents), latex_delimiters=[])
        with gr.Tabs():
            with gr.Tab("问答", id="chat"):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=3):
                        chatbot = gr.Chatbot(
                            label="对话", show_label=False, height=600, latex_delimiters=[],
                            sanitize_html=True, render_markdown=True, feedback_options=("Like", "Dislike"),
                            group_consecutive_messages=False,
                            buttons=["copy", "copy_all"],  # no "share": nothing leaves this machine
                            placeholder="在下面输入问题，按回车或点「提问」。")
                        with gr.Row():
                            # No autofocus: on a phone it scrolls the page past the title and tabs.
                            box = gr.Textbox(label="问题", show_label=False, scale=5, max_lines=4,
                                             autofocus=False, elem_id="question",
                                             placeholder="输入问题，按回车发送；可以接着追问")
                            send = gr.Button("提问", variant="primary", scale=1, min_width=80)
                        if examples:
                            gr.Markdown("**试试这些问题：**")
                            with gr.Row():
                                buttons = [gr.Button(e, size="sm", variant="secondary") for e in examples]
                        gr.ClearButton([chatbot, box], value="清空对话", size="sm")
                    with gr.Column(scale=1, min_width=240, elem_classes="qa-docs"):
                        panel = gr.HTML(documents_html(documents), elem_id="qa-documents")

            with gr.Tab("知识库", id="kb") as kb_tab:
                with gr.Row(equal_height=False):
                    with gr.Column(scale=3):
                        gr.Markdown("### 上传文档")
                        gr.Markdown(f"支持 {' '.join(UPLOAD_TYPES)}，"
                                    f"每个文件不超过 {MAX_UPLOAD_BYTES // 2**20} MB，可以一次选多个。"
                                    "上传后马上建立索引，「问答」页立即能用新文档回答，"
                                    "不用重启。已有同名文件时替换它。", elem_classes="qa-kb-note")
                        files = gr.File(label="选择文件", file_count="multiple", file_types=UPLOAD_TYPES,
                                        height=140, elem_id="kb-files", interactive=writable)
                        upload = gr.Button("上传并加入知识库", variant="primary", elem_id="kb-upload",
                                           interactive=writable)
                        # File names and titles are escaped; no maths either.
                        report = gr.Markdown(elem_id="kb-report", latex_delimiters=[])
                    with gr.Column(scale=2, min_width=260):
                        gr.Markdown("### 移除文档")
                        # Custom values are allowed so that an API client may name a document its own way
                        # (path or file name); kb_remove checks it against the index.
                        remove_choice = gr.Dropdown(choices=document_choices(documents), value=None,
                                                    label="选择要移除的文档", allow_custom_value=True,
                                                    elem_id="kb-remove-choice", interactive=writable)
                        remove = gr.Button("从知识库移除", variant="stop", elem_id="kb-remove",
                                           interactive=writable)
                        removed = gr.Markdown(elem_id="kb-removed", latex_delimiters=[])
                        gr.Markdown("上传到知识库文件夹的文件会一并删除；其他位置的源文件只从索引中去掉，"
                                    "文件本身不动。", elem_classes="qa-kb-note")
                if not writable:
                    gr.Markdown("这个服务对其他机器开放，网页上的上传和移除已关闭；"
                                "请在服务器上用 `python -m qa add` / `remove` 管理知识库。")
                gr.Markdown("### 已收录的文档")
                # "str" cells are shown as text by the table, so titles need no escaping here.
                table = gr.Dataframe(document_table(documents), interactive=False, wrap=True,
                                     datatype=["str", "str", "str", "number", "number"],
                                     column_widths=["34%", "30%", "12%", "12%", "12%"],
                                     elem_id="kb-documents", show_label=False)
                gr.Markdown("### 未能收录的文件")
                skipped = gr.Dataframe(skipped_table(qa.skipped()), interactive=False, wrap=True,
                                       datatype=["str", "str"], column_widths=["34%", "66%"],
                                       elem_id="kb-skipped", show_label=False)
                gr.Markdown("### 读者反馈")
                initial_feedback = feedback_store.read(qa.index_dir)
                feedback_note = gr.Markdown(feedback_summary(initial_feedback), elem_classes="qa-kb-note",
                                            elem_id="kb-feedback-summary", latex_delimiters=[])
                feedback_list = gr.Dataframe(feedback_table(initial_feedback), interactive=False, wrap=True,
                                             datatype=["str", "str", "str", "str"],
                                             column_widths=["18%", "12%", "35%", "35%"],
                                             elem_id="kb-feedback", show_label=False)
                export = gr.Button("导出为评测文件", elem_id="kb-feedback-export", size="sm")
                exported = gr.File(label="评测文件", visible=False, interactive=False,
                                   elem_id="kb-feedback-file")

        gr.on([box.submit, send.click], chat, [box, chatbot], chatbot, api_name="chat")
        # Inputs are read when the event fires, so clearing the box at once does not lose the question.
        gr.on([box.submit, send.click], lambda: "", None, box, queue=False, api_visibility="private")
        for button, example in zip(buttons if examples else [], examples or [], strict=True):
            button.click(partial(chat, example), chatbot, chatbot, api_visibility="private")
        gr.api(ask, api_name="ask")

        upload_cache = Path(get_upload_folder()).resolve()
        views = [about, panel, table, skipped, remove_choice]
        # One write at a time (qa.add/remove serialise anyway); questions keep being answered meanwhile.
        upload.click(kb_upload, files, [report, files, *views], api_name="kb_upload",
                     concurrency_limit=1, concurrency_id="kb-write")
        remove.click(kb_remove, remove_choice, [removed, *views], api_name="kb_remove",
                     concurrency_limit=1, concurrency_id="kb-write")
        gr.api(kb_list, api_name="kb_list")
        chatbot.like(on_feedback, chatbot, [feedback_note, feedback_list], api_visibility="private")
        export.click(feedback_export, None, exported, api_visibility="private")
        kb_tab.select(feedback_views, None, [feedback_note, feedback_list], queue=False,
                      api_visibility="private")
        # A page opened, or a tab shown, after documents were added or removed elsewhere shows them.
        demo.load(kb_views, None, views, queue=False, api_visibility="private")
        kb_tab.select(kb_views, None, views, queue=False, api_visibility="private")
    demo.queue(default_concurrency_limit=CONCURRENCY)
    return demo


def launch(demo: gr.Blocks, host: str, port: int, qa: QA | None = None) -> None:
    """Serve the demo at / and the REST API at /api (docs: /docs) from one uvicorn process (blocks
    until stopped). The one place that decides how the app is served."""
    try:
        # Not demo.launch(): its queue costs ~170 ms a question; /api/ask calls the engine directly.
        options = {**page_options(), "show_error": False, "ssr_mode": False,
                   "enable_monitoring": False, "max_file_size": MAX_UPLOAD_BYTES}
        serve(qa, demo, host, port, gradio_options=options)
    except UnsafeBindError as e:
        raise SystemExit(f"error: {e}") from None


def parse_args(argv=None) -> argparse.Namespace:
    """--host/--port/--index-dir; host and port default to GRADIO_SERVER_NAME/GRADIO_SERVER_PORT."""
    parser = argparse.ArgumentParser(description="文档问答：Gradio chat app over the indexed documents.")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME") or "127.0.0.1",
                        help="address to bind (default: $GRADIO_SERVER_NAME or 127.0.0.1)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT") or 7860),
                        help="port (default: $GRADIO_SERVER_PORT or 7860)")
    parser.add_argument("--index-dir", default=None, help="index folder (default: $QA_INDEX_DIR or ./index)")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    started = time.perf_counter()
    # Progress on the console while nothing answers yet: a first start embeds every passage.
    print("正在加载模型和索引（第一次启动要为所有段落建立索引，约半分钟；进度见下）…", flush=True)
    try:
        qa = QA(index_dir=args.index_dir)  # model and index load once, here
    except QAError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    # The document parser's worker process starts now, not on the first upload.
    threading.Thread(target=start_parse_worker, name="qa-parse-warm", daemon=True).start()
    built = f"新建索引用时 {qa.build_seconds:.1f} s，" if qa.build_seconds is not None else ""
    print(f"索引就绪：{len(qa.documents())} 篇文档，{len(qa.chunks)} 个段落（{built}"
          f"到此共 {time.perf_counter() - started:.1f} s）。正在启动网页…", flush=True)
    # The page has no login: uploads and removals only while no other machine can reach it.
    launch(build_demo(qa, writable=is_loopback(args.host)), args.host, args.port, qa=qa)
    return 0


if __name__ == "__main__":
    sys.exit(main())

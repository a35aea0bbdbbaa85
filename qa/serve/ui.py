"""The Gradio UI: the 问答 and 知识库 tabs laid out and wired; `build_demo` is the entry point.

What the tabs do lives in qa.serve.ui_chat and qa.serve.ui_kb, what they show in ui_render.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from functools import partial

# Before gradio is imported: it reads this once, at import time.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402

from . import feedback as feedback_store  # noqa: E402
from .highlight import SentenceVectors  # noqa: E402
from .ui_chat import ChatTab, warm_up  # noqa: E402
from .ui_kb import REPLICA_NOTE, UPLOAD_TYPES, KnowledgeBaseTab  # noqa: E402
from .ui_page import EXAMPLES  # noqa: E402
from .ui_render import (  # noqa: E402
    description,
    document_choices,
    document_table,
    documents_html,
    feedback_summary,
    feedback_table,
    skipped_table,
)
from .uploads import MAX_UPLOAD_BYTES  # noqa: E402

#: Questions answered at the same time. The engine is read-only at query time, so they need no
#: lock; on two cores more than a few at once would only make each one slower.
CONCURRENCY = 4
#: Gradio's upload cache is swept this often (seconds), of files older than that: uploads that
#: never reached kb_upload (which deletes the rest at once).
UPLOAD_CACHE_SECONDS = (300, 300)


@dataclass
class ChatComponents:
    """The 问答 tab's parts that events read or write."""

    chatbot: gr.Chatbot
    box: gr.Textbox
    send: gr.Button
    examples: list[tuple[gr.Button, str]]
    panel: gr.HTML


@dataclass
class KnowledgeBaseComponents:
    """The 知识库 tab's parts that events read or write."""

    tab: gr.Tab
    files: gr.File
    upload: gr.Button
    report: gr.Markdown
    remove_choice: gr.Dropdown
    remove: gr.Button
    removed: gr.Markdown
    table: gr.Dataframe
    skipped: gr.Dataframe
    feedback_note: gr.Markdown
    feedback_list: gr.Dataframe
    export: gr.Button
    exported: gr.File


def build_demo(qa, examples=EXAMPLES, warm: bool = True, writable: bool = True) -> gr.Blocks:
    """The chat page, the 知识库 tab and their API endpoints (`/chat`, `/ask`, `/kb_list`,
    `/kb_upload`, `/kb_remove`) over one loaded QA.

    Args:
        warm: embed the corpus sentences for highlighting in a background thread right away.
        writable: allow uploads and removals from the page; False when other machines can reach it
            (the page has no login; the REST API's token guards writes there). A read-only replica
            (qa.replica) is never writable, and its 知识库 tab shows no upload or remove controls.
    """
    replica = bool(getattr(qa, "replica", False))
    writable = writable and not replica
    documents = qa.documents()
    sentence_vectors = SentenceVectors(qa)
    if warm:
        threading.Thread(target=warm_up, args=(qa, sentence_vectors), name="qa-warm-up", daemon=True).start()
    chat = ChatTab(qa, sentence_vectors)

    # delete_cache: uploads Gradio refused itself (wrong type) never reach kb_upload, which deletes
    # the others; Gradio removes such leftovers from its cache after an hour.
    with gr.Blocks(title="文档问答", analytics_enabled=False, delete_cache=UPLOAD_CACHE_SECONDS) as demo:
        gr.Markdown("# 文档问答")
        # Document titles and headings are escaped; no maths either (a "$$" in a title stays text).
        about = gr.Markdown(description(documents), latex_delimiters=[])
        with gr.Tabs():
            chat_parts = chat_tab(documents, examples)
            kb_parts = knowledge_base_tab(qa, documents, writable, replica)
        kb = KnowledgeBaseTab(qa, writable, received=lambda: demo.upload_file_set, replica=replica)
        wire(demo, chat, kb, about, chat_parts, kb_parts)
    demo.queue(default_concurrency_limit=CONCURRENCY)
    return demo


def chat_tab(documents: list[dict], examples) -> ChatComponents:
    """Lay out the 问答 tab: the conversation, the question box, examples, the documents panel."""
    with gr.Tab("问答", id="chat"), gr.Row(equal_height=False):
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
            buttons = []
            if examples:
                gr.Markdown("**试试这些问题：**")
                with gr.Row():
                    buttons = [(gr.Button(e, size="sm", variant="secondary"), e) for e in examples]
            gr.ClearButton([chatbot, box], value="清空对话", size="sm")
        with gr.Column(scale=1, min_width=240, elem_classes="qa-docs"):
            panel = gr.HTML(documents_html(documents), elem_id="qa-documents")
    return ChatComponents(chatbot, box, send, buttons, panel)


def knowledge_base_tab(qa, documents: list[dict], writable: bool,
                       replica: bool = False) -> KnowledgeBaseComponents:
    """Lay out the 知识库 tab: upload, remove, the tables of documents, skipped files and feedback.

    replica: a read-only replica: the upload and remove controls are not shown (their API
    endpoints stay, and refuse).
    """
    with gr.Tab("知识库", id="kb") as tab:
        with gr.Row(equal_height=False, visible=not replica):
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
                # (path or file name); KnowledgeBaseTab.remove checks it against the index.
                remove_choice = gr.Dropdown(choices=document_choices(documents), value=None,
                                            label="选择要移除的文档", allow_custom_value=True,
                                            elem_id="kb-remove-choice", interactive=writable)
                remove = gr.Button("从知识库移除", variant="stop", elem_id="kb-remove", interactive=writable)
                removed = gr.Markdown(elem_id="kb-removed", latex_delimiters=[])
                gr.Markdown("上传到知识库文件夹的文件会一并删除；其他位置的源文件只从索引中去掉，"
                            "文件本身不动。", elem_classes="qa-kb-note")
        if replica:
            gr.Markdown(REPLICA_NOTE, elem_id="kb-replica")
        elif not writable:
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
        exported = gr.File(label="评测文件", visible=False, interactive=False, elem_id="kb-feedback-file")
    return KnowledgeBaseComponents(tab, files, upload, report, remove_choice, remove, removed, table,
                                   skipped, feedback_note, feedback_list, export, exported)


def wire(demo: gr.Blocks, chat: ChatTab, kb: KnowledgeBaseTab, about: gr.Markdown,
         chat_ui: ChatComponents, kb_ui: KnowledgeBaseComponents) -> None:
    """Connect the components' events and the API endpoints to the tabs' behaviour."""
    asked = [chat_ui.box.submit, chat_ui.send.click]
    gr.on(asked, chat.chat, [chat_ui.box, chat_ui.chatbot], chat_ui.chatbot, api_name="chat")
    # Inputs are read when the event fires, so clearing the box at once does not lose the question.
    gr.on(asked, lambda: "", None, chat_ui.box, queue=False, api_visibility="private")
    for button, example in chat_ui.examples:
        button.click(partial(chat.chat, example), chat_ui.chatbot, chat_ui.chatbot, api_visibility="private")
    gr.api(chat.ask, api_name="ask")

    views = [about, chat_ui.panel, kb_ui.table, kb_ui.skipped, kb_ui.remove_choice]
    # One write at a time (qa.add/remove serialise anyway); questions keep being answered meanwhile.
    kb_ui.upload.click(kb.upload, kb_ui.files, [kb_ui.report, kb_ui.files, *views], api_name="kb_upload",
                       concurrency_limit=1, concurrency_id="kb-write")
    kb_ui.remove.click(kb.remove, kb_ui.remove_choice, [kb_ui.removed, *views], api_name="kb_remove",
                       concurrency_limit=1, concurrency_id="kb-write")
    gr.api(kb.listing, api_name="kb_list")
    feedback = [kb_ui.feedback_note, kb_ui.feedback_list]
    chat_ui.chatbot.like(chat.on_feedback, chat_ui.chatbot, feedback, api_visibility="private")
    kb_ui.export.click(kb.feedback_export, None, kb_ui.exported, api_visibility="private")
    kb_ui.tab.select(kb.feedback_views, None, feedback, queue=False, api_visibility="private")
    # A page opened, or a tab shown, after documents were added or removed elsewhere shows them.
    demo.load(kb.views, None, views, queue=False, api_visibility="private")
    kb_ui.tab.select(kb.views, None, views, queue=False, api_visibility="private")

"""How the chat page looks: styles, Chinese labels for Gradio's own words, the page script, examples."""

from __future__ import annotations

import json
import os

# Before gradio is imported: it reads this once, at import time.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402

from .upload_owners import middleware_options  # noqa: E402

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
    """What the page needs wherever the demo is served: styles, the Chinese labels, the script, and
    the middleware that records who uploaded which file (without it kb_upload refuses every file)."""
    return middleware_options({"css": CSS, "js": PAGE_JS % json.dumps(ATTRIBUTE_LABELS, ensure_ascii=False),
                               "i18n": gr.I18n(en=I18N_OVERRIDES), "footer_links": ["api"]})

"""The chat page in a real browser (Debian chromium driven by Playwright): ask, see passage and citation."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

sync_api = pytest.importorskip("playwright.sync_api")

from qa.serve import ui, ui_chat, ui_page  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
QUESTION = "雍景苑小区的停车管理难题后来怎么样了？"

pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} not installed")



@pytest.fixture(scope="module")
def url(qa_builtin, launch_local):
    demo = ui.build_demo(qa_builtin)
    yield launch_local(demo, **ui_page.page_options())
    demo.close()


@pytest.fixture(scope="module")
def browser():
    # One Playwright per module: its sync API cannot run twice at once in a thread.
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def open_page(browser, url: str):
    """A Chinese-locale page at `url`, chat box ready; page.dialogs collects any alert()."""
    page = browser.new_page(viewport={"width": 1280, "height": 1000}, locale="zh-CN")
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.dialogs = dialogs
    page.goto(url)
    page.wait_for_selector("#question textarea", timeout=20_000)
    return page


@pytest.fixture(scope="module")
def page(browser, url):
    page = open_page(browser, url)
    yield page
    page.close()


def ask(page, question: str) -> None:
    before = page.locator(".message-row").count()
    page.fill("#question textarea", question)
    page.press("#question textarea", "Enter")
    page.wait_for_function(f"document.querySelectorAll('.message-row').length > {before + 1}", timeout=30_000)


def test_question_with_enter_shows_passage_citation_and_highlight(page, qa_builtin, tmp_path):
    assert "文档问答" in page.title()
    for d in qa_builtin.documents():
        assert d["title"] in page.inner_text("body")  # description and documents panel
    ask(page, QUESTION)
    best = qa_builtin.ask(QUESTION, k=ui_chat.CHAT_K).best
    citation = page.get_by_text(str(best.citation), exact=False)
    citation.first.wait_for(timeout=30_000)
    assert best.text.split("。")[0].strip()[:12] in page.inner_text("body")
    assert page.locator("mark").count() >= 1
    # the box is cleared for the next question (by the event that follows the answer, so wait)
    page.wait_for_function("document.querySelector('#question textarea').value === ''", timeout=10_000)
    page.screenshot(path=str(tmp_path / "chat.png"), full_page=True)
    assert (tmp_path / "chat.png").stat().st_size > 10_000


def test_more_passages_are_collapsed_and_open_on_click(page):
    toggle = page.get_by_text("更多相关段落", exact=False).last
    toggle.wait_for(timeout=30_000)
    before = page.inner_text("body").count("相关度")
    toggle.click()
    page.wait_for_function(f"document.body.innerText.split('相关度').length - 1 > {before}", timeout=10_000)


def test_html_in_a_question_is_shown_as_text_not_run(page):
    question = "<script>alert('x')</script><img src=x onerror=alert(1)> **粗体**"
    ask(page, question)
    page.get_by_text("<script>alert('x')</script>", exact=False).first.wait_for(timeout=30_000)
    assert page.get_by_text("**粗体**", exact=False).count() >= 1
    assert page.dialogs == []


def test_example_question_button_asks_it(page):
    before = page.locator(".message-row").count()
    page.get_by_role("button", name=ui_page.EXAMPLES[1]).click()
    page.wait_for_function(f"document.querySelectorAll('.message-row').length > {before + 1}", timeout=30_000)
    assert page.get_by_text(ui_page.EXAMPLES[1], exact=True).count() >= 2  # the button and the user message


# ----- the 知识库 tab, over its own small index (uploads must not change the shared one) -----

LIGHTHOUSE = ("白鹭岛灯塔\n\n白鹭岛灯塔建成于一八九二年，塔身用花岗岩砌成，高二十三米。\n"
              "守塔人陈阿婆在岛上住了四十年，每天傍晚登上塔顶点亮灯火，为过往渔船指引航道。\n")
#: A title that would run script if it were shown as HTML.
HOSTILE_TITLE = "<img src=x onerror=alert(1)>**标记**测试"


@pytest.fixture(scope="module")
def kb_page(browser, encoder, tmp_path_factory, launch_local):
    from qa import QA

    root = tmp_path_factory.mktemp("kb-browser")
    source = root / "龙井茶.txt"
    source.write_text("西湖龙井茶\n\n龙井茶产于杭州西湖周边的群山之中，以色绿、香郁、味甘、形美四绝著称。\n",
                      encoding="utf-8")
    demo = ui.build_demo(QA(sources=[source], index_dir=root / "index", kb_dir=root / "kb"),
                          examples=(), warm=False)
    local_url = launch_local(demo, **ui_page.page_options(), max_file_size="20mb")
    try:
        page = open_page(browser, local_url)
        yield page
        page.close()
    finally:
        demo.close()


def test_upload_in_the_kb_tab_then_the_chat_answers_from_it(kb_page, tmp_path):
    page = kb_page
    lighthouse = tmp_path / "灯塔.txt"
    lighthouse.write_text(LIGHTHOUSE, encoding="utf-8")
    hostile = tmp_path / "标记.txt"
    hostile.write_text(f"{HOSTILE_TITLE}\n\n这份文件的标题里有网页标签，页面上必须原样显示成文字。\n",
                       encoding="utf-8")

    page.get_by_role("tab", name="知识库").click()
    page.set_input_files("#kb-files input[type=file]", [str(lighthouse), str(hostile)])
    # listed once uploaded to the server (the name is shown as stem and suffix)
    page.locator("#kb-files").get_by_text("标记", exact=True).wait_for(timeout=30_000)
    page.click("#kb-upload")
    page.locator("#kb-report").get_by_text("2 个文件已加入", exact=False).wait_for(timeout=60_000)
    table = page.locator("#kb-documents")
    table.get_by_text("白鹭岛灯塔", exact=True).wait_for(timeout=10_000)
    assert table.get_by_text(HOSTILE_TITLE, exact=True).count() >= 1  # the title as text, in the table
    assert page.locator("#kb-report").get_by_text(f"《{HOSTILE_TITLE}》", exact=False).count() == 1
    assert page.locator("img[src=x]").count() == 0 and page.dialogs == []
    page.screenshot(path=str(tmp_path / "kb.png"), full_page=True)
    assert (tmp_path / "kb.png").stat().st_size > 10_000

    page.get_by_role("tab", name="问答").click()
    assert "白鹭岛灯塔" in page.inner_text(".qa-docs")  # the documents panel was re-read
    ask(page, "白鹭岛灯塔的守塔人是谁？")
    page.get_by_text("《白鹭岛灯塔》", exact=False).first.wait_for(timeout=30_000)
    assert "守塔人陈阿婆" in page.inner_text(".message-row >> nth=1")


def test_remove_in_the_kb_tab_updates_the_table_and_the_panel(kb_page):
    page = kb_page
    page.get_by_role("tab", name="知识库").click()
    page.locator("#kb-remove-choice input").click()
    page.get_by_role("option", name="白鹭岛灯塔（灯塔.txt）").click()
    page.click("#kb-remove")
    removed = page.locator("#kb-removed").get_by_text("已从知识库移除《白鹭岛灯塔》", exact=False)
    removed.wait_for(timeout=30_000)
    page.wait_for_function("!document.querySelector('#kb-documents').innerText.includes('白鹭岛灯塔')",
                           timeout=10_000)
    assert "西湖龙井茶" in page.inner_text("#kb-documents")
    page.get_by_role("tab", name="问答").click()
    assert "白鹭岛灯塔" not in page.inner_text(".qa-docs")


def test_api_docs_render_without_internet(browser, qa_builtin, serve_app):
    """Swagger UI at /docs draws the API from this server alone: every other host is blocked."""
    from qa.serve.rest import Settings, create_app

    base = serve_app(create_app(qa_builtin, None, Settings(port=0)))
    page = browser.new_page()
    elsewhere: list[str] = []

    def only_local(route):
        if route.request.url.startswith(base):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    page.route("**/*", only_local)
    page.goto(base + "/docs")
    page.wait_for_selector(".opblock", timeout=20_000)
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert {"/api/ask", "/api/documents", "/api/health"} <= {p.strip() for p in paths}
    assert elsewhere == []
    page.close()


# ----- layout at phone and desktop sizes, served as `python app.py` serves it -----

VIEWPORTS = {"phone": (390, 844), "desktop": (1366, 768)}
#: Where the screenshots go: $QA_SCREENSHOT_DIR (e.g. docs) to refresh the README's, else a temp folder.
SCREENSHOT_DIR = os.environ.get("QA_SCREENSHOT_DIR")
LAYOUT_QUESTION = "雍景苑的停车难题是怎么解决的？"

#: Every visible label, placeholder, tooltip and screen-reader label on the page that has Latin
#: words and no Chinese (English question examples and file names are content, not labels).
ENGLISH_LABELS_JS = """() => {
  const out = new Set();
  const visible = (e) => !!(e.offsetWidth || e.offsetHeight || e.getClientRects().length);
  const selector = "button, [role=tab], label, textarea, input, [title], [aria-label], [placeholder],"
    + " .block span, .block p";
  const content = ".message-row, .prose, #kb-documents .body-cell, #kb-skipped .body-cell";
  for (const e of document.querySelectorAll(selector)) {
    if (!visible(e) || e.closest(content)) continue;
    const own = e.children.length === 0 ? e.innerText : "";
    const texts = [e.getAttribute("title"), e.getAttribute("aria-label"), e.getAttribute("placeholder"), own];
    for (const v of texts) {
      if (v && /[A-Za-z]{3}/.test(v) && !/[\\u4e00-\\u9fff]/.test(v)) out.add(v.trim());
    }
  }
  return [...out];
}"""


@pytest.fixture(scope="module")
def served(qa_builtin, serve_app):
    from qa.serve.rest import Settings, create_app

    demo = ui.build_demo(qa_builtin)
    url = serve_app(create_app(qa_builtin, demo, Settings(port=0), gradio_options=ui_page.page_options()))
    yield url
    demo.close()


def save_screenshot(page, tmp_path, name: str, full_page: bool = True) -> Path:
    path = tmp_path / name
    page.screenshot(path=str(path), full_page=full_page)
    assert path.stat().st_size > 10_000
    if SCREENSHOT_DIR:
        Path(SCREENSHOT_DIR).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(SCREENSHOT_DIR) / name)
    return path


def no_horizontal_overflow(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")


def english_labels(page) -> list[str]:
    examples = set(ui_page.EXAMPLES)
    found = page.evaluate(ENGLISH_LABELS_JS)
    return [v for v in found if v not in examples and not re.search(r"\.\w{2,4}$", v)]


@pytest.mark.parametrize("size", VIEWPORTS)
def test_layout_at_phone_and_desktop_size(browser, served, qa_builtin, size, tmp_path):
    width, height = VIEWPORTS[size]
    # The phone in English: Gradio's own words must still be Chinese.
    page = browser.new_page(viewport={"width": width, "height": height},
                            locale="en-US" if size == "phone" else "zh-CN")
    page.goto(served)
    page.wait_for_selector("#question textarea", timeout=30_000)
    page.wait_for_timeout(500)

    # the header and the tabs are on screen at load (no autofocus scroll), nothing sticks out sideways
    assert page.evaluate("window.scrollY") == 0
    title = page.get_by_role("heading", name="文档问答").bounding_box()
    tab = page.get_by_role("tab", name="知识库").bounding_box()
    assert title["y"] >= 0 and tab["y"] + tab["height"] <= height
    assert no_horizontal_overflow(page)

    # the documents panel: one item per document, its title, count and sections inside it
    items = page.locator("#qa-documents .qa-doc")
    documents = qa_builtin.documents()
    assert items.count() == len(documents)
    for item, d in zip(items.all(), documents, strict=True):
        assert item.locator(".qa-doc-title").inner_text() == f"《{d['title']}》"
        assert item.locator(".qa-doc-count").inner_text() == f"{d['passages']} 个段落"
        assert item.locator(".qa-doc-sections li").all_inner_texts() == d["sections"]

    ask(page, LAYOUT_QUESTION)
    best = qa_builtin.ask(LAYOUT_QUESTION, k=ui_chat.CHAT_K).best
    link = page.locator(".message-row a", has_text="查看原文").first
    link.wait_for(timeout=30_000)
    page.get_by_text("更多相关段落", exact=False).last.click()
    page.wait_for_timeout(500)
    assert no_horizontal_overflow(page)
    assert english_labels(page) == []
    save_screenshot(page, tmp_path, f"chat-{size}.png")

    # 查看原文: the document, the cited lines marked and on screen, the section above
    new_tab = link.get_attribute("target") == "_blank"
    with page.context.expect_page() if new_tab else _same_page(page) as opened:
        link.click()
    source = opened.value
    source.wait_for_selector("#cited", timeout=20_000)
    source.wait_for_timeout(300)
    marked = "".join(source.locator(".cited mark").all_inner_texts())
    assert "".join(best.text.split())[:30] in "".join(marked.split())
    box = source.locator("#cited").bounding_box()
    assert 0 <= box["y"] < height
    assert best.citation.section in source.locator("header").inner_text()
    assert source.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    save_screenshot(source, tmp_path, f"source-{size}.png", full_page=False)  # what the reader sees first
    if source is not page:
        source.close()
        page.bring_to_front()
    else:
        page.go_back()
        page.wait_for_selector("#question textarea", timeout=30_000)

    # the 知识库 tab: Chinese labels (the upload box too), words in the table not broken letter by letter
    page.get_by_role("tab", name="知识库").click()
    page.locator("#kb-documents .body-cell").get_by_text(documents[0]["title"], exact=True).last.wait_for(
        timeout=10_000)
    page.wait_for_timeout(500)
    upload_box = page.locator("#kb-files").inner_text()
    assert "拖放" in upload_box and "点击上传" in upload_box and "Drop" not in upload_box
    assert english_labels(page) == []
    assert no_horizontal_overflow(page)
    broken = page.evaluate("""() => [...document.querySelectorAll('#kb-documents .body-cell span')]
        .filter((s) => s.innerText.length <= 12 && !/\\s/.test(s.innerText))
        .filter((s) => s.getClientRects().length > 1
                       || s.offsetHeight > 1.8 * parseFloat(getComputedStyle(s).lineHeight))
        .map((s) => s.innerText)""")
    assert broken == []
    save_screenshot(page, tmp_path, f"kb-{size}.png")
    page.close()


class _same_page:
    """Stands in for expect_page() when the link opens in the same tab: .value is that page."""

    def __init__(self, page):
        self.value = page

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.value.wait_for_load_state()
        return False

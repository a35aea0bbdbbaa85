"""The chat page in a real browser (Debian chromium driven by Playwright): ask, see passage and citation."""

from __future__ import annotations

import os
import socket

import pytest

sync_api = pytest.importorskip("playwright.sync_api")

import app  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
QUESTION = "雍景苑小区的停车管理难题后来怎么样了？"

pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} not installed")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def url(qa_builtin):
    demo = app.build_demo(qa_builtin)
    demo.launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True,
                share=False, enable_monitoring=False, ssr_mode=False, css=app.CSS)
    yield demo.local_url
    demo.close()


@pytest.fixture(scope="module")
def page(url):
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1000}, locale="zh-CN")
        dialogs = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.dialogs = dialogs
        page.goto(url)
        page.wait_for_selector("#question textarea", timeout=20_000)
        yield page
        browser.close()


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
    best = qa_builtin.ask(QUESTION, k=app.CHAT_K).best
    citation = page.get_by_text(str(best.citation), exact=False)
    citation.first.wait_for(timeout=30_000)
    assert best.text.split("。")[0].strip()[:12] in page.inner_text("body")
    assert page.locator("mark").count() >= 1
    assert page.input_value("#question textarea") == ""  # the box is cleared for the next question
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
    page.get_by_role("button", name=app.EXAMPLES[1]).click()
    page.wait_for_function(f"document.querySelectorAll('.message-row').length > {before + 1}", timeout=30_000)
    assert page.get_by_text(app.EXAMPLES[1], exact=True).count() >= 2  # the button and the user message

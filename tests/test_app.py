"""The Gradio app, launched in-process and called through gradio_client: /ask, /chat, bad input, a burst."""

from __future__ import annotations

import json
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

gradio_client = pytest.importorskip("gradio_client")
from gradio_client.exceptions import AppError  # noqa: E402

import app  # noqa: E402
from qa.serve import ui, ui_chat, ui_render  # noqa: E402

IN_DOMAIN = "雍景苑小区的停车管理条例是怎么制定的？"
OUT_OF_DOMAIN = "怎样给自行车的内胎补漏气？"



@pytest.fixture(scope="module")
def url(qa_builtin, launch_local):
    demo = ui.build_demo(qa_builtin)
    yield launch_local(demo)
    demo.close()


@pytest.fixture(scope="module")
def client(url):
    return gradio_client.Client(url, verbose=False)


def text_of(message: dict) -> str:
    return ui_render.message_text(message)


# ----- pure parts -----

@pytest.mark.parametrize("text", ["<script>alert(1)</script>", "**粗体** _斜体_ [链接](http://x.cn) $x^2$",
                                  "1. 列表\n- 项目 # 标题 `代码` a\\b &amp; 100%"])
def test_escape_markdown_round_trips_and_leaves_no_markup(text):
    escaped = ui_render.escape_markdown(text)
    assert "<" not in escaped and ">" not in escaped
    assert ui_render.unescape_markdown(escaped) == text
    for special in "*_[]()$`#":
        assert f"\\{special}" in escaped or special not in text


def test_highlight_prefers_the_sentence_with_the_question_s_distinctive_words():
    from qa.serve.highlight import sentence_scores

    sentences = ["去年,桃园小区出现过停车难题。", "居委会牵头制定了停车公约,居民投票通过。",
                 "桃园小区的停车状况好转。"]
    scores = sentence_scores("桃园小区的停车公约是怎么制定的？", sentences)
    assert scores.argmax() == 1
    assert sentence_scores("How?", sentences).max() == 0  # nothing shared: no lexical evidence


def test_highlight_follows_an_ordinal_to_the_numbered_item():
    from qa.serve.highlight import sentence_scores

    sentences = ["三项措施如下:", "一是修缮大门。", "二是安装门禁。", "三是增加巡逻。"]
    assert sentence_scores("那第二项呢？", sentences).argmax() == 2
    assert sentence_scores("第3项是什么？", sentences).argmax() == 3


@pytest.mark.parametrize("question, sentences, answer", [
    # 怎么解决: the sentence reporting the result, not the one naming the problem
    ("桃园小区的停车难题是怎么解决的？",
     ["几年前,桃园小区出现过停车管理难题。", "居委会召集居民开会商量办法。",
      "经过一年,桃园小区的停车状况得到极大改善。"], 2),
    # 收费: the price, not the count of things that are charged for
    ("充电桩怎么收费？",
     ["小区在车库安装了四十个智能充电桩。", "充电桩由物业统一管理。", "充电每小时五角钱。"], 2),
    # 为什么: the reason
    ("梅园为什么要修围墙？",
     ["梅园小区去年修了围墙。", "由于外来车辆随意穿行,居民要求修建围墙。", "围墙长三百米。"], 1),
    # 多少: a number
    ("梅园的围墙有多长？",
     ["梅园小区去年修了围墙。", "围墙由物业出资修建。", "这道围墙全长三百米,高两米。"], 2),
    # an English question through its words' translations
    ("Why did the owners install an access control system?",
     ["业委会一成立就碰到了一颗“硬钉子”。", "业委会针对外来人员随意进出的现象,安装门禁系统。",
      "快递员与保安发生争执。"], 1),
])
def test_highlight_picks_the_sentence_that_gives_what_the_question_asks_for(question, sentences, answer):
    from qa.serve.highlight import sentence_scores

    assert sentence_scores(question, sentences).argmax() == answer


def test_highlight_weighs_the_question_s_topic_below_its_focus(monkeypatch):
    import qa.serve.highlight as highlight

    question = "黄鳍紫鱼的身体是什么颜色的？"
    assert highlight.topic_bigrams(question) == {"黄鳍", "鳍紫", "紫鱼"}
    sentences = ["黄鳍紫鱼,又称黄鳍姬鲷,为鲈形目的一种。", "它的身体呈淡蓝红色,腹部银白。"]
    topic_first, focus = highlight.word_overlap(question, sentences)
    monkeypatch.setattr(highlight, "TOPIC_WEIGHT", 1.0)
    plain_topic_first, plain_focus = highlight.word_overlap(question, sentences)
    assert focus / topic_first > plain_focus / plain_topic_first


def test_documents_panel_and_description_list_the_index(qa_builtin):
    import html

    documents = qa_builtin.documents()
    panel = ui_render.documents_html(documents)
    for d in documents:
        assert html.escape(d["title"]) in panel and f"{d['passages']} 个段落" in panel
        for section in d["sections"]:
            assert f"<li>{html.escape(section)}</li>" in panel
    assert f"{len(documents)} 篇文档" in ui_render.description(documents)


def test_documents_panel_has_one_item_per_document_with_its_sections_inside():
    from html.parser import HTMLParser

    documents = [{"title": "第一篇", "sections": ["第一部分", "第二部分电池与安全"], "passages": 4},
                 {"title": "梧桐苑", "sections": [], "passages": 3}]

    class Items(HTMLParser):
        def __init__(self):
            super().__init__()
            self.stack, self.items = [], []

        def handle_starttag(self, tag, attrs):
            self.stack.append(dict(attrs).get("class"))
            if dict(attrs).get("class") == "qa-doc":
                self.items.append("")

        def handle_endtag(self, tag):
            self.stack.pop()

        def handle_data(self, data):
            if "qa-doc" in self.stack:
                self.items[-1] += data

    parser = Items()
    parser.feed(ui_render.documents_html(documents))
    assert parser.items == ["《第一篇》4 个段落第一部分第二部分电池与安全", "《梧桐苑》3 个段落"]
    assert not parser.stack  # every tag closed


def test_document_titles_and_sections_are_escaped_in_the_panel():
    documents = [{"title": "<img src=x onerror=alert(1)> $$x$$", "sections": ["**粗** [a](b) <b>"],
                  "passages": 2}]
    panel = ui_render.documents_html(documents)
    assert "<img" not in panel and "&lt;img" in panel and "&lt;b&gt;" in panel
    about = ui_render.description(documents)
    assert "<img" not in about and "&lt;img" in about and "\\$\\$x\\$\\$" in about


def test_launch_binds_where_asked_without_share_link_or_monitoring(monkeypatch, qa_builtin):
    seen = {}
    monkeypatch.setattr(app, "serve",
                        lambda qa, demo, host, port, **kw: seen.update(host=host, port=port, **kw))
    app.launch(object(), "127.0.0.1", 7999, qa=qa_builtin)
    assert (seen["host"], seen["port"]) == ("127.0.0.1", 7999)
    options = seen["gradio_options"]
    assert options.get("share", False) is False and options["enable_monitoring"] is False
    assert options["max_file_size"] == 20 * 1024 * 1024  # Gradio refuses bigger uploads first


def test_host_and_port_come_from_flags_then_environment_then_defaults(monkeypatch):
    monkeypatch.delenv("GRADIO_SERVER_NAME", raising=False)
    monkeypatch.delenv("GRADIO_SERVER_PORT", raising=False)
    args = app.parse_args([])
    assert (args.host, args.port) == ("127.0.0.1", 7860)
    monkeypatch.setenv("GRADIO_SERVER_NAME", "0.0.0.0")
    monkeypatch.setenv("GRADIO_SERVER_PORT", "8123")
    args = app.parse_args([])
    assert (args.host, args.port) == ("0.0.0.0", 8123)
    args = app.parse_args(["--host", "127.0.0.2", "--port", "9000"])
    assert (args.host, args.port) == ("127.0.0.2", 9000)


def test_demo_runs_questions_concurrently_without_analytics(qa_builtin):
    demo = ui.build_demo(qa_builtin)
    assert demo._queue.default_concurrency_limit > 1
    assert demo.analytics_enabled is False


# ----- /ask -----

def test_ask_returns_the_best_passage_and_its_citation(client, qa_builtin):
    result = client.predict(IN_DOMAIN, api_name="/ask")
    expected = qa_builtin.ask(IN_DOMAIN, k=3)
    assert set(result) >= {"found", "passage", "citation", "score", "hits"}
    assert result["found"] is True
    assert result["passage"] == expected.best.text
    assert result["citation"] == str(expected.best.citation)
    assert result["score"] == pytest.approx(expected.best.score)
    assert 1 <= len(result["hits"]) <= 3
    first = result["hits"][0]
    assert first["text"] == result["passage"] and first["citation"] == result["citation"]
    assert all(len(r) == 2 and r[0] <= r[1] for r in first["lines"])
    assert result["highlight"] in result["passage"]


def test_ask_takes_k(client):
    assert len(client.predict(IN_DOMAIN, 1, api_name="/ask")["hits"]) == 1
    assert len(client.predict(IN_DOMAIN, k=6, api_name="/ask")["hits"]) > 3


def test_ask_out_of_domain_is_not_found_but_shows_closest(client):
    result = client.predict(OUT_OF_DOMAIN, api_name="/ask")
    assert result["found"] is False
    assert result["hits"]


def test_english_question_is_answered_from_the_chinese_text(client):
    result = client.predict("How was the parking problem in the Yongjingyuan compound solved?",
                            api_name="/ask")
    assert "停车" in result["passage"]


@pytest.mark.parametrize("question, message", [
    ("", "请输入"), ("   \n\t ", "请输入"), ("\x00\x01\u200b", "请输入"),
    ("问" * 501, "500"),
])
def test_ask_refuses_bad_input_with_a_clear_message(client, question, message):
    with pytest.raises(AppError, match=message):
        client.predict(question, api_name="/ask")


@pytest.mark.parametrize("k", [0, -1, 1000])
def test_ask_refuses_bad_k(client, k):
    with pytest.raises(AppError, match="k"):
        client.predict(IN_DOMAIN, k, api_name="/ask")


def test_control_characters_and_invalid_unicode_are_cleaned(client):
    plain = client.predict(IN_DOMAIN, api_name="/ask")
    messy = client.predict("\x07" + IN_DOMAIN.replace("停车", "停\u200b车") + "\x00", api_name="/ask")
    assert messy["passage"] == plain["passage"]


def call_raw(url: str, api_name: str, body: bytes) -> tuple[int, str]:
    """POST a hand-made JSON body to Gradio's HTTP API (gradio_client cannot send invalid Unicode)."""
    base = url.rstrip("/") + f"/gradio_api/call/{api_name}"
    posted = httpx.post(base, content=body, headers={"Content-Type": "application/json"}, timeout=30)
    if posted.status_code != 200:
        return posted.status_code, posted.text
    event_id = posted.json()["event_id"]
    return 200, httpx.get(f"{base}/{event_id}", timeout=30).text


def test_invalid_unicode_over_http_is_answered_or_refused_cleanly(url):
    # a lone surrogate, legal in JSON text, impossible in UTF-8
    status, stream = call_raw(url, "ask", json.dumps({"data": ["\ud800" + IN_DOMAIN, 3]}).encode())
    assert status == 200 and "event: complete" in stream
    result = json.loads(stream.split("event: complete\ndata:", 1)[1])[0]
    assert result["found"] is True and "停车" in result["passage"]
    # bytes that are not UTF-8 at all
    status, _ = call_raw(url, "ask", b'{"data": ["\xff\xfe\xe9\x9b", 3]}')
    assert status in (200, 400, 422)


def test_server_keeps_answering_after_bad_input(client, url):
    for bad in ("", "问" * 5000, "\x00" * 10):
        with pytest.raises(AppError):
            client.predict(bad, api_name="/ask")
    call_raw(url, "ask", b'{"data": ["\xff\xfe"]}')
    call_raw(url, "chat", json.dumps({"data": ["\udfff", []]}).encode())
    call_raw(url, "ask", b"{not json")
    assert client.predict(IN_DOMAIN, api_name="/ask")["found"] is True


# ----- /chat -----

def test_chat_answers_with_passage_and_citation_on_its_own_line(client, qa_builtin):
    history = client.predict(IN_DOMAIN, [], api_name="/chat")
    best = qa_builtin.ask(IN_DOMAIN, k=ui_chat.CHAT_K).best
    assert history[0]["role"] == "user" and text_of(history[0]) == ui_render.escape_markdown(IN_DOMAIN)
    reply = text_of(history[1])
    assert f"\n\n**出处：**{ui_render.escape_markdown(str(best.citation))}" in reply
    assert "<mark>" in reply
    first_sentence_start = ui_render.escape_markdown(best.text.split("。")[0][:8])
    assert first_sentence_start in reply.replace("<mark>", "").replace("</mark>", "")
    more = [m for m in history[2:] if (m.get("metadata") or {}).get("title", "").startswith("更多相关段落")]
    assert len(more) == 1 and "相关度" in text_of(more[0])


def test_chat_not_found_says_so_and_marks_closest_as_low_confidence(client):
    history = client.predict(OUT_OF_DOMAIN, [], api_name="/chat")
    reply = text_of(history[-1])
    assert "没有找到相关内容" in reply and "低置信度" in reply and "出处：" in reply


def test_chat_follow_up_uses_the_conversation(client):
    history = client.predict("雍景苑小区出现过什么管理难题？", [], api_name="/chat")
    history = client.predict("它是怎么解决的？", history, api_name="/chat")
    assert [text_of(m) for m in history if m["role"] == "user"] == ["雍景苑小区出现过什么管理难题？",
                                                                      "它是怎么解决的？"]
    assert "结合上文" in text_of(history[-2 if history[-1].get("metadata") else -1])
    history = client.predict("江湾国际公寓为什么要安装门禁系统？", history, api_name="/chat")
    assert not any("结合上文" in text_of(m) for m in history[-2:])


def test_chat_shows_html_and_markdown_in_questions_literally(client):
    question = "<script>alert('x')</script> **雍景苑** [停车](javascript:alert(1))"
    history = client.predict(question, [], api_name="/chat")
    shown = text_of(history[0])
    assert "<script>" not in shown and "&lt;script&gt;" in shown
    assert "**" not in shown and ui_render.unescape_markdown(shown) == question


def test_chat_bad_input_gets_a_friendly_reply_and_the_chat_goes_on(client):
    history = client.predict("   ", [], api_name="/chat")
    assert [m["role"] for m in history] == ["assistant"] and "请输入" in text_of(history[0])
    history = client.predict("问" * 600, history, api_name="/chat")
    assert "太长" in text_of(history[-1]) and "600" in text_of(history[-1])
    history = client.predict(IN_DOMAIN, history, api_name="/chat")
    assert "出处：" in text_of(history[-2 if history[-1].get("metadata") else -1])


# ----- concurrency -----

BURST_QUESTIONS = [
    IN_DOMAIN, OUT_OF_DOMAIN, "林路担任过什么职务？", "江湾国际公寓为什么要安装门禁系统？",
    "“一三角”是哪三方之间的关系？", "新江湾城街道在哪个区？", "What did the expert committee change?",
    "睦邻中心开发了哪些课程？",
]


def test_burst_of_64_questions_from_16_clients_all_answered_correctly(url, qa_builtin):
    expected = {q: qa_builtin.ask(q, k=3).best.text for q in BURST_QUESTIONS}
    clients = [gradio_client.Client(url, verbose=False) for _ in range(16)]

    def run(n: int) -> list[tuple[str, dict, float]]:
        out = []
        for i in range(4):
            question = BURST_QUESTIONS[(n + i) % len(BURST_QUESTIONS)]
            start = time.perf_counter()
            out.append((question, clients[n].predict(question, api_name="/ask"), time.perf_counter() - start))
        return out

    start = time.perf_counter()
    with ThreadPoolExecutor(16) as pool:
        results = [r for batch in pool.map(run, range(16)) for r in batch]
    wall = time.perf_counter() - start
    assert len(results) == 64
    for question, result, _ in results:
        assert result["passage"] == expected[question]
    latencies = sorted(t for _, _, t in results)
    print(f"\nburst: 64 questions, 16 clients, {wall:.1f} s wall; p50 {statistics.median(latencies):.2f} s, "
          f"p99 {latencies[int(0.99 * (len(latencies) - 1))]:.2f} s")

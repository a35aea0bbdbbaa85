"""Conversation logic: cleaning typed questions and resolving follow-ups (qa/chat.py)."""

from __future__ import annotations

import pytest

from qa import Answer, Citation, Hit
from qa.serve.chat import (
    MAX_CHAT_CHARS,
    clean_text,
    combine,
    follow_up_marker,
    input_problem,
    keeps_combination,
    read_question,
    resolve,
    topic_of,
)


def answer(confidence: float, text: str = "段落") -> Answer:
    hit = Hit(text=text, score=confidence, citation=Citation("文档", "doc.txt", [(1, 1)]))
    return Answer(question="q", found=confidence >= 0.5, hits=[hit], confidence=confidence)


class FakeEngine:
    """A deterministic ask(): confidence from a table, recording every query."""

    def __init__(self, table: dict[str, float]):
        self.table = table
        self.asked: list[str] = []

    def __call__(self, query: str) -> Answer:
        self.asked.append(query)
        return answer(self.table.get(query, 0.0), text=query)


# ----- cleaning and refusing input -----

def test_clean_text_removes_control_invisible_and_invalid_characters():
    assert clean_text("  雍景苑\x00\x07 停\u200b车\n\t难题\ufeff ") == "雍景苑 停车 难题"
    assert clean_text("\ud800雍景苑") == "?雍景苑"  # a lone surrogate cannot be encoded; it is replaced
    assert clean_text(None) == ""
    assert clean_text(42) == "42"
    clean_text("\ud800").encode("utf-8")  # the result is always valid UTF-8


def test_input_problem_is_a_friendly_message_for_empty_and_too_long_questions():
    assert "请输入" in input_problem("")
    too_long = input_problem("问" * (MAX_CHAT_CHARS + 1))
    assert str(MAX_CHAT_CHARS) in too_long and str(MAX_CHAT_CHARS + 1) in too_long
    assert input_problem("问" * MAX_CHAT_CHARS) is None
    assert input_problem("雍景苑的停车管理条例是谁制定的？") is None


def test_read_question_refuses_huge_input_without_cleaning_it():
    text, problem = read_question("问" * 5_000_000)
    assert text == "" and "5000000" in problem  # refused on its raw length, never cleaned
    assert read_question(" " * 800 + "林路是谁？") == ("林路是谁？", None)  # cleaning shrinks it to fit
    assert read_question(None)[1] and "请输入" in read_question("\x00 \u200b")[1]


# ----- detecting follow-ups -----

@pytest.mark.parametrize("question, marker", [
    ("它是怎么解决的？", "anaphor"),
    ("他们后来怎么做的？", "anaphor"),
    ("这个办法有效吗？", "anaphor"),
    ("How was it solved?", "anaphor"),
    ("那第二个平台呢？", "anaphor"),       # 那 is also a demonstrative; either way it leans back
    ("第二个呢？", "ellipsis"),
    ("还有别的小区吗？", "ellipsis"),
    ("What about the second one?", "ellipsis"),
    ("为什么？", "short"),
    ("Why?", "short"),
    ("林路是谁？", "short"),
    ("江湾国际公寓为什么要安装门禁系统？", None),
    ("顾骏教授团队做了多久的田野调查？", None),
    ("Which residential compound had a parking problem?", None),
    ("我们应该怎样理解党建引领？", None),    # 应该 is "should", not the demonstrative 该
])
def test_follow_up_marker(question, marker):
    assert follow_up_marker(question) == marker


# ----- deciding between the question alone and the combination -----

def test_combination_kept_only_when_more_confident_or_tied_with_an_explicit_marker():
    assert keeps_combination(answer(0.2), answer(0.9), "short")
    assert not keeps_combination(answer(0.9), answer(0.2), "anaphor")
    assert keeps_combination(answer(1.0), answer(1.0), "anaphor")
    assert keeps_combination(answer(1.0), answer(1.0), "ellipsis")
    assert not keeps_combination(answer(1.0), answer(1.0), "short")
    assert not keeps_combination(answer(0.1), answer(0.9), None)


def test_resolve_combines_a_follow_up_with_the_topic():
    topic, follow = "雍景苑出现过什么难题？", "它是怎么解决的？"
    engine = FakeEngine({follow: 0.3, combine(topic, follow): 0.8})
    turn = resolve(engine, follow, topic)
    assert turn.combined and turn.query == combine(topic, follow)
    assert turn.topic == topic and turn.answer.confidence == 0.8


def test_resolve_keeps_a_follow_up_alone_when_the_combination_is_worse():
    topic, follow = "雍景苑出现过什么难题？", "它是怎么解决的？"
    engine = FakeEngine({follow: 0.9, combine(topic, follow): 0.4})
    turn = resolve(engine, follow, topic)
    assert not turn.combined and turn.topic == follow and turn.answer.confidence == 0.9


def test_resolve_never_combines_a_question_without_marker():
    topic, question = "雍景苑出现过什么难题？", "江湾国际公寓为什么要安装门禁系统？"
    engine = FakeEngine({question: 0.1, combine(topic, question): 1.0})
    turn = resolve(engine, question, topic)
    assert not turn.combined and turn.topic == question
    assert engine.asked == [question]  # not even tried


def test_topic_of_follows_a_thread_and_starts_a_new_one():
    a, b, c = "四个支撑平台是哪些？", "第二个呢？", "第三个呢？"
    engine = FakeEngine({combine(a, b): 0.9, combine(a, c): 0.9})
    assert topic_of(engine, []) is None
    assert topic_of(engine, [a]) == a
    assert topic_of(engine, [a, b]) == a           # a follow-up keeps the thread's topic
    assert topic_of(engine, [a, b, c]) == a
    new = "林路在小区担任什么职务？"
    assert topic_of(engine, [a, b, new]) == new    # a new question starts a new thread
    assert topic_of(engine, [a, "", "问" * (MAX_CHAT_CHARS + 1)]) == a  # refused input is skipped


# ----- with the real engine -----

def test_follow_up_with_pronoun_is_answered_from_the_conversation(qa_builtin):
    ask = lambda q: qa_builtin.ask(q, k=3)  # noqa: E731
    first = "雍景苑小区出现过什么管理难题？"
    turn = resolve(ask, "它是怎么解决的？", topic_of(ask, [first]))
    assert turn.combined and turn.topic == first
    assert "雍景苑" in turn.answer.best.text


def test_new_topic_is_not_polluted_by_the_previous_turn(qa_builtin):
    ask = lambda q: qa_builtin.ask(q, k=3)  # noqa: E731
    topic = topic_of(ask, ["雍景苑小区出现过什么管理难题？"])
    for question in ("江湾国际公寓为什么要安装门禁系统？", "林路是谁？"):
        turn = resolve(ask, question, topic)
        assert not turn.combined and turn.topic == question
        assert turn.answer.best.text == ask(question).best.text


def test_english_follow_up_leans_on_a_chinese_topic(qa_builtin):
    ask = lambda q: qa_builtin.ask(q, k=3)  # noqa: E731
    turn = resolve(ask, "How was it solved?", "雍景苑小区出现过什么管理难题？")
    assert turn.combined
    # "solved" alone covers 解决 (confidence saturates, as for 它是怎么解决的？); the topic brings
    # the passage about what was solved
    assert "雍景苑" in turn.answer.best.text and "停车" in turn.answer.best.text


def test_elliptical_follow_up_about_an_item_of_a_list(qa_builtin):
    from qa.serve.highlight import best_sentence_span

    ask = lambda q: qa_builtin.ask(q, k=3)  # noqa: E731
    first, follow = "街道为“三驾马车”设了哪几个支撑平台？", "那第二个平台呢？"
    turn = resolve(ask, follow, topic_of(ask, [first]))
    assert turn.combined and turn.answer.found
    a, b = best_sentence_span(qa_builtin, follow, turn.answer.best.text)
    assert turn.answer.best.text[a:b].startswith("二是")  # the second item of the list

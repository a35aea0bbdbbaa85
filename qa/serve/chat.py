"""Conversation logic for the chat app: clean a typed question, resolve follow-ups against earlier turns."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..answer import Answer
from ..question import clean_text
from ..script import CJK

#: Longest question the chat accepts (characters, after cleaning): a question, not a pasted document.
MAX_CHAT_CHARS = 500

#: Raw input longer than this is refused without cleaning it (whitespace could shrink a bit
#: more than the limit to an acceptable question, but not twenty times more).
MAX_RAW_CHARS = 20 * MAX_CHAT_CHARS

#: How many earlier questions are walked to find the topic a follow-up leans on. A thread of
#: follow-ups longer than this is rare, and the walk re-asks the engine for each follow-up in it.
TOPIC_WINDOW = 4

#: Two confidences closer than this are a tie (they are rounded to 4 decimals by the engine).
TIE = 1e-3

# Words that point back at something said before (pronouns, demonstratives, "afterwards").
# 该 after 应 is "should", not "that"; 此 inside 因此 is "therefore".
_ANAPHOR_ZH = re.compile(r"[它他她]们?|这|那|(?<!应)该|(?<!因)此|其|上述|前者|后者|后来|然后|接着|之后|对方")
# "that", "then" and "there" are left out: in English questions they are mostly relative or expletive.
_ANAPHOR_EN = re.compile(r"\b(it|its|they|them|their|this|these|those|he|him|his|she|her)\b", re.IGNORECASE)
# Ellipsis: "那X呢？" / "X呢？" / "还有…" / "what about X?" ask the previous question again about X.
_ELLIPSIS = re.compile(r"呢\s*[？?]?\s*$|^\s*(那么?|还有|另外|此外|而|又|再)"
                       r"|^\s*(and|what about|how about)\b", re.IGNORECASE)
# Question and function words: what remains without them is what the question is about.
_FRAME_ZH = re.compile(r"什么|怎么样|怎么|怎样|如何|为什么|为何|哪些|哪个|哪里|哪儿|哪|谁|几个|几|多少"
                       r"|是否|是不是|请问|具体|一下|吗|呢|吧|啊|呀|的|了|是|有|在|都|也|还|又|要|会|能")
_FRAME_EN = frozenset("a an the is are was were be do does did how what which who whom why when where "
                      "please tell me about of to in on for and or".split())
_WORD_EN = re.compile(r"[A-Za-z]+")
_CJK_OR_DIGIT = re.compile(f"[{CJK}0-9]")


def too_long(length: int) -> str:
    return f"问题太长了（{length} 个字符）。请把问题缩短到 {MAX_CHAT_CHARS} 个字符以内，只问一件事。"


def input_problem(question: str) -> str | None:
    """A friendly Chinese message when a cleaned question cannot be asked, else None."""
    if not question:
        return "请输入一个问题，例如：雍景苑小区的停车管理难题后来怎么样了？"
    if len(question) > MAX_CHAT_CHARS:
        return too_long(len(question))
    return None


def read_question(raw) -> tuple[str, str | None]:
    """The cleaned question, and a friendly message if it cannot be asked (else None).

    Input far over the limit is refused before cleaning: cleaning looks at every character, and
    a request can carry megabytes.
    """
    if isinstance(raw, str) and len(raw) > MAX_RAW_CHARS:
        return "", too_long(len(raw))
    text = clean_text(raw)
    return text, input_problem(text)


def follow_up_marker(question: str) -> str | None:
    """Why a question may lean on the previous turn: "anaphor", "ellipsis", "short", or None.

    "anaphor" and "ellipsis" are explicit signs (它, 那…呢, it, what about …); "short" means that,
    without its question words, almost nothing is left ("为什么？", "具体呢？", "Why?"), so the
    question alone cannot say what it is about.
    """
    if _ANAPHOR_ZH.search(question) or _ANAPHOR_EN.search(question):
        return "anaphor"
    if _ELLIPSIS.search(question):
        return "ellipsis"
    content_zh = len(_CJK_OR_DIGIT.findall(_FRAME_ZH.sub("", question)))
    content_en = sum(w.lower() not in _FRAME_EN for w in _WORD_EN.findall(question))
    if content_zh <= 2 and content_en <= 1:
        return "short"
    return None


def combine(topic: str, question: str) -> str:
    """The query for a follow-up: the thread's topic question, then the follow-up."""
    return f"{topic} {question}"


def keeps_combination(alone: Answer, together: Answer, marker: str | None) -> bool:
    """Whether the combined query should replace the question alone.

    The combination must retrieve with more confidence. Confidence saturates at 1 for any
    question whose words all occur in the corpus ("它是怎么解决的？" covers 解决), so a tie goes to
    the combination only when the question points back explicitly (anaphor or ellipsis); a short
    question that is complete on its own ("林路是谁？") keeps its own, new topic.
    """
    if marker is None:
        return False
    if together.confidence > alone.confidence + TIE:
        return True
    return abs(together.confidence - alone.confidence) <= TIE and marker in ("anaphor", "ellipsis")


@dataclass(frozen=True)
class Turn:
    """One resolved question: what was asked, what was retrieved with, and the thread's topic."""

    question: str
    query: str
    topic: str
    answer: Answer

    @property
    def combined(self) -> bool:
        return self.query != self.question


def resolve(ask: Callable[[str], Answer], question: str, topic: str | None) -> Turn:
    """Answer `question`, using the thread's `topic` question when the question leans on it.

    Args:
        ask: question -> Answer (the engine, with k fixed).
        question: a cleaned question.
        topic: the topic question of the previous turn, or None at the start of a conversation.
    """
    alone = ask(question)
    marker = follow_up_marker(question) if topic and topic != question else None
    if marker is not None:
        query = combine(topic, question)
        together = ask(query)
        if keeps_combination(alone, together, marker):
            return Turn(question=question, query=query, topic=topic, answer=together)
    return Turn(question=question, query=question, topic=question, answer=alone)


def topic_of(ask: Callable[[str], Answer], questions: Sequence[str],
             window: int = TOPIC_WINDOW) -> str | None:
    """The topic the next question would lean on, after the earlier `questions` (oldest first).

    Replays the last `window` questions through `resolve`, so the result depends only on the
    questions themselves (the chat history), not on state kept between requests.
    """
    topic = None
    for question in [q for q in (clean_text(q) for q in questions) if q][-window:]:
        if input_problem(question) is None:
            topic = resolve(ask, question, topic).topic
    return topic

"""The 问答 tab's behaviour: chat answers, the /ask endpoint, readers' 👍/👎, warming up.

Follow-ups are resolved against earlier questions, whose answers are cached per index build.
"""

from __future__ import annotations

import logging
import os
from functools import lru_cache

# Before gradio is imported: it reads this once, at import time.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402

from ..answer import Answer, Hit  # noqa: E402
from ..config import MAX_K  # noqa: E402
from ..errors import QAError  # noqa: E402
from ..translate import english_index  # noqa: E402
from . import feedback as feedback_store  # noqa: E402
from .chat import Turn, read_question, resolve, topic_of  # noqa: E402
from .highlight import SentenceVectors, best_sentence_span  # noqa: E402
from .schemas import chat_api_answer  # noqa: E402
from .source import source_link  # noqa: E402
from .ui_render import answer_messages, escape_markdown, feedback_views, refusal, user_questions  # noqa: E402

log = logging.getLogger("qa.app")

#: Passages per chat answer: the best one, and the rest under "更多相关段落".
CHAT_K = 4


def warm_up(qa, sentence_vectors: SentenceVectors) -> None:
    """Pay one-off costs before the first visitor does: the first search (lazy initialisation in
    the tokenizer and encoder, ~2 s), the English-Chinese dictionary for English questions (~1 s)
    and the sentence embeddings used for highlighting (~5 s)."""
    try:
        qa.ask(qa.documents()[0]["title"] if qa.documents() else "warm up", k=1)
        english_index()
        sentence_vectors.warm([c.text for c in qa.chunks])
    except Exception:  # noqa: BLE001 - warming is an optimisation; a failure here must not stop the app
        log.exception("warm-up failed; answers will still work, the first ones more slowly")


class ChatTab:
    """Answers for the chat, the /ask endpoint and feedback, over one loaded QA."""

    def __init__(self, qa, sentence_vectors: SentenceVectors):
        self.qa = qa
        self.sentence_vectors = sentence_vectors
        # Follow-ups replay earlier questions (see qa.serve.chat.topic_of); caching the engine's
        # answers makes that replay free. The engine is deterministic for a given index build; the
        # build id is part of the key because documents can be added while the app runs.
        self._ask_cached = lru_cache(maxsize=1024)(self._ask_build)

    def _ask_build(self, query: str, build) -> Answer:
        return self.qa.ask(query, k=CHAT_K)

    def ask_chat(self, query: str) -> Answer:
        """The chat's answer to `query` from the current index (cached per index build)."""
        self.qa.refresh(wait=False)  # another process (python -m qa add/remove) may have changed it
        return self._ask_cached(query, self.qa.manifest.get("build"))

    def link_for(self, hit: Hit) -> str | None:
        """URL of the hit's source view (the /source route of qa.serve.rest)."""
        entries = {d["path"]: d for d in self.qa.manifest.get("documents", [])}
        return source_link(hit.citation, entries)

    def answer_turn(self, history: list) -> tuple[Turn, tuple[int, int] | None] | None:
        """The turn the last user message of `history` got, replayed (the engine's answers are
        cached), and its highlighted span; None when there is no question in it."""
        questions = user_questions(history)
        if not questions:
            return None
        question, problem = read_question(questions[-1])
        if problem:
            return None
        turn = resolve(self.ask_chat, question, topic_of(self.ask_chat, questions[:-1]))
        best = turn.answer.best if turn.answer.found else None
        span = best_sentence_span(self.qa, question, best.text, self.sentence_vectors) if best else None
        return turn, span

    def chat(self, message: str, history: list) -> list:
        """Answer one chat message; returns the whole conversation (messages format)."""
        history = list(history or [])
        question, problem = read_question(message)
        if problem:
            # The refused input is not added as a user message: later turns replay the user
            # messages to resolve follow-ups, and a refused one must not become their topic.
            return history + [{"role": "assistant", "content": escape_markdown(problem)}]
        history.append({"role": "user", "content": escape_markdown(question)})
        try:
            turn, span = self.answer_turn(history)
        except QAError as e:
            log.warning("question refused: %s", e)
            return history + [{"role": "assistant", "content": escape_markdown(f"无法回答这个问题：{e}")}]
        return history + answer_messages(turn, span, self.link_for)

    def on_feedback(self, history: list, data: gr.LikeData):
        """Store a reader's 👍/👎 on an answer with its question, passage and citation."""
        history = list(history or [])
        index = data.index if isinstance(data.index, int) else data.index[0]
        try:
            resolved = self.answer_turn(history[:index + 1])
        except QAError as e:
            log.warning("feedback not stored: %s", e)
            resolved = None
        if resolved is not None:
            turn, span = resolved
            best = turn.answer.best
            liked = data.liked if isinstance(data.liked, bool) else None
            feedback_store.record(self.qa.index_dir, turn.question, liked, query=turn.query,
                                  found=turn.answer.found, passage=best.text if best else "",
                                  citation=str(best.citation) if best else "",
                                  highlight=best.text[span[0]:span[1]] if best and span else
                                  (best.text if best and turn.answer.found else ""))
        return feedback_views(self.qa.index_dir)

    def ask(self, question: str, k: int = 3) -> dict:
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
            self.qa.refresh(wait=False)
            answer = self.qa.ask(text, k=k)
        except QAError as e:
            raise refusal(f"无法回答这个问题：{e}") from e
        span = (best_sentence_span(self.qa, text, answer.best.text, self.sentence_vectors)
                if answer.best else None)
        return chat_api_answer(answer, answer.best.text[span[0]:span[1]] if span else "", self.link_for)

"""What a question may be: the one rule for cleaning question text and checking its size."""

from __future__ import annotations

import unicodedata

from .config import MAX_QUESTION_CHARS
from .errors import QuestionError


def clean_text(text) -> str:
    """Text safe to process and display: invalid Unicode replaced, control and format characters
    removed, whitespace collapsed. Never raises.

    A browser or an HTTP client can send lone surrogates (invalid UTF-16) or control characters;
    they would break JSON encoding or the page, so they go before anything else sees the text.
    """
    if text is None:
        return ""
    if not isinstance(text, str):
        text = str(text)
    text = text.encode("utf-8", "replace").decode("utf-8")
    # Control characters separate words (tab, newline); format characters (zero-width space, BOM,
    # direction marks) are invisible inside words, so they go without leaving a gap.
    text = "".join(" " if unicodedata.category(c) == "Cc" else
                   "" if unicodedata.category(c) in ("Cf", "Cs", "Co", "Cn") else c for c in text)
    return " ".join(unicodedata.normalize("NFC", text).split())


def clean_question(question) -> str:
    """Question text cleaned as `clean_text` does.

    Raises:
        QuestionError: not a string, empty after cleaning, or longer than MAX_QUESTION_CHARS.
    """
    if not isinstance(question, str):
        raise QuestionError(f"the question must be text, not {type(question).__name__}")
    text = clean_text(question)
    if not text:
        raise QuestionError("the question is empty: type a question, e.g. 雍景苑的停车难题是怎么解决的？")
    if len(text) > MAX_QUESTION_CHARS:
        raise QuestionError(f"the question is too long ({len(text)} characters; "
                            f"at most {MAX_QUESTION_CHARS})")
    return text


def check_k(k, limit: int) -> int:
    """The number of passages asked for, capped at `limit`.

    Raises:
        QuestionError: k is not a positive integer.
    """
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise QuestionError(f"k must be a positive integer, not {k!r}")
    return min(k, limit)

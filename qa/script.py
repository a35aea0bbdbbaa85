"""Which script a text is written in: the one definition of a Chinese (CJK) character."""

from __future__ import annotations

#: CJK Unified Ideographs and Extension A, as a regex character-class body ("[" + CJK + "]").
CJK = "\u3400-\u4dbf\u4e00-\u9fff"


def is_cjk(ch: str) -> bool:
    """Whether one character is a Chinese character (ideograph)."""
    return "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf"


def has_cjk(text: str) -> bool:
    """Whether the text holds at least one Chinese character."""
    return any(map(is_cjk, text))

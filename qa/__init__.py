"""Question answering with citations over Chinese documents."""

from .answer import Answer, Citation, Hit
from .config import Config
from .engine import QA
from .errors import IndexCorruptError, ModelError, QAError, QuestionError, SourceError

__all__ = ["QA", "Answer", "Hit", "Citation", "Config", "QAError", "SourceError", "IndexCorruptError",
           "ModelError", "QuestionError"]

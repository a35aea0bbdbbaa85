"""Domain exceptions; only the CLI and app.py turn them into text for people."""


class QAError(Exception):
    """Base class for every error this package raises on purpose."""


class SourceError(QAError):
    """A source file or folder cannot be read as text (missing, binary, undecodable, empty)."""


class IndexCorruptError(QAError):
    """The index on disk is truncated, unreadable or does not match its manifest.

    The engine rebuilds such an index by itself; this is raised only when asked to open an
    index without rebuilding (`python -m qa index` fixes it).
    """


class ModelError(QAError):
    """The embedding model cannot be loaded (not installed, not downloaded, wrong path)."""


class QuestionError(QAError):
    """The question cannot be answered as given (empty, too long, not text)."""


class UnsafeBindError(QAError):
    """The server would expose endpoints that change data on a network address without a token."""


class ManifestDamagedError(IndexCorruptError):
    """manifest.json is unreadable or of the wrong shape (and no usable backup was found)."""


class StoreError(QAError):
    """The vector store cannot be used: unknown kind, missing client library, unreachable server."""


class DiskFullError(QAError):
    """A write failed because the disk is full; nothing was changed (partial files were removed)."""


class ReadOnlyIndexError(QAError):
    """The index must be updated but its folder cannot be written (read-only file system, no permission)."""


class ParseLimitError(SourceError):
    """A document took longer than the time limit, or more memory than the cap, to parse."""


class IndexTimeError(SourceError):
    """Embedding a document took longer than the time limit of an upload; nothing was changed."""


class UploadError(QAError):
    """An uploaded file is refused (type, size, name or content); the message says why, in Chinese.

    `code` names the reason for an API: "too_large" (HTTP 413), "unsupported_type" (415),
    "disk_full" (507), "bad_name", "empty", "bad_content", "unreadable" or "too_slow" (embedding
    took longer than config.MAX_EMBED_SECONDS) (422).
    """

    STATUS = {"too_large": 413, "unsupported_type": 415, "disk_full": 507}

    def __init__(self, message: str, code: str = "bad_content"):
        super().__init__(message)
        self.code = code

    @property
    def http_status(self) -> int:
        return self.STATUS.get(self.code, 422)


class ServiceUnavailable(QAError):
    """No usable service answered at the URL (not running, not ready, or serving another index)."""

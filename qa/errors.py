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


class DiskFullError(QAError):
    """A write failed because the disk is full; nothing was changed (partial files were removed)."""


class ReadOnlyIndexError(QAError):
    """The index must be updated but its folder cannot be written (read-only file system, no permission)."""

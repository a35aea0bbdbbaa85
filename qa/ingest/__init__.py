"""Ingest: reading documents of every supported format into Documents (the bottom stage).

The names here are the stage's face: other stages import from `qa.ingest`, never from its files.
"""

from .document import (
    DOCUMENT_SUFFIXES,
    SUFFIX_FORMATS,
    Document,
    Paragraph,
    Piece,
    decode_text,
    file_sha256,
    format_of,
)
from .formats import page_and_paragraph
from .read import find_source_files, load_documents, parse_bytes, parse_document, read_document
from .worker import parse_isolated, read_isolated, warm

__all__ = ["DOCUMENT_SUFFIXES", "SUFFIX_FORMATS", "Document", "Paragraph", "Piece", "decode_text",
           "file_sha256", "find_source_files", "format_of", "load_documents", "page_and_paragraph",
           "parse_bytes", "parse_document", "parse_isolated", "read_document", "read_isolated", "warm"]

"""Ingest: reading documents of every supported format into Documents (the bottom stage).

The names here are the stage's face: other stages import from `qa.ingest`, never from its files.
Inside, imports run one way: worker (read in a subprocess) -> read (finds files, dispatches by
format) -> one module per format (text, html, docx, pdf, image, pptx, sheets) -> what they share
(units, repair, ocr, limits) -> document (the model, which imports nothing of ingest).
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
    is_markdown,
    join_pieces,
)
from .read import find_source_files, load_documents, parse_bytes, read_document
from .text import parse_document
from .units import page_and_paragraph
from .worker import parse_isolated, read_isolated, warm

__all__ = ["DOCUMENT_SUFFIXES", "SUFFIX_FORMATS", "Document", "Paragraph", "Piece", "decode_text",
           "file_sha256", "find_source_files", "format_of", "is_markdown", "join_pieces", "load_documents",
           "page_and_paragraph", "parse_bytes", "parse_document", "parse_isolated", "read_document",
           "read_isolated", "warm"]

"""The JSON the service speaks: request/response bodies (the pydantic models make /openapi.json)
and the Gradio /ask object; an answer's own JSON shape is `Answer.to_dict` (qa/answer.py), which
REST, the CLI and the Gradio /ask endpoint all start from.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from ..answer import Answer, Hit
from ..config import MAX_K, MAX_QUESTION_CHARS
from ..ingest import SUFFIX_FORMATS


def chat_api_answer(answer: Answer, highlight: str,
                    link_for: Callable[[Hit], str | None] | None = None) -> dict:
    """The object the Gradio /ask endpoint returns, read from `Answer.to_dict`: the best passage
    flattened (passage, citation as one line, score), the highlighted sentence, and each hit with
    its citation line, lines, location and `source` (its source-view URL, or "")."""
    link_for = link_for or (lambda hit: None)
    shape = answer.to_dict()
    best = shape["hits"][0] if shape["hits"] else None
    return {
        "found": shape["found"],
        "passage": best["text"] if best else "",
        "citation": best["citation"]["display"] if best else "",
        "score": best["score"] if best else 0.0,
        "confidence": shape["confidence"],
        "highlight": highlight,
        # "lines" is empty for Word, HTML and PDF passages; "location" says where they stand.
        "hits": [{"text": h["text"], "citation": h["citation"]["display"], "score": h["score"],
                  "lines": h["citation"]["lines"], "location": h["citation"]["location"],
                  "source": link_for(hit) or ""}
                 for hit, h in zip(answer.hits, shape["hits"], strict=True)],
    }


#: A question must hold one character the engine keeps: it drops whitespace, control and invisible
#: characters (qa.question.clean_question), so a question of only those is empty. Stated in the schema so
#: clients (and the fuzzer) know it.
VISIBLE_CHARACTER = r"[^\s\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\ufeff]"


def _whole_number(value):
    """k as JSON Schema reads "integer": 3 and 3.0 are fine; "3" and true are client bugs."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError("must be a whole number, e.g. 3")
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError("must be a whole number, e.g. 3")
        return int(value)
    return value


class AskRequest(BaseModel):
    """A question and how many passages to return."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"question": "新江湾城街道的“三驾马车”指的是什么？", "k": 3}]})

    # strict: 42 for the question is a client bug worth a clear 422, not something to stringify.
    question: Annotated[str, Field(strict=True, min_length=1, max_length=MAX_QUESTION_CHARS,
                                   pattern=VISIBLE_CHARACTER,
                                   description="the question, in Chinese or English (at least one visible "
                                               "character)")]
    k: Annotated[int, Field(ge=1, le=MAX_K, description="how many passages to return"),
                 BeforeValidator(_whole_number)] = 3


class CitationOut(BaseModel):
    source: str = Field(description="document title")
    path: str = Field(description="document file path on the server")
    section: str | None = Field(description="section heading, if any")
    lines: list[Annotated[list[int], Field(min_length=2, max_length=2)]] = Field(
        description="1-based inclusive [first, last] line ranges")
    # Defaults keep the API working with engines that cite text files by lines only.
    format: str = Field("text", description="source format: text, markdown, docx, html, pdf…")
    pages: list[int] = Field(default_factory=list, description="PDF: 1-based pages the passage stands on")
    paragraphs: list[Annotated[list[int], Field(min_length=2, max_length=2)]] = Field(
        default_factory=list, description="Word/HTML/PDF: 1-based [first, last] paragraph ranges")
    rows: list[Annotated[list[int], Field(min_length=2, max_length=2)]] = Field(
        default_factory=list, description="spreadsheets and CSV: 1-based [first, last] row ranges")
    regions: list[Annotated[list[float], Field(min_length=5, max_length=5)]] = Field(
        default_factory=list, description="text read by OCR: [page, x0, y0, x1, y1], the box as fractions "
                                          "of the page from its top left")
    ocr_confidence: float | None = Field(None, description="text read by OCR: its lowest line score (0-1)")
    low_confidence: bool = Field(False, description="read by OCR with a low score: check against the scan")
    location: str = Field("", description="the place in the file in Chinese, e.g. 第25–27行")
    display: str = Field(description="the citation as one line of text")


class HitOut(BaseModel):
    text: str
    score: float = Field(description="relevance, higher is better")
    confidence: float
    citation: CitationOut


class AskResponse(BaseModel):
    question: str = Field(description="the question as the engine read it (cleaned)")
    found: bool = Field(description="whether the best passage is relevant enough to count as the answer")
    confidence: float
    hits: list[HitOut] = Field(description="best first; filled even when found is false")


class DocumentOut(BaseModel):
    title: str
    path: str
    passages: int
    sections: list[str]


class DocumentsResponse(BaseModel):
    count: int
    documents: list[DocumentOut]


#: POST /api/documents's body, stated by hand: the route reads the form itself (see `upload`).
UPLOAD_BODY = {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["file"], "properties": {"file": {
        "type": "string", "format": "binary",
        "description": "the document; its name's suffix gives its type, and the content must match"}}}}}}


class UploadedDocument(DocumentOut):
    format: str = Field(description="the format read: " + ", ".join(sorted(set(SUFFIX_FORMATS.values()))))


class SkippedFile(BaseModel):
    path: str
    reason: str


class UpdateReport(BaseModel):
    """What an add or remove changed in the index (the engine's report)."""

    added: list[str] = Field(default_factory=list, description="paths newly indexed")
    updated: list[str] = Field(default_factory=list, description="paths re-indexed because they changed")
    removed: list[str] = Field(default_factory=list, description="paths taken out of the index")
    skipped: list[SkippedFile] = Field(default_factory=list, description="files that could not be read")
    unchanged: int = Field(0, description="documents left as they were")
    embedded: int = Field(0, description="passages embedded by this update")
    reused: int = Field(0, description="passages whose vectors were reused")
    seconds: float | None = None


class UploadResponse(BaseModel):
    name: str = Field(description="the file name in the knowledge-base folder (use it to DELETE)")
    replaced: bool = Field(description="a file of that name was there before and was replaced")
    sha256: str
    document: UploadedDocument
    report: UpdateReport


class DeleteResponse(BaseModel):
    path: str = Field(description="the document's path on the server")
    deleted_file: bool = Field(description="the file was an upload in the knowledge-base folder and was "
                                           "deleted; files elsewhere are only taken out of the index")
    report: UpdateReport


class HealthResponse(BaseModel):
    status: Literal["ready", "not ready"]
    ready: bool
    model: str | None = Field(description="embedding model id")
    dimension: int | None = None
    documents: int = 0
    passages: int = 0
    index_created: str | None = Field(None, description="when the index was built")
    index_build_seconds: float | None = Field(
        None, description="how long this process took to build the index; null if it was loaded from disk")


class FieldProblem(BaseModel):
    loc: list[str | int]
    msg: str


class ErrorResponse(BaseModel):
    detail: str = Field(description="what is wrong, in one sentence")
    errors: list[FieldProblem] = Field(default_factory=list, description="per-field problems (422 only)")


def error_responses(*codes: int) -> dict:
    text = {400: "the body is not valid JSON", 401: "missing or wrong token", 403: "writes disabled",
            404: "no such document", 409: "a read-only replica, or the name matches several documents",
            413: "the body is too large", 415: "not a supported document type",
            422: "the body, question or file is invalid", 503: "the index is not loaded"}
    return {c: {"model": ErrorResponse, "description": text[c]} for c in codes}


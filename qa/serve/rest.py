"""REST API beside the Gradio UI: one FastAPI app (JSON routes + mounted demo) served by uvicorn."""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated, Literal

# Set before gradio is imported anywhere through this module: Blocks read it when they are built.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from fastapi import APIRouter, Depends, FastAPI, Request, Security  # noqa: E402
from fastapi import Path as PathParam  # noqa: E402
from fastapi.exceptions import RequestValidationError  # noqa: E402
from fastapi.responses import JSONResponse  # noqa: E402
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer  # noqa: E402
from fastapi_offline import FastAPIOffline  # noqa: E402
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field  # noqa: E402
from starlette.datastructures import UploadFile as StarletteUploadFile  # noqa: E402
from starlette.exceptions import HTTPException  # noqa: E402

from ..config import MAX_K, MAX_QUESTION_CHARS  # noqa: E402
from ..errors import IndexCorruptError, ModelError, QAError, QuestionError, SourceError, UnsafeBindError  # noqa: E402, E501
from .security import BODY_TIMEOUT, RequestGuard, allowed_hosts, too_large  # noqa: E402
from .uploads import MAX_UPLOAD_BYTES, delete_document, save_upload  # noqa: E402

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860
#: Largest request body the JSON routes read (bigger ones get 413 before any parsing).
MAX_BODY_BYTES = 64 * 1024
#: Largest body POST /api/documents reads: the 20 MB file plus room for the multipart framing.
MAX_UPLOAD_BODY_BYTES = MAX_UPLOAD_BYTES + 1024 * 1024
#: Largest request body of Gradio's JSON routes (a chat's whole history is sent with each question).
MAX_GRADIO_BODY_BYTES = 1024 * 1024

#: The one place where engine errors become HTTP statuses (anything not listed: 422).
ERROR_STATUS: dict[type[QAError], int] = {
    QuestionError: 422,
    SourceError: 422,
    IndexCorruptError: 503,
    ModelError: 503,
}


# ----- settings and the bind/token rule -----

def _cpu_count() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class Settings:
    """How the server runs; `settings_from_env` fills it from QA_API_TOKEN / QA_CORS_ORIGINS."""

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    token: str | None = None
    cors_origins: tuple[str, ...] = ()
    #: Host names requests may carry besides loopback names and the bound address ("*": any).
    allowed_hosts: tuple[str, ...] = ()
    max_body_bytes: int = MAX_BODY_BYTES
    #: Seconds a request body may stall before the request is dropped (408).
    body_timeout: float = BODY_TIMEOUT
    # Query work is CPU-bound: more threads than cores only add queueing and GIL contention.
    threads: int = field(default_factory=_cpu_count)

    def with_changes(self, **changes) -> Settings:
        return replace(self, **changes)


def settings_from_env(**overrides) -> Settings:
    """Settings from the environment: QA_API_TOKEN, QA_CORS_ORIGINS and QA_ALLOWED_HOSTS
    (comma-separated), QA_API_THREADS."""
    env: dict = {}
    token = (os.environ.get("QA_API_TOKEN") or "").strip()
    if token:
        env["token"] = token
    origins = tuple(o.strip() for o in (os.environ.get("QA_CORS_ORIGINS") or "").split(",") if o.strip())
    if origins:
        env["cors_origins"] = origins
    hosts = tuple(h.strip() for h in (os.environ.get("QA_ALLOWED_HOSTS") or "").split(",") if h.strip())
    if hosts:
        env["allowed_hosts"] = hosts
    if (os.environ.get("QA_API_THREADS") or "").strip().isdigit():
        env["threads"] = max(1, int(os.environ["QA_API_THREADS"]))
    env.update({k: v for k, v in overrides.items() if v is not None})
    return Settings(**env)


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach (127.0.0.0/8, ::1, 'localhost')."""
    name = (host or "").strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        # A host name other than localhost may resolve to anything: treat it as public.
        return False


def bind_problem(host: str, token: str | None, write_routes: Sequence[str]) -> str | None:
    """Why the server must not start with these settings, or None when it may.

    Endpoints that change data need a token once other machines can reach them; read-only
    endpoints may be public.
    """
    if is_loopback(host) or not write_routes or (token or "").strip():
        return None
    return (f"refusing to listen on {host}: endpoints that change data ({', '.join(write_routes)}) would be "
            f"open to the network without a token. Set QA_API_TOKEN to a secret (clients then send "
            f"'Authorization: Bearer <token>'), or bind to 127.0.0.1.")


_TOKEN_SCHEME = "QA_API_TOKEN"
_bearer = HTTPBearer(auto_error=False, scheme_name=_TOKEN_SCHEME,
                     description="The server's QA_API_TOKEN, as `Authorization: Bearer …`")


def require_write_token(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)] = None) -> None:
    """Dependency for every route that changes data: a configured token must be presented.

    Without a token configured, writes are allowed only while the server is bound to loopback.
    """
    settings: Settings = request.app.state.settings
    if not settings.token:
        if is_loopback(settings.host):
            return
        raise HTTPException(403, f"writes are disabled: the server listens on {settings.host} "
                                 f"and QA_API_TOKEN is not set")
    given = credentials.credentials if credentials is not None else ""
    # compare_digest: the time taken must not reveal how much of the token matched.
    if not hmac.compare_digest(given.encode("utf-8", "replace"), settings.token.encode("utf-8")):
        raise HTTPException(401, "missing or wrong token: send 'Authorization: Bearer <QA_API_TOKEN>'",
                            headers={"WWW-Authenticate": "Bearer"})


#: Attach to a router or route that changes data: `APIRouter(dependencies=WRITE)`.
WRITE = [Depends(require_write_token)]


def write_routes(app: FastAPI) -> list[str]:
    """'METHOD /path' of every route guarded by `require_write_token` (the startup check uses it).

    Read from a fresh OpenAPI schema, where the token shows as a security requirement: this
    walks included routers without FastAPI internals. Write routes must stay in the schema.
    """
    from fastapi.openapi.utils import get_openapi

    schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
    return [f"{method.upper()} {path}"
            for path, operations in schema.get("paths", {}).items()
            for method, operation in operations.items()
            if any(_TOKEN_SCHEME in requirement for requirement in operation.get("security", ()))]


# ----- request and response bodies (these make /openapi.json) -----

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
    format: str = Field(description="text (.txt, .md), html, docx or pdf")


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


def _errors(*codes: int) -> dict:
    text = {400: "the body is not valid JSON", 401: "missing or wrong token", 403: "writes disabled",
            404: "no such document", 409: "the name matches several documents",
            413: "the body is too large", 415: "not a supported document type",
            422: "the body, question or file is invalid", 503: "the index is not loaded"}
    return {c: {"model": ErrorResponse, "description": text[c]} for c in codes}


# ----- error handling: every client mistake becomes a 4xx with one clear sentence -----

def _error(status: int, detail: str, errors: list | None = None, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail, "errors": errors or []}, status_code=status, headers=headers)


def _message(problem: dict) -> str:
    """Pydantic's message for one field, minus the regex and the 'Value error, ' prefix."""
    if problem.get("type") == "string_pattern_mismatch":
        return "must contain at least one visible character"
    return str(problem.get("msg", "invalid")).removeprefix("Value error, ")


async def _on_validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    problems = exc.errors()
    if any(p.get("type") == "json_invalid" for p in problems):
        reason = next(p.get("ctx", {}).get("error", "") for p in problems if p.get("type") == "json_invalid")
        return _error(400, f"the request body is not valid JSON ({reason})")
    # Inputs are not echoed back: they can be huge, or hold text that cannot be encoded.
    errors = [{"loc": [str(x) if not isinstance(x, int) else x for x in p.get("loc", ())],
               "msg": _message(p)} for p in problems]
    content_type = request.headers.get("content-type", "")
    if "json" not in content_type.lower() and any(e["loc"] == ["body"] for e in errors):
        detail = "send the body as JSON with 'Content-Type: application/json', e.g. {\"question\": \"…\"}"
    else:
        detail = "; ".join(f"{'.'.join(str(x) for x in e['loc'] if x != 'body') or 'body'}: {e['msg']}"
                           for e in errors[:5])
    return _error(422, detail or "invalid request", errors)


def _unreadable_body(cause: BaseException | None) -> str:
    """Why json.loads refused a body (FastAPI reports every such case as one vague 400)."""
    if isinstance(cause, UnicodeDecodeError):
        return "the request body is not valid UTF-8 text"
    if isinstance(cause, RecursionError):
        return "the request body is nested too deeply to be read as JSON"
    if isinstance(cause, ValueError) and "digits" in str(cause):
        return "the request body holds a number with too many digits"
    return "the request body cannot be read as JSON"


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    # A bug, not a client mistake: log it with its traceback, answer in the API's error shape.
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return _error(500, "internal error; the server log has the details")


async def _on_http_error(request: Request, exc: HTTPException) -> JSONResponse:
    detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    if exc.status_code == 413 and not detail.startswith("the request body is too large"):
        limit = request.app.state.settings.max_body_bytes
        detail = _too_large(limit)
    elif exc.status_code == 400 and detail == "There was an error parsing the body":
        detail = _unreadable_body(exc.__cause__)
    return _error(exc.status_code, detail, headers=getattr(exc, "headers", None))


async def _on_qa_error(request: Request, exc: QAError) -> JSONResponse:
    # kb.UploadError knows its own status (413 too large, 415 wrong type, 422 otherwise).
    status = getattr(exc, "http_status", None) or next(
        (s for cls, s in ERROR_STATUS.items() if isinstance(exc, cls)), 422)
    return _error(status, str(exc))


def _too_large(limit: int) -> str:
    return too_large(limit)


# ----- the app -----

def _convert_answer(answer) -> AskResponse:
    return AskResponse.model_validate(answer.to_dict())


def create_app(qa, demo=None, settings: Settings | None = None,
               gradio_options: dict | None = None) -> FastAPI:
    """The FastAPI app: JSON routes under /api, OpenAPI at /openapi.json, docs at /docs, and the
    Gradio demo (if given) mounted at "/".

    Args:
        qa: a loaded `qa.QA`, or None while the index is still loading (then /api/health says so).
        demo: a `gr.Blocks` to serve at "/"; None for the API alone.
        settings: host, token, CORS, limits; default `settings_from_env()`.
        gradio_options: more keyword arguments for `gr.mount_gradio_app` (css, footer_links, …).
    """
    settings = settings or settings_from_env()
    pool = ThreadPoolExecutor(max_workers=settings.threads, thread_name_prefix="qa-ask")
    # Uploads and deletes run one at a time anyway (kb's lock); their own thread keeps a long upload
    # (parse + embed) from taking a query worker, and the engine swaps its state atomically, so
    # questions are answered from the previous index meanwhile.
    write_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="qa-write")

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        pool.shutdown(wait=False, cancel_futures=True)
        write_pool.shutdown(wait=False, cancel_futures=True)

    # FastAPIOffline: /docs (Swagger UI) and /redoc load their scripts from this server, not from a
    # CDN, so they work on a machine without internet.
    app = FastAPIOffline(title="新江湾城问答 API", version="1", lifespan=lifespan,
                         description="Ask questions about the indexed Chinese documents; each answer "
                                     "passage comes with a citation (document, section, line numbers).")
    app.state.settings = settings
    app.state.qa = qa
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(HTTPException, _on_http_error)
    app.add_exception_handler(QAError, _on_qa_error)
    app.add_exception_handler(Exception, _on_unexpected)
    if settings.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware
        app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins),
                           allow_methods=["GET", "POST", "DELETE"],
                           allow_headers=["Authorization", "Content-Type"])

    # Outermost (added last): Host, Origin, Gradio's upload rule and every route's body limit.
    app.add_middleware(RequestGuard, hosts=allowed_hosts(settings.host, settings.allowed_hosts),
                       origins=settings.cors_origins, default_limit=MAX_GRADIO_BODY_BYTES,
                       limits=[("POST", "/api/documents", MAX_UPLOAD_BODY_BYTES),
                               ("*", "/api/", settings.max_body_bytes),
                               ("*", "/gradio_api/upload", MAX_UPLOAD_BODY_BYTES)],
                       upload_open=is_loopback(settings.host), token=settings.token,
                       body_timeout=settings.body_timeout,
                       uploaded=(lambda: demo.upload_file_set) if demo is not None else None)
    api = APIRouter(prefix="/api")

    def ready_qa(request: Request):
        current = request.app.state.qa
        if current is None:
            raise HTTPException(503, "the index is still loading; try again in a few seconds")
        _refresh(current)
        return current

    @api.post("/ask", response_model=AskResponse, responses=_errors(400, 413, 422, 503),
              summary="Answer a question with cited passages")
    async def ask(body: AskRequest, request: Request) -> AskResponse:
        current = ready_qa(request)
        # The engine is CPU-bound: run it on the pool so the event loop keeps serving other requests.
        answer = await asyncio.get_running_loop().run_in_executor(pool, current.ask, body.question, body.k)
        return _convert_answer(answer)

    @api.get("/documents", response_model=DocumentsResponse, responses=_errors(503),
             summary="What is indexed")
    async def documents(request: Request) -> DocumentsResponse:
        docs = [DocumentOut(title=str(d.get("title") or ""), path=str(d.get("path") or ""),
                            passages=int(d.get("passages") or 0), sections=list(d.get("sections") or []))
                for d in ready_qa(request).documents()]
        return DocumentsResponse(count=len(docs), documents=docs)

    @api.get("/health", response_model=HealthResponse, responses={503: {"model": HealthResponse,
                                                                        "description": "not ready"}},
             summary="Ready or not, model and index size")
    async def health(request: Request):
        current = request.app.state.qa
        if current is not None:
            _refresh(current)
        try:
            manifest = current.manifest if current is not None else None
        except Exception:  # noqa: BLE001 - a half-loaded engine is "not ready", whatever broke
            manifest = None
        if manifest is None:
            body = HealthResponse(status="not ready", ready=False, model=None)
            return JSONResponse(body.model_dump(), status_code=503)
        # Counted from the loaded index, not the manifest: its layout belongs to the engine.
        return HealthResponse(status="ready", ready=True, model=manifest.get("model", {}).get("id"),
                              dimension=manifest.get("model", {}).get("dimension"),
                              documents=len(current.documents()), passages=len(current.chunks),
                              index_created=manifest.get("created"),
                              index_build_seconds=getattr(current, "build_seconds", None))

    writes = APIRouter(prefix="/api", dependencies=WRITE)

    @writes.post("/documents", status_code=201, response_model=UploadResponse,
                 responses=_errors(400, 401, 403, 413, 415, 422, 503),
                 openapi_extra={"requestBody": UPLOAD_BODY},
                 summary="Add a document (multipart field `file`: .txt .md .html .docx .pdf, at most 20 MB)")
    async def upload(request: Request):
        current = ready_qa(request)
        # The form is read here, after the token check: a declared File parameter would make FastAPI
        # read (and spool) up to 21 MB from anyone before the dependencies run.
        async with request.form(max_files=1, max_fields=10) as form:
            file = form.get("file")
            if not isinstance(file, StarletteUploadFile):
                return _error(422, "file: send the document as the multipart/form-data field 'file'",
                              [{"loc": ["body", "file"], "msg": "Field required"}])
            # Parsing and embedding take seconds of CPU: off the event loop. save_upload reads at
            # most 20 MB + 1 byte of the spooled upload (a bigger file is refused with 413).
            result = await asyncio.get_running_loop().run_in_executor(
                write_pool, save_upload, current, file.filename, file.file)
        doc = result["document"] or {}
        return UploadResponse(name=result["name"], replaced=result["replaced"], sha256=result["sha256"],
                              document=UploadedDocument(
                                  title=str(doc.get("title") or ""), path=result["path"],
                                  format=str(doc.get("format") or ""), passages=int(doc.get("passages") or 0),
                                  sections=list(doc.get("sections") or [])),
                              report=UpdateReport.model_validate(result["report"]))

    @writes.delete("/documents/{name}", response_model=DeleteResponse,
                   responses=_errors(401, 403, 404, 409, 503),
                   summary="Take a document out of the index by file name (an uploaded file is deleted too)")
    async def delete(name: Annotated[str, PathParam(description="the document's file name, e.g. 通知.txt")],
                     request: Request) -> DeleteResponse:
        current = ready_qa(request)
        target = _document_named(current, name)
        try:
            result = await asyncio.get_running_loop().run_in_executor(
                write_pool, delete_document, current, target)
        except SourceError as e:  # removed by someone else since the lookup
            raise HTTPException(404, str(e)) from e
        return DeleteResponse(path=result["path"], deleted_file=result["deleted_file"],
                              report=UpdateReport.model_validate(result["report"]))

    # UI: the source view (查看原文) the chat's citations link to; an HTML page, not part of the API.
    @app.get("/source/{key}", include_in_schema=False)
    async def source_view(key: str, request: Request, at: str | None = None):
        from fastapi.responses import HTMLResponse

        from .source import HEADERS, error_page, find_entry, parse_ranges, render_source

        current = request.app.state.qa
        try:
            if current is None:
                raise SourceError("索引还在加载，请几秒钟后再打开。")
            entry = find_entry(current.manifest.get("documents", []), key)
            page = await asyncio.get_running_loop().run_in_executor(pool, render_source, entry,
                                                                    parse_ranges(at))
        except SourceError as e:
            return HTMLResponse(error_page(str(e)), status_code=404, headers=HEADERS)
        return HTMLResponse(page, headers=HEADERS)

    # New routes belong above this line: the mount below takes all others.
    app.include_router(api)
    app.include_router(writes)
    if demo is not None:
        import gradio as gr

        # Without this, a wrong method or unknown path under /api would fall through to Gradio's 404.
        # A mount, unlike a route, takes every method (TRACE and custom ones too).
        # Templates too (/api/documents/{name}): a wrong method there is a 405 as well.
        allowed: dict = {}
        for route in (*api.routes, *writes.routes):
            if hasattr(route, "methods"):
                allowed.setdefault(route.path_regex, set()).update(route.methods)

        async def api_fallback(scope, receive, send):
            path = scope.get("root_path", "") + scope.get("path", "")
            methods = next((sorted(m) for regex, m in allowed.items()
                            if regex.match(path) or regex.match(scope.get("path", ""))), None)
            response = (_error(405, "Method Not Allowed", headers={"Allow": ", ".join(methods)}) if methods
                        else _error(404, "Not Found"))
            await response(scope, receive, send)

        app.mount("/api", api_fallback)

        demo.analytics_enabled = False
        # Mounted last: the mount at "/" would otherwise swallow /api and /docs.
        options = {"ssr_mode": False, "enable_monitoring": False, **(gradio_options or {})}
        gr.mount_gradio_app(app, demo, path="/", server_name=settings.host, server_port=settings.port,
                            **options)
    return app


def _refresh(qa) -> None:
    """Answer from the current knowledge base: another process (python -m qa add) may have changed
    it. One stat of the manifest when nothing changed."""
    refresh = getattr(qa, "refresh", None)
    if refresh is not None:
        try:
            refresh()
        except Exception:  # noqa: BLE001 - a failed refresh keeps the index in use answering
            log.exception("could not refresh the index")


def _document_named(qa, name: str) -> str:
    """Path of the document with file name `name`, uploads first; HTTP 404 if none, 409 if ambiguous."""
    kb_dir = Path(qa.kb_dir).resolve()
    paths = [d["path"] for d in qa.documents() if Path(d["path"]).name == name]
    uploaded = [p for p in paths if Path(p).parent == kb_dir]
    if uploaded:
        return uploaded[0]
    if not paths:
        from .uploads import stray_uploads  # in the folder, not in the index: still deletable
        stray = [p for p in stray_uploads(qa) if Path(p).name == name]
        if stray:
            return stray[0]
        raise HTTPException(404, f"no document named {name!r} in the knowledge base (see GET /api/documents)")
    if len(paths) > 1:
        raise HTTPException(409, f"several documents are named {name!r}: {', '.join(paths)}")
    return paths[0]


def build_server(app: FastAPI, log_level: str = "info"):
    """A configured `uvicorn.Server` for an app from `create_app` (not started; `serve` runs it).

    Host and port come from the app's settings; port 0 picks a free port.

    Raises:
        UnsafeBindError: a non-loopback host with write endpoints and no QA_API_TOKEN.
    """
    import uvicorn

    settings: Settings = app.state.settings
    problem = bind_problem(settings.host, settings.token, write_routes(app))
    if problem:
        raise UnsafeBindError(problem)
    if not is_loopback(settings.host):
        log.warning("listening on %s: other machines can reach this server", settings.host)
    # No access log: one line per question costs more than the HTTP layer itself under load.
    config = uvicorn.Config(app, host=settings.host, port=settings.port, access_log=False,
                            log_level=log_level, timeout_graceful_shutdown=5,
                            http=header_timeout_protocol(settings.body_timeout))
    return uvicorn.Server(config)


def header_timeout_protocol(seconds: float):
    """uvicorn's HTTP protocol, closing a connection whose first request's headers are not
    complete after `seconds` (uvicorn itself would hold it open forever: a slow-loris client
    could tie up connections one byte at a time)."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as Base
    except ImportError:  # no httptools: the h11 implementation
        from uvicorn.protocols.http.h11_impl import H11Protocol as Base

    class HeaderTimeoutProtocol(Base):
        def connection_made(self, transport):
            super().connection_made(transport)
            self.loop.call_later(seconds, self._headers_overdue)

        def _headers_overdue(self) -> None:
            if self.cycle is None and self.transport is not None and not self.transport.is_closing():
                log.warning("closed a connection: request headers incomplete after %.0f s", seconds)
                self.transport.close()

    return HeaderTimeoutProtocol


def serve(qa, demo=None, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
          settings: Settings | None = None, gradio_options: dict | None = None) -> None:
    """Serve the REST API and the demo from one uvicorn process until interrupted.

    Raises:
        UnsafeBindError: see `bind_problem`.
    """
    settings = (settings or settings_from_env()).with_changes(host=host, port=port)
    server = build_server(create_app(qa, demo, settings, gradio_options))
    shown = f"[{host}]" if ":" in host else host
    print(f"Serving on http://{shown}:{port}  (UI: /  REST: /api/ask  docs: /docs)", flush=True)
    server.run()


__all__ = ["create_app", "serve", "build_server", "Settings", "settings_from_env", "bind_problem",
           "is_loopback", "require_write_token", "write_routes", "WRITE", "UnsafeBindError", "ERROR_STATUS"]

"""Errors as HTTP answers, all in the API's error shape {detail, errors}.

Engine errors become statuses (ERROR_STATUS), every client mistake a 4xx with one clear
sentence, a bug a 500 (logged with its traceback).
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from ..errors import IndexCorruptError, ModelError, QAError, QuestionError, ReadOnlyIndexError, SourceError
from .security import too_large

log = logging.getLogger(__name__)

#: The one place where engine errors become HTTP statuses (anything not listed: 422).
ERROR_STATUS: dict[type[QAError], int] = {
    QuestionError: 422,
    SourceError: 422,
    IndexCorruptError: 503,
    ModelError: 503,
    # a read-only replica (or a read-only index folder): the write conflicts with how it is served
    ReadOnlyIndexError: 409,
}


def error_response(status: int, detail: str, errors: list | None = None,
                   headers: dict | None = None) -> JSONResponse:
    """The API's error shape: {detail: one sentence, errors: per-field problems (422 only)}."""
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
        return error_response(400, f"the request body is not valid JSON ({reason})")
    # Inputs are not echoed back: they can be huge, or hold text that cannot be encoded.
    errors = [{"loc": [str(x) if not isinstance(x, int) else x for x in p.get("loc", ())],
               "msg": _message(p)} for p in problems]
    content_type = request.headers.get("content-type", "")
    if "json" not in content_type.lower() and any(e["loc"] == ["body"] for e in errors):
        detail = "send the body as JSON with 'Content-Type: application/json', e.g. {\"question\": \"…\"}"
    else:
        detail = "; ".join(f"{'.'.join(str(x) for x in e['loc'] if x != 'body') or 'body'}: {e['msg']}"
                           for e in errors[:5])
    return error_response(422, detail or "invalid request", errors)


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
    return error_response(500, "internal error; the server log has the details")


async def _on_http_error(request: Request, exc: HTTPException) -> JSONResponse:
    detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    if exc.status_code == 413 and not detail.startswith("the request body is too large"):
        limit = request.app.state.settings.max_body_bytes
        detail = too_large(limit)
    elif exc.status_code == 400 and detail == "There was an error parsing the body":
        detail = _unreadable_body(exc.__cause__)
    return error_response(exc.status_code, detail, headers=getattr(exc, "headers", None))


async def _on_qa_error(request: Request, exc: QAError) -> JSONResponse:
    # kb.UploadError knows its own status (413 too large, 415 wrong type, 422 otherwise).
    status = getattr(exc, "http_status", None) or next(
        (s for cls, s in ERROR_STATUS.items() if isinstance(exc, cls)), 422)
    return error_response(status, str(exc))


def add_error_handlers(app: FastAPI) -> None:
    """Install the handlers above on `app`."""
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(HTTPException, _on_http_error)
    app.add_exception_handler(QAError, _on_qa_error)
    app.add_exception_handler(Exception, _on_unexpected)

"""REST routes that change the knowledge base: POST /api/documents, DELETE /api/documents/{name}."""

from __future__ import annotations

import asyncio
from concurrent.futures import Executor
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Request
from fastapi import Path as PathParam
from starlette.datastructures import UploadFile as StarletteUploadFile
from starlette.exceptions import HTTPException

from ..errors import SourceError
from ..ingest import DOCUMENT_SUFFIXES
from .dependencies import WRITE, ready_qa
from .schemas import (
    UPLOAD_BODY,
    DeleteResponse,
    UpdateReport,
    UploadedDocument,
    UploadResponse,
    error_responses,
)
from .statuses import error_response
from .uploads import MAX_UPLOAD_BYTES, delete_document, require_writer, save_upload, stray_uploads

UPLOAD_SUMMARY = (f"Add a document (multipart field `file`: {' '.join(DOCUMENT_SUFFIXES)}, "
                  f"at most {MAX_UPLOAD_BYTES // 2**20} MB)")


def write_router(write_pool: Executor) -> APIRouter:
    """The write routes, every one behind the token (`WRITE`); uploads and deletes run on `write_pool`."""
    writes = APIRouter(prefix="/api", dependencies=WRITE)

    @writes.post("/documents", status_code=201, response_model=UploadResponse,
                 responses=error_responses(400, 401, 403, 409, 413, 415, 422, 503),
                 openapi_extra={"requestBody": UPLOAD_BODY}, summary=UPLOAD_SUMMARY)
    async def upload(request: Request):
        current = ready_qa(request)
        require_writer(current)  # a read-only replica: 409 before the upload is read
        # The form is read here, after the token check: a declared File parameter would make FastAPI
        # read (and spool) up to 21 MB from anyone before the dependencies run.
        async with request.form(max_files=1, max_fields=10) as form:
            file = form.get("file")
            if not isinstance(file, StarletteUploadFile):
                return error_response(422, "file: send the document as the multipart/form-data field 'file'",
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
                   responses=error_responses(401, 403, 404, 409, 503),
                   summary="Take a document out of the index by file name (an uploaded file is deleted too)")
    async def delete(name: Annotated[str, PathParam(description="the document's file name, e.g. 通知.txt")],
                     request: Request) -> DeleteResponse:
        current = ready_qa(request)
        require_writer(current)  # a read-only replica: 409, whatever the name
        target = document_named(current, name)
        try:
            result = await asyncio.get_running_loop().run_in_executor(
                write_pool, delete_document, current, target)
        except SourceError as e:  # removed by someone else since the lookup
            raise HTTPException(404, str(e)) from e
        return DeleteResponse(path=result["path"], deleted_file=result["deleted_file"],
                              report=UpdateReport.model_validate(result["report"]))

    return writes


def document_named(qa, name: str) -> str:
    """Path of the document with file name `name`, uploads first; HTTP 404 if none, 409 if ambiguous."""
    kb_dir = Path(qa.kb_dir).resolve()
    paths = [d["path"] for d in qa.documents() if Path(d["path"]).name == name]
    uploaded = [p for p in paths if Path(p).parent == kb_dir]
    if uploaded:
        return uploaded[0]
    if not paths:
        # in the folder, not in the index: still deletable
        stray = [p for p in stray_uploads(qa) if Path(p).name == name]
        if stray:
            return stray[0]
        raise HTTPException(404, f"no document named {name!r} in the knowledge base (see GET /api/documents)")
    if len(paths) > 1:
        raise HTTPException(409, f"several documents are named {name!r}: {', '.join(paths)}")
    return paths[0]

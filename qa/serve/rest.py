"""REST API beside the Gradio UI: the FastAPI app (JSON routes + mounted demo) and `serve`, which runs it."""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import Executor, ThreadPoolExecutor
from contextlib import asynccontextmanager

# Set before gradio is imported anywhere through this module: Blocks read it when they are built.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from fastapi import APIRouter, FastAPI, Request  # noqa: E402
from fastapi.responses import JSONResponse  # noqa: E402
from fastapi_offline import FastAPIOffline  # noqa: E402

from ..errors import SourceError  # noqa: E402
from .dependencies import ready_qa, refresh_quietly  # noqa: E402
from .mount import mount_demo  # noqa: E402
from .schemas import (  # noqa: E402
    AskRequest,
    AskResponse,
    DocumentOut,
    DocumentsResponse,
    HealthResponse,
    error_responses,
)
from .security import RequestGuard, allowed_hosts  # noqa: E402
from .server import build_server  # noqa: E402
from .settings import (  # noqa: E402
    DEFAULT_HOST,
    DEFAULT_PORT,
    MAX_GRADIO_BODY_BYTES,
    MAX_UPLOAD_BODY_BYTES,
    Settings,
    is_loopback,
    settings_from_env,
)
from .statuses import add_error_handlers  # noqa: E402
from .upload_owners import OwnUploads  # noqa: E402
from .upload_routes import write_router  # noqa: E402


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
    add_error_handlers(app)
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
                       uploaded=(lambda client: OwnUploads(demo.upload_file_set, client))
                       if demo is not None else None)
    api = read_router(pool)
    writes = write_router(write_pool)
    add_source_route(app, pool)
    # New routes belong above this line: the mount below takes all others.
    app.include_router(api)
    app.include_router(writes)
    if demo is not None:
        mount_demo(app, demo, (api, writes), settings, gradio_options)
    return app


def read_router(pool: Executor) -> APIRouter:
    """The read-only routes under /api (ask, documents, health); questions are answered on `pool`."""
    api = APIRouter(prefix="/api")

    @api.post("/ask", response_model=AskResponse, responses=error_responses(400, 413, 422, 503),
              summary="Answer a question with cited passages")
    async def ask(body: AskRequest, request: Request) -> AskResponse:
        current = ready_qa(request)
        # The engine is CPU-bound: run it on the pool so the event loop keeps serving other requests.
        answer = await asyncio.get_running_loop().run_in_executor(pool, current.ask, body.question, body.k)
        return AskResponse.model_validate(answer.to_dict())

    @api.get("/documents", response_model=DocumentsResponse, responses=error_responses(503),
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
            refresh_quietly(current)
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

    return api


def add_source_route(app: FastAPI, pool: Executor) -> None:
    """UI: the source view (查看原文) the chat's citations link to; an HTML page, not part of the API."""

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


# build_server and Settings are re-exported: the REST layer's face (tests/conftest.py imports them here).
__all__ = ["create_app", "serve", "read_router", "add_source_route", "build_server", "Settings"]

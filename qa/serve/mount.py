"""The Gradio demo mounted at "/" of the REST app, behind a fallback that keeps /api's 404s and 405s."""

from __future__ import annotations

from collections.abc import Iterable

from fastapi import APIRouter, FastAPI

from .settings import Settings
from .statuses import error_response
from .upload_owners import middleware_options


def mount_demo(app: FastAPI, demo, routers: Iterable[APIRouter], settings: Settings,
               gradio_options: dict | None = None) -> None:
    """Mount `demo` at "/" of `app`, last: the mount at "/" would otherwise swallow /api and /docs.

    `routers`: the routers under /api, whose paths answer a wrong method with 405.
    """
    import gradio as gr

    # Without this, a wrong method or unknown path under /api would fall through to Gradio's 404.
    # A mount, unlike a route, takes every method (TRACE and custom ones too).
    # Templates too (/api/documents/{name}): a wrong method there is a 405 as well.
    allowed: dict = {}
    for router in routers:
        for route in router.routes:
            if hasattr(route, "methods"):
                allowed.setdefault(route.path_regex, set()).update(route.methods)

    async def api_fallback(scope, receive, send):
        path = scope.get("root_path", "") + scope.get("path", "")
        methods = next((sorted(m) for regex, m in allowed.items()
                        if regex.match(path) or regex.match(scope.get("path", ""))), None)
        response = (error_response(405, "Method Not Allowed", headers={"Allow": ", ".join(methods)})
                    if methods else error_response(404, "Not Found"))
        await response(scope, receive, send)

    app.mount("/api", api_fallback)

    demo.analytics_enabled = False
    # UploadOwnerMiddleware inside Gradio's app: who uploaded which file (qa.serve.upload_owners).
    options = middleware_options({"ssr_mode": False, "enable_monitoring": False, **(gradio_options or {})})
    gr.mount_gradio_app(app, demo, path="/", server_name=settings.host, server_port=settings.port, **options)

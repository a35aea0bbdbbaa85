"""What the routes depend on: the loaded engine (503 while it loads) and, for writes, the token."""

from __future__ import annotations

import hmac
import logging
from typing import Annotated

from fastapi import Depends, FastAPI, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException

from .settings import Settings, is_loopback

log = logging.getLogger(__name__)

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


def ready_qa(request: Request):
    """The app's engine, refreshed; HTTP 503 while the index is still loading."""
    current = request.app.state.qa
    if current is None:
        raise HTTPException(503, "the index is still loading; try again in a few seconds")
    refresh_quietly(current)
    return current


def refresh_quietly(qa) -> None:
    """Answer from the current knowledge base: another process (python -m qa add) may have changed
    it. One stat of the manifest when nothing changed; a new build is loaded in the background
    (this runs on the event loop) and swapped in when ready."""
    refresh = getattr(qa, "refresh", None)
    if refresh is not None:
        try:
            refresh(wait=False)
        except Exception:  # noqa: BLE001 - a failed refresh keeps the index in use answering
            log.exception("could not refresh the index")

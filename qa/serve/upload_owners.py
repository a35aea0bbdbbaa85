"""Which client uploaded which file: a random HttpOnly cookie names each client, and the paths
Gradio's upload route returned to it are recorded under that name (issue 13, item 1).

A Gradio call may then use only the files its own client uploaded: another client that learns a
cached path (from a log, a shared screen, or by guessing) cannot have it copied into the knowledge
base, since it cannot present the first client's cookie. The cookie is set by
`UploadOwnerMiddleware`, which runs inside Gradio's app (`middleware_options`), on every response
to a request that came without one; `OWNERS` is one per process, like Gradio's upload folder.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from http.cookies import CookieError, SimpleCookie

#: The cookie that names a client (HttpOnly: page scripts cannot read it; SameSite=Strict: other
#: sites' pages do not send it).
COOKIE = "qa_client"
#: Seconds an upload stays usable by its client (Gradio's cache is swept far sooner: UPLOAD_CACHE_SECONDS).
MAX_AGE = 3600.0
#: Most uploads remembered at once; past it the oldest are forgotten (their calls are then refused).
MAX_PATHS = 50_000
GRADIO_UPLOAD = "/gradio_api/upload"
_CLIENT_ID = re.compile(r"[A-Za-z0-9_-]{43}")  # secrets.token_urlsafe(32)


def new_client_id() -> str:
    return secrets.token_urlsafe(32)


def valid_client_id(value) -> str | None:
    """`value` if it has the shape of a client id this module hands out, else None."""
    return value if isinstance(value, str) and _CLIENT_ID.fullmatch(value) else None


def client_from_headers(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """The client id in an ASGI request's Cookie headers, or None."""
    for key, value in headers:
        if key.lower() != b"cookie":
            continue
        try:
            jar = SimpleCookie(value.decode("latin-1"))
        except CookieError:
            continue
        if COOKIE in jar:
            return valid_client_id(jar[COOKIE].value)
    return None


def client_from_request(request) -> str | None:
    """The client id of a Gradio event's `gr.Request` (the cookies of the call that queued it)."""
    if request is None:
        return None
    try:
        cookies = request.cookies
    except AttributeError:
        return None
    getter = getattr(cookies, "get", None)
    return valid_client_id(getter(COOKIE)) if getter is not None else None


class UploadOwners:
    """Thread-safe record: path -> the clients that uploaded it (identical uploads share a path)."""

    def __init__(self, max_age: float = MAX_AGE, max_paths: int = MAX_PATHS):
        self.max_age, self.max_paths = max_age, max_paths
        self._owners: OrderedDict[str, tuple[float, frozenset[str]]] = OrderedDict()
        self._lock = threading.Lock()

    def record(self, client: str, paths: Iterable[str]) -> None:
        now = time.monotonic()
        with self._lock:
            for path in paths:
                _, owners = self._owners.pop(path, (now, frozenset()))
                self._owners[path] = (now, owners | {client})
            while self._owners:
                path, (seen, _) = next(iter(self._owners.items()))
                if len(self._owners) <= self.max_paths and now - seen <= self.max_age:
                    break
                del self._owners[path]

    def owns(self, client: str | None, path) -> bool:
        """Whether `client` uploaded `path` (given exactly as the upload route returned it)."""
        if client is None or not isinstance(path, str):
            return False
        with self._lock:
            entry = self._owners.get(path)
        return entry is not None and client in entry[1] and time.monotonic() - entry[0] <= self.max_age

    def forget(self, path: str) -> None:
        with self._lock:
            self._owners.pop(path, None)

    def __len__(self) -> int:
        return len(self._owners)


#: The process's record (Gradio's upload folder is one per process too).
OWNERS = UploadOwners()


def _cookie_header(client: str, secure: bool) -> tuple[bytes, bytes]:
    value = f"{COOKIE}={client}; Path=/; HttpOnly; SameSite=Strict" + ("; Secure" if secure else "")
    return b"set-cookie", value.encode("latin-1")


class UploadOwnerMiddleware:
    """ASGI middleware for Gradio's own app: names each client with the cookie (set on the first
    response it gets), and records under that name the paths /gradio_api/upload returns to it."""

    def __init__(self, app, owners: UploadOwners | None = None):
        self.app, self.owners = app, owners if owners is not None else OWNERS

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        client = client_from_headers(scope.get("headers", ()))
        fresh = client is None
        if fresh:
            client = new_client_id()
        path = (scope.get("root_path", "") + scope.get("path", "")).rstrip("/")
        upload = scope.get("method") == "POST" and (path.endswith(GRADIO_UPLOAD)
                                                    or scope.get("path", "").rstrip("/") == GRADIO_UPLOAD)
        status, body = 0, []

        async def owner_send(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                if fresh:
                    message = {**message, "headers": [*message.get("headers", ()),
                                                      _cookie_header(client, scope.get("scheme") == "https")]}
            elif message["type"] == "http.response.body" and upload and status == 200:
                body.append(message.get("body", b""))
                if not message.get("more_body", False):
                    # recorded before the client sees the paths, so its next call finds them
                    self.owners.record(client, uploaded_paths(b"".join(body)))
            await send(message)

        await self.app(scope, receive, owner_send)


def uploaded_paths(body: bytes) -> list[str]:
    """The paths in the upload route's answer (a JSON list of strings), or [] for anything else."""
    try:
        paths = json.loads(body)
    except (ValueError, RecursionError):
        return []
    return [p for p in paths if isinstance(p, str)] if isinstance(paths, list) else []


def middleware_options(options: dict | None = None) -> dict:
    """Gradio launch/mount options with UploadOwnerMiddleware in `app_kwargs` (once)."""
    from starlette.middleware import Middleware

    options = dict(options or {})
    app_kwargs = dict(options.get("app_kwargs") or {})
    middleware = list(app_kwargs.get("middleware") or [])
    if not any(getattr(m, "cls", None) is UploadOwnerMiddleware for m in middleware):
        middleware.append(Middleware(UploadOwnerMiddleware))
    options["app_kwargs"] = {**app_kwargs, "middleware": middleware}
    return options


class OwnUploads:
    """The files one client may name in a Gradio call: received by Gradio's upload route (its
    upload set) and uploaded by this client; supports `in`, as qa.serve.security.foreign_paths uses."""

    def __init__(self, received: set, client: str | None, owners: UploadOwners | None = None):
        self.received, self.client = received, client
        self.owners = owners if owners is not None else OWNERS

    def __contains__(self, path) -> bool:
        return path in self.received and self.owners.owns(self.client, path)

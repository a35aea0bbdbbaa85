"""The HTTP rules every request meets before any route sees it (one ASGI middleware).

* Host: the Host header must name this server (loopback names by default, plus the address it
  is bound to and QA_ALLOWED_HOSTS): a page on another site cannot reach it through DNS rebinding.
* Origin: a request that can change something (any method but GET/HEAD/OPTIONS) sent by a browser
  from another site (Origin not this server's own, nor one of QA_CORS_ORIGINS) is refused.
* Gradio's file upload (/gradio_api/upload) follows the write rule of the knowledge-base upload:
  open while the server listens on loopback only, otherwise the token is required.
* Files: a Gradio call may name only files that Gradio's own upload route received from the
  same client (qa.serve.upload_owners: its cookie); any other "path" in a call's body
  (/etc/passwd, ../../x, another client's upload) is refused and logged.
* Body size: every route has a limit, checked against Content-Length before reading and counted
  while a body without one arrives; a body that stalls mid-way is cut off after BODY_TIMEOUT.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json
import logging
from collections.abc import Callable, Container, Iterable
from urllib.parse import urlsplit

from starlette.exceptions import HTTPException

from .upload_owners import client_from_headers

log = logging.getLogger(__name__)

#: Seconds a client may take between two pieces of a request body before the request is dropped.
BODY_TIMEOUT = 20.0
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
WILDCARD_HOSTS = frozenset({"0.0.0.0", "::", ""})
GRADIO_UPLOAD = "/gradio_api/upload"


def host_name(value: str) -> str:
    """The host part of a Host header or netloc, lower-case, without port or IPv6 brackets."""
    value = (value or "").strip().lower()
    if value.startswith("["):
        return value[1:].split("]", 1)[0]
    if value.count(":") > 1:  # a bare IPv6 address
        return value
    return value.rsplit(":", 1)[0] if ":" in value else value


def _is_loopback_name(name: str) -> bool:
    if name in LOOPBACK_NAMES or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def allowed_hosts(bind_host: str, extra: Iterable[str] = ()) -> frozenset[str] | None:
    """Host names requests may carry; None means any (a wildcard bind without QA_ALLOWED_HOSTS:
    writes there need the token anyway).

    Loopback names are always allowed; a specific bind address is allowed too.
    """
    extra = {host_name(h) for h in extra if h.strip()}
    if "*" in extra:
        return None
    bind = host_name(bind_host)
    if bind in WILDCARD_HOSTS and not extra:
        return None
    names = set(LOOPBACK_NAMES) | extra
    if bind not in WILDCARD_HOSTS:
        names.add(bind)
    return frozenset(names)


def _reply(status: int, detail: str, headers: Iterable[tuple[bytes, bytes]] = ()):
    body = json.dumps({"detail": detail, "errors": []}, ensure_ascii=False).encode()
    start = {"type": "http.response.start", "status": status,
             "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                         (b"connection", b"close"), *headers]}
    return start, {"type": "http.response.body", "body": body}


class _BodyTooLarge(HTTPException):
    """Raised from receive(): FastAPI passes HTTPExceptions on, so its handler answers 413."""

    def __init__(self, limit: int):
        super().__init__(413, too_large(limit))


class _BodyStalled(HTTPException):
    def __init__(self, seconds: float):
        super().__init__(408, f"the request body stalled (nothing received for {seconds:.0f} s)")


class RequestGuard:
    """ASGI middleware enforcing the module's rules.

    Args:
        hosts: `allowed_hosts(...)`: allowed Host names, or None for any.
        origins: extra browser origins allowed to write ("https://a.example"), e.g. QA_CORS_ORIGINS.
        limits: [(method or "*", path prefix, bytes)]: the first match gives a request's body limit.
        default_limit: the limit for requests that match none.
        upload_open: whether Gradio's upload route is open without a token (a loopback bind).
        token: the write token, if one is configured.
        uploaded: client id (qa.serve.upload_owners, None without the cookie) -> the paths that
            client may name in a Gradio call (anything supporting `in`); None: calls are not checked.
    """

    def __init__(self, app, hosts: frozenset[str] | None, origins: Iterable[str], limits, default_limit: int,
                 upload_open: bool, token: str | None, body_timeout: float = BODY_TIMEOUT,
                 uploaded: Callable[[str | None], Container] | None = None, json_prefix: str = "/api/"):
        self.app, self.hosts = app, hosts
        self.uploaded, self.json_prefix = uploaded, json_prefix
        self.origins = frozenset(o.rstrip("/").lower() for o in origins)
        self.limits, self.default_limit = list(limits), default_limit
        self.upload_open, self.token, self.body_timeout = upload_open, token, body_timeout

    def limit_for(self, method: str, path: str) -> int:
        for want_method, prefix, limit in self.limits:
            if want_method in ("*", method) and path.startswith(prefix):
                return limit
        return self.default_limit

    def problem(self, scope) -> tuple[int, str] | None:
        """(status, reason) when the request must be refused before it reaches a route."""
        headers = {}
        for k, v in scope.get("headers", ()):
            headers.setdefault(k.decode("latin-1").lower(), v.decode("latin-1"))
        host = host_name(headers.get("host", ""))
        # No Host at all is no browser (they always send one), so no rebinding either.
        if self.hosts is not None and "host" in headers and not _is_loopback_name(host) \
                and host not in self.hosts:
            return 421, (f"host {host or '(none)'!r} is not served here; allowed: "
                         f"{', '.join(sorted(self.hosts))} (set QA_ALLOWED_HOSTS to add names)")
        method = scope.get("method", "GET").upper()
        if method not in SAFE_METHODS:
            origin = headers.get("origin")
            if origin is not None and not self._same_site(origin, headers.get("host", "")):
                return 403, f"writes from another site are refused (Origin {origin[:100]!r})"
            if headers.get("sec-fetch-site") == "cross-site" and origin is None:
                return 403, "writes from another site are refused (Sec-Fetch-Site: cross-site)"
        path = scope.get("path", "")
        if path.rstrip("/") == GRADIO_UPLOAD and not self.upload_open:
            given = headers.get("authorization", "")
            scheme, _, credentials = given.partition(" ")
            if not self.token:
                return 403, ("uploads are disabled: the server is open to the network and "
                             "QA_API_TOKEN is not set")
            if scheme.lower() != "bearer" or not hmac.compare_digest(
                    credentials.strip().encode("utf-8", "replace"), self.token.encode("utf-8")):
                return 401, "missing or wrong token: send 'Authorization: Bearer <QA_API_TOKEN>'"
        return None

    def _same_site(self, origin: str, host_header: str) -> bool:
        origin = origin.strip().rstrip("/").lower()
        if origin in self.origins:
            return True
        if origin == "null" or not origin:
            return False
        parts = urlsplit(origin)
        return bool(parts.netloc) and parts.netloc == host_header.strip().lower()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            if scope["type"] == "websocket" and self.problem(scope) is not None:
                await send({"type": "websocket.close", "code": 1008})
                return
            return await self.app(scope, receive, send)
        refused = self.problem(scope)
        if refused is not None:
            log.warning("refused %s %s: %s", scope.get("method"), scope.get("path"), refused[1])
            return await self._send(send, *refused)
        limit = self.limit_for(scope.get("method", ""), scope.get("path", ""))
        declared = next((v for k, v in scope.get("headers", ()) if k == b"content-length"), None)
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            # Refused before reading a byte: a client must not make us buffer a huge body.
            return await self._send(send, 413, too_large(limit))
        seen, complete, started = 0, False, False

        async def guarded_receive():
            nonlocal seen, complete
            if complete:  # after the body: waiting for a disconnect may take as long as it takes
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), self.body_timeout)
            except asyncio.TimeoutError:
                raise _BodyStalled(self.body_timeout) from None
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:  # chunked bodies declare no length: count as they arrive
                    raise _BodyTooLarge(limit)
                complete = not message.get("more_body", False)
            else:
                complete = True
            return message

        async def tracking_send(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            receive_app = guarded_receive
            if self._names_files(scope):
                # Gradio's calls: read the (limited) body first and check the files it names.
                chunks, more = [], True
                while more:
                    message = await guarded_receive()
                    if message["type"] != "http.request":
                        return
                    chunks.append(message.get("body", b""))
                    more = message.get("more_body", False)
                body = b"".join(chunks)
                bad = foreign_paths(body, self.uploaded(client_from_headers(scope.get("headers", ()))))
                if bad:
                    shown = ", ".join(repr(b[:200]) for b in bad[:3])
                    log.warning("refused %s %s: names files this client did not upload: %s",
                                scope.get("method"), scope.get("path"), shown)
                    return await self._send(send, 403, "only files uploaded to this server can be used "
                                                       "(a path on the server is not accepted)")
                replayed = False

                async def receive_app():
                    nonlocal replayed
                    if not replayed:
                        replayed = True
                        return {"type": "http.request", "body": body, "more_body": False}
                    return await guarded_receive()
            await self.app(scope, receive_app, tracking_send)
        except Exception as e:  # raised from receive(), possibly wrapped by a form or JSON parser
            cause = next((x for x in (e, e.__cause__, e.__context__)
                          if isinstance(x, (_BodyTooLarge, _BodyStalled))), None)
            if cause is None:
                raise
            if isinstance(cause, _BodyStalled):
                log.warning("dropped %s %s: %s", scope.get("method"), scope.get("path"), cause.detail)
            if not started:
                await self._send(send, cause.status_code, cause.detail)

    def _names_files(self, scope) -> bool:
        path = scope.get("path", "")
        return (self.uploaded is not None and scope.get("method", "GET").upper() not in SAFE_METHODS
                and not path.startswith(self.json_prefix) and path.rstrip("/") != GRADIO_UPLOAD)

    @staticmethod
    async def _send(send, status: int, detail: str):
        start, body = _reply(status, detail)
        await send(start)
        await send(body)


def too_large(limit: int) -> str:
    return f"the request body is too large (at most {limit} bytes)"


def foreign_paths(body: bytes, uploaded: Container) -> list[str]:
    """Values of "path" keys in a JSON body that are not in `uploaded` (the files Gradio's upload
    route received from this client).

    Gradio turns any {"path": …} of a call into a file for the function (copying it into its
    cache first), so a path that did not come from an upload would read a server file.
    """
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return []  # not JSON: Gradio refuses it itself
    bad: list[str] = []
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            path = item.get("path")
            if path is not None and (not isinstance(path, str) or path not in uploaded):
                bad.append(str(path))
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return bad

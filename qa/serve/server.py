"""Running the app: a uvicorn server that refuses an unsafe bind and drops stalled request headers."""

from __future__ import annotations

import logging

from fastapi import FastAPI

from ..errors import UnsafeBindError
from .dependencies import write_routes
from .settings import Settings, bind_problem, is_loopback

log = logging.getLogger(__name__)


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

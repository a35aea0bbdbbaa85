"""How the server runs (host, token, CORS, limits, threads) and the rule for where it may listen."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from .security import BODY_TIMEOUT
from .uploads import MAX_UPLOAD_BYTES

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860
#: Largest request body the JSON routes read (bigger ones get 413 before any parsing).
MAX_BODY_BYTES = 64 * 1024
#: Largest body POST /api/documents reads: the 20 MB file plus room for the multipart framing.
MAX_UPLOAD_BODY_BYTES = MAX_UPLOAD_BYTES + 1024 * 1024
#: Largest request body of Gradio's JSON routes (a chat's whole history is sent with each question).
MAX_GRADIO_BODY_BYTES = 1024 * 1024


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

"""``audioseek serve``: the FastAPI app (``create_app``) and its uvicorn runner (``run_server``).

The app takes a ready ``SearchService`` (:mod:`audioseek.index.types`) by injection and
calls nothing else; the routes live in :mod:`audioseek.serve.api`, the page in
``serve/static``. A ``ServiceWorker`` owns the service: one thread for searches (the model
is loaded once; concurrent text queries are batched) and one for uploaded examples, each
with a bounded queue and a time limit. Middleware, outermost first: security headers,
Host allow-list (DNS rebinding), CORS (only when origins are given), the access token
(when set), request body limits.
"""

from __future__ import annotations

import asyncio
import contextvars
import hmac
import ipaddress
import logging
import os
import re
import secrets
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from audioseek.errors import (
    AudioDecodeError,
    AudioseekError,
    AudioTooLongError,
    ConfigError,
    ModelLoadError,
    QueryError,
    SearchIndexError,
)
from audioseek.index.types import SearchService
from audioseek.serve.api import error_response, router
from audioseek.serve.schemas import finite

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"
MiB = 1 << 20

# The page and the API load nothing from elsewhere; the browser enforces it.
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "media-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'"
)
# Swagger UI needs one inline script; still nothing from another origin.
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; object-src 'none'; frame-ancestors 'none'"
)


LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")


@dataclass
class ServeSettings:
    max_upload_bytes: int = 50 * MiB  # POST /api/similar (multipart upload)
    max_body_bytes: int = 1 * MiB  # every other request body
    max_batch: int = 64  # queries per POST /api/search (k, query length: index.query)
    # decoded length of an uploaded example (a header claiming more is refused before decoding)
    max_upload_seconds: float = 600.0
    upload_timeout_s: float = 120.0  # one upload's decode + embedding
    request_timeout_s: float = 60.0  # any other call into the index
    max_queue: int = 64  # calls waiting for the index thread beyond which 503
    max_pending_uploads: int = 2  # uploads waiting or running beyond which 503
    # an over-limit body is read and discarded up to this many bytes, so that the client
    # gets the 413 instead of a connection reset
    max_drain_bytes: int = 64 * MiB
    # Host header names served (with or without a port); None serves any
    allowed_hosts: list[str] | None = field(default_factory=lambda: list(LOOPBACK_HOSTS))
    allow_ip_hosts: bool = False  # also any IP-literal Host (never a DNS-rebinding name)
    token: str | None = None  # required on /api/* when set
    cors_origins: list[str] = field(default_factory=list)


class FiniteJSONResponse(JSONResponse):
    """JSON answers with NaN and infinity sent as ``null`` (JSON has neither)."""

    def render(self, content: Any) -> bytes:
        return super().render(finite(content))


class ServerBusy(HTTPException):
    def __init__(self, detail: str):
        super().__init__(status_code=503, detail=detail, headers={"Retry-After": "5"})


@dataclass
class _PendingSearch:
    query: str
    k: int
    agg: str
    future: asyncio.Future
    loop: asyncio.AbstractEventLoop
    submitted: float
    timings: list | None
    mode: str = "hybrid"
    filters: tuple = ()  # sorted (name, value) pairs: hashable, so equal filters batch


def _settle(future: asyncio.Future, result: Any = None, error: BaseException | None = None):
    if future.done():  # the request was cancelled (client went away)
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


class ServiceWorker:
    """Runs the calls on the ``SearchService`` in dedicated threads.

    One thread answers searches, similar-by-id, duplicates, info and file look-ups; text
    queries that arrive while it is busy are encoded together in one batch (:meth:`search`).
    A second thread decodes and embeds uploaded examples (:meth:`call_upload`), so a long
    upload never holds the searches up. Both queues are bounded (``ServerBusy``, 503, when
    full) and every call has a time limit (503 when exceeded; the work itself cannot be
    interrupted and finishes in its thread, still counted in the queue).

    ``factory`` builds the service inside the search thread (so thread-bound resources
    belong to it); a ready ``service`` is used as is.
    """

    def __init__(
        self,
        service: Any = None,
        factory: Callable[[], Any] | None = None,
        settings: ServeSettings | None = None,
    ):
        if (service is None) == (factory is None):
            raise ValueError("give exactly one of service or factory")
        self.settings = settings or ServeSettings()
        self.max_batch = self.settings.max_batch
        self._pending: list[_PendingSearch] = []
        self._pending_lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="audioseek-search")
        self._uploads = ThreadPoolExecutor(max_workers=1, thread_name_prefix="audioseek-upload")
        self._queued = 0
        self._queued_uploads = 0
        if factory is not None:
            try:
                service = self._executor.submit(factory).result()
            except BaseException:
                self._shutdown()
                raise
        if not isinstance(service, SearchService):
            self._shutdown()
            raise TypeError(f"{type(service).__name__} does not implement SearchService")
        self.service = service
        self._owned = factory is not None

    def run(self, fn: Callable[[Any], Any]) -> Any:
        """Call ``fn(service)`` on the search thread and wait (synchronous callers)."""
        return self._executor.submit(fn, self.service).result()

    def _admit(self, uploads: bool = False) -> None:
        with self._pending_lock:
            if uploads:
                if self._queued_uploads >= self.settings.max_pending_uploads:
                    raise ServerBusy(
                        f"busy: {self._queued_uploads} uploaded examples are being processed; "
                        "try again shortly"
                    )
                self._queued_uploads += 1
            else:
                if self._queued >= self.settings.max_queue:
                    raise ServerBusy(
                        f"busy: {self._queued} requests are waiting for the index; "
                        "try again shortly"
                    )
                self._queued += 1

    def _release(self, uploads: bool = False) -> None:
        with self._pending_lock:
            if uploads:
                self._queued_uploads -= 1
            else:
                self._queued -= 1

    async def _submit(self, executor, fn, timeout: float, uploads: bool = False) -> Any:
        timings = _TIMINGS.get(None)
        submitted = time.perf_counter()
        service = self.service

        def timed():
            started = time.perf_counter()
            try:
                return fn(service)
            finally:
                if timings is not None:
                    timings.append((started - submitted, time.perf_counter() - started))

        self._admit(uploads)
        try:
            future = executor.submit(timed)
        except BaseException:
            self._release(uploads)
            raise
        future.add_done_callback(lambda _: self._release(uploads))
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), timeout)
        except TimeoutError:
            raise ServerBusy(
                f"the request took longer than {timeout:g} s and was given up"
            ) from None

    async def call(self, fn: Callable[[Any], Any]) -> Any:
        """Call ``fn(service)`` on the search thread without blocking the event loop; the
        time spent waiting for the thread and running is added to the request's timings."""
        return await self._submit(self._executor, fn, self.settings.request_timeout_s)

    async def call_upload(self, fn: Callable[[Any], Any]) -> Any:
        """Call ``fn(service)`` on the upload thread (decode + embed an uploaded example)."""
        return await self._submit(self._uploads, fn, self.settings.upload_timeout_s, uploads=True)

    async def search(
        self,
        query: str,
        k: int,
        agg: str,
        mode: str = "hybrid",
        filters: dict[str, Any] | None = None,
    ) -> list:
        """Hits of one text query. Queries waiting for the thread at the same time go to the
        model as one batch (grouped by ``k``, ``agg``, ``mode`` and filters): under
        concurrent load the cost of a request is a share of a batched text encoding, not a
        whole one."""
        loop = asyncio.get_running_loop()
        item = _PendingSearch(
            query,
            k,
            agg,
            loop.create_future(),
            loop,
            time.perf_counter(),
            _TIMINGS.get(None),
            mode,
            tuple(sorted((filters or {}).items())),
        )
        self._admit()
        with self._pending_lock:
            self._pending.append(item)
        try:
            self._executor.submit(self._drain_searches)
        except BaseException:
            self._release()
            raise
        try:
            return await asyncio.wait_for(item.future, self.settings.request_timeout_s)
        except TimeoutError:
            raise ServerBusy(
                f"the request took longer than {self.settings.request_timeout_s:g} s "
                "and was given up"
            ) from None

    def _drain_searches(self) -> None:
        """On the search thread: answer every query pending now (nothing if an earlier
        drain already took them)."""
        with self._pending_lock:
            pending, self._pending = self._pending, []
        groups: dict[tuple, list[_PendingSearch]] = {}
        for item in pending:
            groups.setdefault((item.k, item.agg, item.mode, item.filters), []).append(item)
        for (k, agg, mode, filters), items in groups.items():
            # only what differs from the defaults: a service without modes still answers
            options = {**({} if mode == "hybrid" else {"mode": mode}), **dict(filters)}
            for lo in range(0, len(items), self.max_batch):
                batch = items[lo : lo + self.max_batch]
                started = time.perf_counter()
                results, error = None, None
                try:
                    results = self.service.search([i.query for i in batch], k=k, agg=agg, **options)
                except Exception as e:  # delivered to every request of the batch
                    error = e
                ended = time.perf_counter()
                for n, item in enumerate(batch):
                    self._release()
                    if item.timings is not None:
                        item.timings.append((started - item.submitted, ended - started))
                    result = None if error is not None else results[n]
                    item.loop.call_soon_threadsafe(_settle, item.future, result, error)

    def _shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._uploads.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        """Stop the threads; a service the worker built itself is closed too."""
        if self._owned:
            self._executor.submit(self.service.close).result()
        self._shutdown()


# (queue wait, run) seconds of each call into the index made while handling the current request
_TIMINGS: contextvars.ContextVar[list[tuple[float, float]]] = contextvars.ContextVar("timings")


class ServerTimingMiddleware:
    """``Server-Timing: queue;dur=..., searcher;dur=...`` (ms) on responses that used the
    index: where a request's time went (waiting for the model thread vs running)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        timings: list[tuple[float, float]] = []
        token = _TIMINGS.set(timings)

        async def send_with_timing(message):
            if message["type"] == "http.response.start" and timings:
                queue = sum(t[0] for t in timings) * 1000
                run = sum(t[1] for t in timings) * 1000
                value = f"queue;dur={queue:.2f}, searcher;dur={run:.2f}"
                headers = [*message.get("headers", []), (b"server-timing", value.encode())]
                message = {**message, "headers": headers}
            await send(message)

        try:
            return await self.app(scope, receive, send_with_timing)
        finally:
            _TIMINGS.reset(token)


class PayloadTooLarge(HTTPException):
    def __init__(self, limit: int, what: str = "request body"):
        super().__init__(status_code=413, detail=f"{what} is larger than {limit} bytes")


async def _drain(receive, cap: int) -> None:
    """Read and discard the rest of a request body (at most ``cap`` bytes): a server that
    answers before the client has sent its body, then closes, makes the client see a
    connection reset instead of the answer."""
    seen = 0
    while seen <= cap:
        message = await receive()
        if message["type"] != "http.request":
            return
        seen += len(message.get("body", b""))
        if not message.get("more_body", False):
            return


class BodyLimitMiddleware:
    """Refuse request bodies over the limit with a 413: early from Content-Length, else
    while reading; the rest of the body is read and discarded first (up to
    ``max_drain_bytes``) so the client gets the answer."""

    def __init__(self, app, settings: ServeSettings):
        self.app = app
        self.settings = settings

    def _limit(self, path: str) -> int:
        if path.rstrip("/") == "/api/similar":
            return self.settings.max_upload_bytes
        return self.settings.max_body_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self._limit(scope["path"])
        what = "upload" if limit == self.settings.max_upload_bytes else "request body"
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                declared = -1
            if declared < 0:
                response = error_response(400, f"invalid Content-Length {length.decode()!r}")
                return await response(scope, receive, send)
            if declared > limit:
                if declared <= limit + self.settings.max_drain_bytes:
                    await _drain(receive, declared)
                response = error_response(413, f"{what} of {declared} bytes exceeds {limit} bytes")
                return await response(scope, receive, send)
        seen = 0

        async def counting_receive():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    if message.get("more_body", False):
                        await _drain(receive, self.settings.max_drain_bytes)
                    raise PayloadTooLarge(limit, what)
            return message

        return await self.app(scope, counting_receive, send)


def _host_name(header: str) -> str | None:
    """The name part of a Host header (``[::1]`` keeps its brackets), lower case, or None
    when the header is malformed."""
    header = header.strip().lower()
    if header.startswith("["):
        name, sep, rest = header.partition("]")
        name += sep
        if not sep or (rest and not (rest.startswith(":") and rest[1:].isdigit())):
            return None
    else:
        name, sep, port = header.partition(":")
        if sep and not port.isdigit():
            return None
    name = name.rstrip(".")
    return name or None


def _is_ip_literal(name: str) -> bool:
    try:
        ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return False
    return True


def normalise_host(name: str) -> str:
    """An allow-list entry as it appears in a Host header: ``::1`` -> ``[::1]``."""
    name = name.strip().lower().rstrip(".")
    if ":" in name and not name.startswith("["):
        name = f"[{name}]"
    return name


def valid_host_name(name: str) -> bool:
    """A DNS name (letters, digits, ``.``, ``-``, ``_``) or an IP address, as given to an
    allow-list."""
    host = normalise_host(name)
    if host.startswith("["):
        return _is_ip_literal(host)
    return bool(re.fullmatch(r"[a-z0-9_]([a-z0-9_.-]*[a-z0-9_])?", host))


class HostAllowListMiddleware:
    """400 for a Host header that is not on the allow-list (DNS rebinding: a web page on
    ``evil.example`` whose name now points at 127.0.0.1 reaches the server with
    ``Host: evil.example``, and is refused)."""

    def __init__(self, app, settings: ServeSettings):
        self.app = app
        self.settings = settings
        allowed = settings.allowed_hosts
        self.allowed = None if allowed is None else {normalise_host(h) for h in allowed}

    def allowed_host(self, header: str | None) -> bool:
        if self.allowed is None:
            return True
        name = _host_name(header or "")
        if name is None:
            return False
        return name in self.allowed or (self.settings.allow_ip_hosts and _is_ip_literal(name))

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        raw = dict(scope.get("headers") or []).get(b"host")
        header = raw.decode("latin-1") if raw is not None else None
        if not self.allowed_host(header):
            response = error_response(
                400,
                f"host {header!r} is not served here; the server answers only to "
                f"{', '.join(sorted(self.allowed))} unless told to allow another name",
            )
            return await response(scope, receive, send)
        return await self.app(scope, receive, send)


TOKEN_COOKIE = "audioseek_token"


class TokenAuthMiddleware:
    """When the server has a token, every ``/api/`` request carries it: as
    ``Authorization: Bearer <token>``, or as the HttpOnly ``SameSite=Strict`` cookie that
    ``GET /?token=<token>`` sets (then redirects to ``/``), the one sign-in step of the page.
    Compared in constant time. The page, its assets and ``/healthz`` stay open."""

    def __init__(self, app, token: str):
        self.app = app
        self.token = token.encode()

    def _valid(self, value: str | None) -> bool:
        return value is not None and hmac.compare_digest(value.encode(), self.token)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope["path"]
        if path == "/" and b"token=" in scope.get("query_string", b""):
            return await self._sign_in(scope, receive, send)
        if not (path.startswith("/api/") or path == "/api"):
            return await self.app(scope, receive, send)
        request = Request(scope)
        auth = request.headers.get("authorization", "")
        scheme, _, value = auth.partition(" ")
        if (scheme.lower() == "bearer" and self._valid(value.strip())) or self._valid(
            request.cookies.get(TOKEN_COOKIE)
        ):
            return await self.app(scope, receive, send)
        response = error_response(
            401,
            "this server needs its access token: send 'Authorization: Bearer <token>', or "
            "open the page with the link printed when the server started (/?token=...)",
            headers={"WWW-Authenticate": "Bearer"},
        )
        return await response(scope, receive, send)

    async def _sign_in(self, scope, receive, send):
        token = Request(scope).query_params.get("token")
        if not self._valid(token):
            response = error_response(401, "wrong access token in the link")
            return await response(scope, receive, send)
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(
            TOKEN_COOKIE, token, httponly=True, samesite="strict", path="/", max_age=30 * 86400
        )
        return await response(scope, receive, send)


class SecurityHeadersMiddleware:
    """CSP (no external assets), nosniff and no-referrer on every response."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        csp = DOCS_CSP if scope["path"].startswith(("/docs", "/redoc")) else PAGE_CSP

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or [])
                headers += [
                    (b"content-security-policy", csp.encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"no-referrer"),
                ]
                message = {**message, "headers": headers}
            await send(message)

        return await self.app(scope, receive, send_with_headers)


def status_for(exc: AudioseekError) -> int:
    if isinstance(exc, QueryError | ConfigError):
        return 400
    if isinstance(exc, AudioTooLongError):
        return 413
    if isinstance(exc, AudioDecodeError):
        return 422
    if isinstance(exc, ModelLoadError | SearchIndexError):
        return 503
    return 400


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = [str(x) for x in err.get("loc", ()) if x not in ("query", "body", "path")]
        name = ".".join(loc) or "request"
        if err.get("type") == "json_invalid":
            reason = (err.get("ctx") or {}).get("error", "")
            parts.append(
                f"request body is not valid JSON ({reason})"
                if reason
                else "request body is not valid JSON"
            )
        elif "input" in err and err.get("type") != "missing":
            parts.append(f"invalid {name} {err['input']!r}: {err.get('msg', '')}")
        else:
            parts.append(f"{name}: {err.get('msg', 'invalid')}")
    return _one_line("; ".join(parts) or "invalid request")


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):
        detail = exc.detail
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"no such endpoint {request.url.path!r}"
        elif exc.status_code == 405:
            detail = f"method {request.method} not allowed on {request.url.path!r}"
        return error_response(exc.status_code, _one_line(detail), headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError):
        return error_response(400, _validation_message(exc))

    @app.exception_handler(AudioseekError)
    async def audioseek_error(request: Request, exc: AudioseekError):
        status = status_for(exc)
        if status >= 500:
            log.error("%s %s: %s", request.method, request.url.path, exc)
        return error_response(status, _one_line(str(exc)))

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception):
        log.exception("%s %s failed", request.method, request.url.path)
        return JSONResponse({"error": "internal server error (see the server log)"}, 500)


def _install_docs(app: FastAPI) -> None:
    """Swagger UI at /docs from the local ``swagger-ui-bundle`` package, never a CDN."""
    from fastapi.openapi.docs import get_swagger_ui_html

    try:
        import swagger_ui_bundle

        assets = Path(swagger_ui_bundle.swagger_ui_path)
    except ImportError:
        assets = None

    if assets is not None and (assets / "swagger-ui-bundle.js").is_file():
        app.mount("/docs-assets", StaticFiles(directory=assets), name="docs-assets")

        @app.get("/docs", include_in_schema=False)
        async def docs() -> HTMLResponse:
            return get_swagger_ui_html(
                openapi_url=app.openapi_url,
                title="audioseek API",
                swagger_js_url="/docs-assets/swagger-ui-bundle.js",
                swagger_css_url="/docs-assets/swagger-ui.css",
                swagger_favicon_url="/docs-assets/favicon-32x32.png",
            )

    else:

        @app.get("/docs", include_in_schema=False)
        async def docs_fallback() -> HTMLResponse:
            return HTMLResponse(
                "<!doctype html><title>audioseek API</title><p>Interactive docs need the "
                "<code>swagger-ui-bundle</code> package. The OpenAPI schema is at "
                '<a href="/openapi.json">/openapi.json</a>.</p>'
            )


def create_app(
    service: Any = None,
    *,
    worker: ServiceWorker | None = None,
    settings: ServeSettings | None = None,
) -> FastAPI:
    """The HTTP app around a ``SearchService`` (``audioseek.Index``, a test fake) or a
    ``ServiceWorker`` that owns one."""
    if (service is None) == (worker is None):
        raise ValueError("create_app needs exactly one of service or worker")
    settings = settings or (worker.settings if worker is not None else ServeSettings())
    worker = worker or ServiceWorker(service=service, settings=settings)
    worker.settings = settings

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        watcher = getattr(app.state, "watcher", None)
        if watcher is not None:  # no re-index run on an index about to be closed
            await asyncio.to_thread(watcher.stop)
        worker.close()

    from audioseek import __version__

    app = FastAPI(
        title="audioseek",
        version=__version__,
        description="Find sounds and music by describing them in plain language.",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
        default_response_class=FiniteJSONResponse,
    )
    app.state.worker = worker
    app.state.settings = settings
    _install_error_handlers(app)
    app.include_router(router)
    _install_docs(app)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html")

    # the last added runs first: security headers on every answer, then the Host check,
    # CORS (its preflights carry no token), the token, the body limit
    app.add_middleware(ServerTimingMiddleware)
    app.add_middleware(BodyLimitMiddleware, settings=settings)
    if settings.token:
        app.add_middleware(TokenAuthMiddleware, token=settings.token)
    if settings.cors_origins:
        from starlette.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "HEAD", "POST"],
            allow_headers=["Authorization", "Content-Type", "Range"],
            expose_headers=["Content-Range", "Content-Length", "Accept-Ranges"],
        )
    app.add_middleware(HostAllowListMiddleware, settings=settings)
    app.add_middleware(SecurityHeadersMiddleware)
    return app


# ---- runner -------------------------------------------------------------------------------


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket; a clear ConfigError when the address is unusable or taken."""
    if not 0 <= port <= 65535:
        raise ConfigError(f"invalid port {port!r}: expected 0-65535")
    try:
        family, kind, proto, _, addr = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as e:
        raise ConfigError(f"cannot resolve host {host!r}: {e.strerror}") from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(addr)
        sock.listen(128)
    except OSError as e:
        sock.close()
        raise ConfigError(f"cannot listen on {host!r} port {port}: {e.strerror}") from None
    sock.set_inheritable(True)
    return sock


def is_loopback(sock: socket.socket) -> bool:
    host = sock.getsockname()[0]
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


THREADS_ENV = "AUDIOSEEK_SERVE_THREADS"


def serve_threads(threads: int | None = None) -> int:
    """Torch intra-op threads for the server: ``threads`` if given, else
    ``$AUDIOSEEK_SERVE_THREADS``, else 1.

    One query is a tiny computation: on a busy 2-core machine, 2 intra-op threads made a
    MiniLM query encoding 15-40x slower than 1 thread (1.5 s vs 40 ms, measured with
    ``benchmarks/bench_serve.py``'s in-process reference), because the threads wait on each
    other; requests are serialised anyway. Raise it on an idle many-core machine.
    """
    raw, source = threads, "threads"
    if raw is None:
        raw, source = os.environ.get(THREADS_ENV, "1"), THREADS_ENV
    try:
        n = int(raw) if not isinstance(raw, bool) else 0
    except (TypeError, ValueError):
        n = 0
    if n < 1:
        raise ConfigError(f"invalid {source} {raw!r}: expected a whole number >= 1")
    return n


def open_service(db, model=None, device="auto", threads: int = 1, precision: str | None = None):
    """The index's search service with its model loaded now (once per process), not on the
    first request; a missing index or model fails here, before the server starts. Runs on
    the search thread, which also gets the torch thread setting."""
    import torch

    from audioseek.index.service import Index

    torch.set_num_threads(threads)
    index = Index(db, model=model, device=device, precision=precision)
    try:
        index.info()  # a missing or damaged index fails here
        _ = index.model
    except BaseException:
        index.close()
        raise
    return index


def run_server(
    db,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    model=None,
    device: str = "auto",
    threads: int | None = None,
    max_upload_mb: float | None = None,
    max_upload_seconds: float | None = None,
    allow_hosts: list[str] | tuple[str, ...] = (),
    cors_origins: list[str] | tuple[str, ...] = (),
    token: str | None = None,
    auth: bool = True,
    watch_paths: list[str] | tuple[str, ...] = (),
    watch_debounce: float = 2.0,
    precision: str | None = None,
) -> None:
    """Serve the index at ``db`` over HTTP until interrupted (uvicorn on one socket).

    On loopback, only the loopback host names (and ``allow_hosts``) are answered, and a
    ``token`` is optional. Beyond loopback a token is required unless ``auth`` is False:
    ``token``, or one generated here and printed once (in the sign-in link); IP-literal
    Host headers and this machine's names are answered too.

    With ``watch_paths``, a watcher (:mod:`audioseek.index.watch`) keeps the index current
    beside the server: it first catches up (in the background, the server answers
    meanwhile), then re-indexes after each burst of changes; one line per run on stderr.
    """
    import uvicorn
    from rich.console import Console

    console = Console(stderr=True)
    settings = ServeSettings()
    if max_upload_mb is not None:
        if not max_upload_mb > 0:
            raise ConfigError(f"invalid upload limit {max_upload_mb!r} MB: must be > 0")
        settings.max_upload_bytes = int(max_upload_mb * MiB)
    if max_upload_seconds is not None:
        if not 0 < max_upload_seconds < float("inf"):
            raise ConfigError(
                f"invalid upload duration limit {max_upload_seconds!r} s: must be > 0"
            )
        settings.max_upload_seconds = float(max_upload_seconds)
    if token is not None and not token.strip():
        raise ConfigError("invalid token '': must not be empty")
    for name in allow_hosts:
        if not valid_host_name(name):
            raise ConfigError(f"invalid host name {name!r} to allow")
    n_threads = serve_threads(threads)
    sock = bind_socket(host, port)
    try:
        bound_host, bound_port = sock.getsockname()[:2]
        loopback = is_loopback(sock)
        settings.allowed_hosts = [*LOOPBACK_HOSTS, *allow_hosts]
        settings.cors_origins = list(cors_origins)
        generated = False
        if loopback:
            settings.token = token
        else:
            settings.allow_ip_hosts = True
            settings.allowed_hosts += [socket.gethostname(), socket.getfqdn()]
            if auth:
                generated = token is None
                settings.token = token or secrets.token_urlsafe(24)
            else:
                log.warning(
                    "serving on %r, not loopback, without a token: anyone who can reach this "
                    "machine can search the library and download its audio files",
                    bound_host,
                )
        with console.status(f"loading the index {str(db)!r} and its model"):
            worker = ServiceWorker(
                factory=lambda: open_service(db, model, device, n_threads, precision),
                settings=settings,
            )
        app = create_app(worker=worker, settings=settings)
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        if shown in ("0.0.0.0", "[::]"):
            shown = socket.gethostname()
        url = f"http://{shown}:{bound_port}/"
        if settings.token and generated:
            console.print(
                f"audioseek: {url}?token={settings.token}  (sign-in link; API: "
                "'Authorization: Bearer <token>')  Ctrl+C stops"
            )
        elif settings.token:
            console.print(
                f"audioseek: {url}  (needs the access token: open {url}?token=...)  Ctrl+C stops"
            )
        else:
            console.print(f"audioseek: {url}  (API docs: /docs)  Ctrl+C stops")
        if watch_paths:  # stopped by the app's shutdown, before the index is closed
            app.state.watcher = start_watcher(worker, watch_paths, watch_debounce, console)
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
        try:
            uvicorn.Server(config).run(sockets=[sock])
        finally:
            if getattr(app.state, "watcher", None) is not None:
                app.state.watcher.stop()
    finally:
        sock.close()


class BackgroundWatcher:
    """A watcher started on its own thread (its first, catch-up run can take long)."""

    def __init__(self, index, paths, debounce: float, on_run, on_error):
        self._stopped = threading.Event()
        self._watcher = None
        self._lock = threading.Lock()
        self.error: BaseException | None = None

        def start():
            from audioseek.index.watch import watch

            try:
                w = watch(index, paths, debounce=debounce, on_run=on_run)
            except Exception as e:  # the server goes on without watching
                self.error = e
                on_error(e)
                return
            with self._lock:
                self._watcher = w
                if self._stopped.is_set():
                    w.stop()

        self.thread = threading.Thread(target=start, name="audioseek-watch-start", daemon=True)
        self.thread.start()

    def stop(self, wait: float = 5.0) -> None:
        """Stop watching; a catch-up run still going is given ``wait`` seconds (it is
        crash-safe: cut short, the next start completes it)."""
        with self._lock:
            self._stopped.set()
            watcher = self._watcher
        if watcher is not None:
            watcher.stop()
        self.thread.join(timeout=wait)


def start_watcher(worker: ServiceWorker, paths, debounce: float, console) -> BackgroundWatcher:
    """Watch ``paths`` for the served index (``worker.service``, an ``audioseek.Index``): its
    runs write through their own connection, searches see each committed change."""

    def line(summary) -> None:
        s = summary
        console.print(
            f"audioseek: re-indexed {s.files_scanned} files: {s.embedded} embedded, "
            f"{s.reused} moved/copied, {s.deleted} removed in {s.elapsed_s:.1f} s",
            highlight=False,
        )

    def failed(e: BaseException) -> None:
        log.error("watching %s failed: %s", ", ".join(map(str, paths)), e)

    console.print(f"audioseek: watching {', '.join(map(str, paths))} for changes", highlight=False)
    return BackgroundWatcher(worker.service, list(paths), debounce, line, failed)

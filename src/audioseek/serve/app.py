"""``audioseek serve``: the FastAPI app (``create_app``) and its uvicorn runner (``run_server``).

The app takes a ready ``Searcher`` (or anything with its interface) by injection; the
routes live in :mod:`audioseek.serve.api`, the page in ``serve/static``. One dedicated
thread owns the searcher: the model is loaded once, model calls never run concurrently,
and a store bound to the thread that opened it keeps working.
"""

from __future__ import annotations

import asyncio
import contextvars
import ipaddress
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from audioseek.errors import (
    AudioDecodeError,
    AudioseekError,
    ConfigError,
    ModelLoadError,
    QueryError,
    SearchIndexError,
)
from audioseek.serve.api import error_response, router

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


@dataclass
class ServeSettings:
    max_upload_bytes: int = 50 * MiB  # POST /api/similar (multipart upload)
    max_body_bytes: int = 1 * MiB  # every other request body
    max_query_chars: int = 1000
    max_k: int = 1000
    max_batch: int = 64


@dataclass
class _PendingSearch:
    query: str
    k: int
    agg: str
    future: asyncio.Future
    loop: asyncio.AbstractEventLoop
    submitted: float
    timings: list | None


def _settle(future: asyncio.Future, result: Any = None, error: BaseException | None = None):
    if future.done():  # the request was cancelled (client went away)
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


class SearcherWorker:
    """Runs every call on the searcher in one dedicated thread (the lock around the model).

    ``factory`` builds the searcher inside that thread (so thread-bound resources such as a
    sqlite connection belong to it); a ready ``searcher`` is used as is. Text queries that
    arrive while the thread is busy are encoded together in one batch (:meth:`search`).
    """

    def __init__(
        self,
        searcher: Any = None,
        factory: Callable[[], Any] | None = None,
        max_batch: int = 64,
    ):
        if (searcher is None) == (factory is None):
            raise ValueError("give exactly one of searcher or factory")
        self.max_batch = max_batch
        self._pending: list[_PendingSearch] = []
        self._pending_lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="audioseek-search")
        if factory is not None:
            try:
                searcher = self._executor.submit(factory).result()
            except BaseException:
                self._executor.shutdown(wait=False)
                raise
        self.searcher = searcher
        self._owned = factory is not None

    def run(self, fn: Callable[[Any], Any]) -> Any:
        """Call ``fn(searcher)`` on the searcher thread and wait (synchronous callers)."""
        return self._executor.submit(fn, self.searcher).result()

    async def call(self, fn: Callable[[Any], Any]) -> Any:
        """Call ``fn(searcher)`` on the searcher thread without blocking the event loop; the
        time spent waiting for the thread and running is added to the request's timings."""
        loop = asyncio.get_running_loop()
        timings = _TIMINGS.get(None)
        submitted = time.perf_counter()

        def timed():
            started = time.perf_counter()
            try:
                return fn(self.searcher)
            finally:
                if timings is not None:
                    timings.append((started - submitted, time.perf_counter() - started))

        return await loop.run_in_executor(self._executor, timed)

    async def search(self, query: str, k: int, agg: str) -> list:
        """Hits of one text query. Queries waiting for the thread at the same time go to the
        model as one batch (grouped by ``k`` and ``agg``): under concurrent load the cost
        of a request is a share of a batched text encoding, not a whole one."""
        loop = asyncio.get_running_loop()
        item = _PendingSearch(
            query, k, agg, loop.create_future(), loop, time.perf_counter(), _TIMINGS.get(None)
        )
        with self._pending_lock:
            self._pending.append(item)
        self._executor.submit(self._drain_searches)
        return await item.future

    def _drain_searches(self) -> None:
        """On the searcher thread: answer every query pending now (nothing if an earlier
        drain already took them)."""
        with self._pending_lock:
            pending, self._pending = self._pending, []
        groups: dict[tuple[int, str], list[_PendingSearch]] = {}
        for item in pending:
            groups.setdefault((item.k, item.agg), []).append(item)
        for (k, agg), items in groups.items():
            for lo in range(0, len(items), self.max_batch):
                batch = items[lo : lo + self.max_batch]
                started = time.perf_counter()
                results, error = None, None
                try:
                    results = self.searcher.search([i.query for i in batch], k=k, agg=agg)
                except Exception as e:  # delivered to every request of the batch
                    error = e
                ended = time.perf_counter()
                for n, item in enumerate(batch):
                    if item.timings is not None:
                        item.timings.append((started - item.submitted, ended - started))
                    result = None if error is not None else results[n]
                    item.loop.call_soon_threadsafe(_settle, item.future, result, error)

    def close(self) -> None:
        """Stop the thread; a searcher the worker built itself is closed too."""
        close = getattr(self.searcher, "close", None)
        if self._owned and callable(close):
            self._executor.submit(close).result()
        self._executor.shutdown(wait=False, cancel_futures=True)


# (queue wait, run) seconds of each searcher call made while handling the current request
_TIMINGS: contextvars.ContextVar[list[tuple[float, float]]] = contextvars.ContextVar("timings")


class ServerTimingMiddleware:
    """``Server-Timing: queue;dur=..., searcher;dur=...`` (ms) on responses that used the
    searcher: where a request's time went (waiting for the model thread vs running)."""

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


class BodyLimitMiddleware:
    """Refuse request bodies over the limit: early from Content-Length, else while reading."""

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
                what = "upload" if limit == self.settings.max_upload_bytes else "request body"
                response = error_response(413, f"{what} of {declared} bytes exceeds {limit} bytes")
                return await response(scope, receive, send)
        seen = 0

        async def counting_receive():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise PayloadTooLarge(limit)
            return message

        return await self.app(scope, counting_receive, send)


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
    searcher: Any = None,
    *,
    worker: SearcherWorker | None = None,
    settings: ServeSettings | None = None,
) -> FastAPI:
    """The HTTP app around a ``Searcher`` (or a ``SearcherWorker`` that owns one)."""
    if (searcher is None) == (worker is None):
        raise ValueError("create_app needs exactly one of searcher or worker")
    worker = worker or SearcherWorker(searcher=searcher)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        worker.close()

    from audioseek import __version__

    app = FastAPI(
        title="audioseek",
        version=__version__,
        description="Find sounds and music by describing them in plain language.",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.worker = worker
    app.state.settings = settings or ServeSettings()
    _install_error_handlers(app)
    app.include_router(router)
    _install_docs(app)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html")

    app.add_middleware(BodyLimitMiddleware, settings=app.state.settings)
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(ServerTimingMiddleware)
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


def open_searcher(searcher_cls, db, model=None, device="auto", threads: int = 1):
    """The index's searcher with its model loaded now (once per process), not on the first
    request; a missing index or model fails here, before the server starts. Runs on the
    searcher thread, which also gets the torch thread setting."""
    import torch

    torch.set_num_threads(threads)
    searcher = searcher_cls(db, model=model, device=device)
    _ = searcher.model
    return searcher


def run_server(
    db,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    model=None,
    device: str = "auto",
    threads: int | None = None,
    max_upload_mb: float | None = None,
) -> None:
    """Serve the index at ``db`` over HTTP until interrupted (uvicorn on one socket)."""
    import uvicorn
    from rich.console import Console

    from audioseek.index.search import Searcher

    console = Console(stderr=True)
    settings = ServeSettings()
    if max_upload_mb is not None:
        if not max_upload_mb > 0:
            raise ConfigError(f"invalid upload limit {max_upload_mb!r} MB: must be > 0")
        settings.max_upload_bytes = int(max_upload_mb * MiB)
    n_threads = serve_threads(threads)
    sock = bind_socket(host, port)
    try:
        bound_host, bound_port = sock.getsockname()[:2]
        if not is_loopback(sock):
            message = (
                f"serving on {bound_host!r}, not loopback: anyone who can reach this machine "
                "can search the library and download its audio files (there is no login)"
            )
            log.warning(message)
            console.print(f"[bold yellow]WARNING[/]: {message}")
        with console.status(f"loading the index {str(db)!r} and its model"):
            worker = SearcherWorker(
                factory=lambda: open_searcher(Searcher, db, model, device, n_threads),
                max_batch=settings.max_batch,
            )
        app = create_app(worker=worker, settings=settings)
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        console.print(f"audioseek: http://{shown}:{bound_port}/  (API docs: /docs)  Ctrl+C stops")
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()

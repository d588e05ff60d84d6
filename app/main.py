"""The FastAPI application: ``create_app`` is the factory uvicorn calls
(``uvicorn --factory app.main:create_app``); importing this module does nothing else."""

from __future__ import annotations

import gc
import json
import logging
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.routing import Match, Mount

from . import __version__
from .api.config import Settings
from .api.errors import ErrorBody, ServiceError, from_engine, malformed, one_error_schema
from .api.models import Health
from .api.redis_store import RedisStore
from .api.rooms import install as install_rooms
from .api.routes import QUOTE, router
from .api.schemas import limit_schema
from .api.sessions import SessionManager
from .api.store import SessionStore, SqliteStore
from .apidocs import add_docs
from .engine import EngineError, available_designs
from .pages import STATIC
from .pages import router as pages_router

log = logging.getLogger("rmaplab")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: pages may be framed anywhere (the embed mode is for slides and course pages, including a
#: deck opened from disk: `*` does not match file:); scripts, styles and connections come from
#: this origin only, and no inline script runs.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors * file: http: https:"
)


class Guard:
    """ASGI middleware: the request body limit (413, declared or chunked), OPTIONS with every
    method of the path, and the security headers.

    The body is read here, up to the limit, before the app sees the request: an oversized
    body is a 413 whether it declared its length or came in chunks.
    """

    def __init__(self, app: ASGIApp, max_body: int) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS":
            await self._options(scope, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body:
            await self._too_large(send)
            return
        chunks: list[bytes] = []
        seen = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away before its body was complete
            chunks.append(message.get("body", b""))
            seen += len(chunks[-1])
            if seen > self.max_body:
                await self._too_large(send)
                return
            if not message.get("more_body", False):
                break
        buffered: Message | None = {
            "type": "http.request",
            "body": b"".join(chunks),
            "more_body": False,
        }

        async def replay() -> Message:
            nonlocal buffered
            if buffered is not None:
                message, buffered = buffered, None
                return message
            return await receive()

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"no-referrer"),
                ]
                content_type = dict(headers).get(b"content-type", b"")
                own = b"content-security-policy" in dict(headers)
                if content_type.startswith(b"text/html") and not own:
                    headers.append((b"content-security-policy", CSP.encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, replay, with_headers)

    async def _options(self, scope: Scope, send: Send) -> None:
        """204 with ``Allow``: every method some route serves at this path (404 if none)."""
        routes = scope["app"].router.routes
        methods = {
            m
            for m in ("GET", "POST", "PUT", "PATCH", "DELETE")
            if any(
                r.matches({**scope, "method": m})[0] == Match.FULL
                for r in routes
                if m == "GET" or not isinstance(r, Mount)
            )
        }
        if "GET" in methods:
            methods.add("HEAD")
        methods.add("OPTIONS")
        if methods == {"OPTIONS"}:
            await _plain(send, 404, b'{"detail":"Not Found"}')
            return
        allow = ", ".join(sorted(methods)).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 204,
                "headers": [(b"allow", allow), (b"x-content-type-options", b"nosniff")],
            }
        )
        await send({"type": "http.response.body", "body": b""})

    async def _too_large(self, send: Send) -> None:
        await _plain(
            send,
            413,
            b'{"detail":"the request body is larger than '
            + str(self.max_body).encode()
            + b' bytes (RMAPLAB_MAX_BODY)"}',
        )


async def _plain(send: Send, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"x-content-type-options", b"nosniff"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _quoted(value: Any) -> Any:
    """A bad input as an error may quote it: itself if short JSON, else the start of its
    text."""
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError):  # bytes, a NaN, ...
        text = repr(value)
    else:
        if len(text) <= QUOTE:
            return value
    return text[:QUOTE] + ("…" if len(text) > QUOTE else "")


def _open_store(settings: Settings) -> SessionStore:
    """The store RMAPLAB_STORE names (Redis, connected on first use: a Redis that is down
    now is a 503 until it is back), else SQLite; a SQLite file that cannot be opened stops
    the start in one line."""
    if settings.store:
        return RedisStore(settings.store)
    try:
        return SqliteStore(settings.db)
    except sqlite3.Error as exc:
        raise SystemExit(
            f"rmaplab: cannot open the session store RMAPLAB_DB={settings.db!r}: {exc}"
        ) from None


def create_app(settings: Settings | None = None, store: SessionStore | None = None) -> FastAPI:
    """The service. ``settings`` default to the environment, ``store`` to the one
    RMAPLAB_STORE names, else SQLite at RMAPLAB_DB."""
    settings = settings or Settings.from_env()
    store = store or _open_store(settings)
    sessions = SessionManager(store, settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        sessions.pool.start()
        # What exists once the app is up (the modules, FastAPI's routes and models: some
        # 80,000 objects) lives as long as the process: kept out of the collector's full
        # passes, each of which otherwise stalls the event loop for 50-80 ms on the
        # benchmark machine (docs/benchmarks.md, the workshop)
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            gc.unfreeze()
            sessions.pool.stop()

    app = FastAPI(
        title="rmaplab",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        description="A laboratory for Linux anonymous-page reverse mapping: "
        "sessions with time travel, scripted runs and comparisons "
        "of five rmap designs.",
    )
    app.state.settings = settings
    app.state.sessions = sessions

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = limit_schema(
                one_error_schema(
                    get_openapi(
                        title=app.title,
                        version=app.version,
                        description=app.description,
                        routes=app.routes,
                    )
                ),
                settings.max_pages,
                settings.max_run_ops,
                min(settings.max_steps, settings.max_run_ops),
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    app.include_router(router)
    app.include_router(pages_router)
    add_docs(app)
    install_rooms(app)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get(
        "/healthz",
        summary="Liveness: the service, its designs and its store",
        response_model=Health,
        responses={
            503: {
                "model": ErrorBody,
                "description": "the session store cannot be written or reached (named)",
            }
        },
    )
    async def healthz() -> dict[str, Any]:
        await sessions.healthy()
        return {"status": "ok", "designs": list(available_designs())}

    # every error, in one shape (app/api/errors.py: ErrorBody)
    @app.exception_handler(ServiceError)
    async def service_error(request: Request, exc: ServiceError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(EngineError)
    async def engine_error(request: Request, exc: EngineError) -> JSONResponse:
        return await service_error(request, from_engine(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = []
        for error in exc.errors():
            item = {
                "loc": list(error.get("loc", ())),
                "msg": str(error.get("msg", ""))[:QUOTE],
                "type": error.get("type", ""),
            }
            if "input" in error:
                item["input"] = _quoted(error["input"])
            errors.append(item)
        return await service_error(request, malformed(errors))

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        log.exception("internal error on %s %s", request.method, request.url.path)
        return JSONResponse({"detail": "internal error"}, status_code=500)

    app.add_middleware(Guard, max_body=settings.max_body)
    return app

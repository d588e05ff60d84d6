"""The FastAPI application: ``app = create_app()`` for uvicorn."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from . import __version__
from .api.config import Settings
from .api.rooms import install as install_rooms
from .api.routes import router
from .api.sessions import ServiceError, SessionManager
from .api.store import SessionStore, SqliteStore
from .engine import DesignUnavailable, EngineError, OpError, available_designs
from .pages import STATIC
from .pages import router as pages_router

log = logging.getLogger("rmaplab")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: pages may be framed anywhere (the embed mode is for slides and course pages); scripts,
#: styles and connections come from this origin only, and no inline script runs.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
       "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
       "form-action 'self'; frame-ancestors *")


class _TooLarge(Exception):
    pass


class Guard:
    """ASGI middleware: the request body limit (413) and the security headers."""

    def __init__(self, app: ASGIApp, max_body: int) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body:
            await self._too_large(send)
            return
        seen = 0
        started = False

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body:
                    raise _TooLarge
            return message

        async def with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = list(message.get("headers", []))
                headers += [(b"x-content-type-options", b"nosniff"),
                            (b"referrer-policy", b"no-referrer")]
                content_type = dict(headers).get(b"content-type", b"")
                if content_type.startswith(b"text/html"):
                    headers.append((b"content-security-policy", CSP.encode()))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, counted, with_headers)
        except _TooLarge:
            if not started:
                await self._too_large(send)

    async def _too_large(self, send: Send) -> None:
        body = (b'{"detail":"the request body is larger than ' +
                str(self.max_body).encode() + b' bytes (RMAPLAB_MAX_BODY)"}')
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode()),
                                (b"x-content-type-options", b"nosniff")]})
        await send({"type": "http.response.body", "body": body})


def create_app(settings: Settings | None = None, store: SessionStore | None = None) -> FastAPI:
    """The service. ``settings`` default to the environment, ``store`` to SQLite."""
    settings = settings or Settings.from_env()
    store = store or SqliteStore(settings.db)
    app = FastAPI(title="rmaplab", version=__version__,
                  description="A laboratory for Linux anonymous-page reverse mapping: "
                              "sessions with time travel, scripted runs and comparisons "
                              "of five rmap designs.")
    app.state.settings = settings
    app.state.sessions = SessionManager(store, settings)
    app.include_router(router)
    app.include_router(pages_router)
    install_rooms(app)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/healthz", summary="Liveness: the service and its designs")
    async def healthz() -> dict[str, Any]:
        return {"status": "ok", "designs": list(available_designs())}

    @app.exception_handler(ServiceError)
    async def service_error(request: Request, exc: ServiceError) -> JSONResponse:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status)

    @app.exception_handler(EngineError)
    async def engine_error(request: Request, exc: EngineError) -> JSONResponse:
        status = 409 if isinstance(exc, OpError) else 422
        if isinstance(exc, DesignUnavailable):
            status = 422
        return JSONResponse({"detail": str(exc)}, status_code=status)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        log.exception("internal error on %s %s", request.method, request.url.path)
        return JSONResponse({"detail": "internal error"}, status_code=500)

    app.add_middleware(Guard, max_body=settings.max_body)  # type: ignore[arg-type]
    return app


app = create_app()

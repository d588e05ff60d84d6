"""``/docs`` (Swagger UI) and ``/redoc`` (ReDoc), offline and under the CSP.

The viewers' scripts and styles come from the ``fastapi-standalone-docs`` package (no
CDN: a workshop's LAN may reach nothing else); each page starts its viewer from a script
of this origin, never an inline one. ReDoc writes its styles into ``<style>`` elements, so
its page alone allows inline styles; scripts stay this origin's only.
"""

from __future__ import annotations

from pathlib import Path

import fastapi_standalone_docs
from fastapi import APIRouter, FastAPI
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

ASSETS = Path(fastapi_standalone_docs.__path__[0]) / "static"
PREFIX = "/docs-assets"
REDOC_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; worker-src 'self' blob:; connect-src 'self'; "
    "font-src 'self' data:; object-src 'none'; base-uri 'none'"
)

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>rmaplab API — {title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">{head}</head>
<body>{body}<script src="{prefix}/{script}"></script>
<script src="{prefix}/start-{name}.js"></script></body></html>
"""
_START = {
    "swagger": "window.ui = SwaggerUIBundle({url: '/openapi.json', dom_id: '#swagger-ui', "
    "deepLinking: true});\n",
    "redoc": "Redoc.init('/openapi.json', {}, document.getElementById('redoc'));\n",
}

router = APIRouter(include_in_schema=False)


@router.get("/docs")
async def swagger() -> HTMLResponse:
    return HTMLResponse(
        _PAGE.format(
            title="Swagger UI",
            prefix=PREFIX,
            name="swagger",
            script="swagger/swagger-ui-bundle.js",
            head=f'<link rel="stylesheet" href="{PREFIX}/swagger/swagger-ui.css">',
            body='<div id="swagger-ui"></div>',
        )
    )


@router.get("/redoc")
async def redoc() -> HTMLResponse:
    return HTMLResponse(
        _PAGE.format(
            title="ReDoc",
            prefix=PREFIX,
            name="redoc",
            script="redoc/redoc.standalone.js",
            head="",
            body='<div id="redoc"></div>',
        ),
        headers={"content-security-policy": REDOC_CSP},
    )


@router.get(PREFIX + "/start-{name}.js")
async def start(name: str) -> Response:
    if name not in _START:
        return Response(status_code=404)
    return Response(_START[name], media_type="text/javascript")


def add_docs(app: FastAPI) -> None:
    """Serve the two viewers (create the app with ``docs_url=None, redoc_url=None``)."""
    app.include_router(router)
    app.mount(PREFIX, StaticFiles(directory=ASSETS), name="docs-assets")

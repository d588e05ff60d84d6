"""A room's pages: the follower's and the instructor's (templates/room.html), and the QR
code of the join link, drawn here as SVG (segno; no network)."""

from __future__ import annotations

import io
import json
import os
from typing import Annotated

import segno
from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, Response

from .api.errors import ServiceError
from .pages import catalogue, templates

router = APIRouter(include_in_schema=False)
Code = Annotated[str, Path(max_length=10)]


def join_url(request: Request, code: str) -> str:
    """The link a follower opens: under RMAPLAB_PUBLIC_URL when set (the address the
    room can reach), else under the address the instructor's browser used."""
    base = os.environ.get("RMAPLAB_PUBLIC_URL") or str(request.base_url)
    return f"{base.rstrip('/')}/r/{code}"


@router.get("/r/{code}", response_class=HTMLResponse)
async def room_page(
    code: Code, request: Request, key: Annotated[str | None, Query(max_length=100)] = None
) -> Response:
    """Follow a room; with ``?key=`` (the instructor's), drive it."""
    service = request.app.state.rooms
    try:
        room = await service.room(code)
        if key is not None:
            service.instructor(room, key)
    except ServiceError as exc:
        return templates.TemplateResponse(
            request,
            "room.html",
            {"problem": exc.detail, "version": request.app.version},
            status_code=exc.status,
        )
    initial = {
        "code": room.code,
        "instructor": key is not None,
        "join": join_url(request, room.code),
        "designs": catalogue()["designs"],
    }
    return templates.TemplateResponse(
        request,
        "room.html",
        {
            "initial": json.dumps(initial).replace("</", "<\\/"),
            "room": room.code,
            "instructor": key is not None,
            "version": request.app.version,
        },
    )


@router.get("/r/{code}/qr.svg")
async def room_qr(code: Code, request: Request) -> Response:
    """The join link as a QR code (SVG, scales to any size)."""
    room = await request.app.state.rooms.room(code)
    out = io.BytesIO()
    segno.make(join_url(request, room.code), error="m").save(
        out,
        kind="svg",
        scale=1,
        border=2,
        omitsize=True,
        xmldecl=False,
        title=f"Join room {room.code}",
    )
    return Response(
        out.getvalue(), media_type="image/svg+xml", headers={"Cache-Control": "no-store"}
    )

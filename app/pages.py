"""The browser laboratory's pages: Jinja2 templates and the static files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from .engine import design_catalogue
from .scenarios import summaries

ROOT = Path(__file__).resolve().parent
STATIC = ROOT / "static"
#: templates/ of a source checkout, or app/templates of an installed wheel (pyproject.toml
#: force-includes it there, as it does scenarios/)
TEMPLATES = next(
    (p for p in (ROOT.parent / "templates", ROOT / "templates") if p.is_dir()),
    ROOT.parent / "templates",
)

router = APIRouter()
templates = Jinja2Templates(directory=str(TEMPLATES))


def catalogue() -> dict[str, Any]:
    """What the page needs before its first request: designs and scenarios."""
    designs = [
        {
            k: d[k]
            for k in (
                "name",
                "title",
                "era",
                "source",
                "variants",
                "description",
                "options",
                "vma_anon_vma",
            )
        }
        for d in design_catalogue()
        if d["available"]
    ]
    return {"designs": designs, "scenarios": summaries()}


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def index(request: Request) -> HTMLResponse:
    """The laboratory. Its state lives in the URL: scenario or session, designs, step."""
    data = json.dumps(catalogue()).replace("</", "<\\/")
    return templates.TemplateResponse(
        request, "index.html", {"initial": data, "version": request.app.version}
    )

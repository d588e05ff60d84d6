"""The registry of rmap designs: the only place that maps a design name to its strategy."""

from __future__ import annotations

from functools import cache
from typing import Any

from ..errors import DesignUnavailable
from .anon_vma_267 import AnonVma267
from .anon_vma_chain import AnonVmaChain
from .anon_vma_rfc2 import AnonVmaRfc2
from .anonmm import Anonmm
from .base import Design, Probe, Violation
from .pte_chain import PteChain

#: Every design name of the project, fixed for the scenario format, in historical order.
DESIGN_NAMES = ("pte_chain", "anonmm", "anon_vma_rfc2", "anon_vma_267", "anon_vma_chain")

_BUILT: dict[str, type[Design]] = {
    cls.name: cls for cls in (AnonVmaRfc2, AnonVma267, Anonmm, PteChain, AnonVmaChain)
}

DEFAULT_DESIGN = AnonVmaRfc2.name

#: Every ``State`` table that holds some design's rmap objects (``Design.tables``), once.
DESIGN_TABLES = tuple(dict.fromkeys(t for cls in _BUILT.values() for t in cls.tables))


def available_designs() -> tuple[str, ...]:
    """The design names the engine can run now."""
    return tuple(n for n in DESIGN_NAMES if n in _BUILT)


def check_design(name: str, options: frozenset[str] | tuple[str, ...] = ()) -> None:
    """Raise ``DesignUnavailable`` naming the problem if ``name``/``options`` cannot run."""
    if name not in DESIGN_NAMES:
        raise DesignUnavailable(
            f"unknown design {name!r}; the designs are {', '.join(DESIGN_NAMES)}"
        )
    if name not in _BUILT:
        raise DesignUnavailable(
            f"design {name!r} is not yet available; available: {', '.join(available_designs())}"
        )
    known = _BUILT[name].option_help
    for opt in options:
        if opt not in known:
            names = ", ".join(known) or "none"
            raise DesignUnavailable(f"design {name!r} has no option {opt!r}; its options: {names}")


@cache
def get_design(name: str, options: frozenset[str] = frozenset()) -> Design:
    """The strategy object for a design and its options."""
    check_design(name, options)
    return _BUILT[name](options)


def design_catalogue() -> list[dict[str, Any]]:
    """Every design in historical order as the catalogue shows it (``GET /api/designs``, the
    page, ``rmaplab designs``): its name, title, era, where its source is read, the options
    that model another kernel (with their era and source), description, options, size
    table and whether its vmas carry an ``anon_vma`` pointer, or ``available: False`` for
    one the engine cannot run yet."""
    out: list[dict[str, Any]] = []
    for name in DESIGN_NAMES:
        cls = _BUILT.get(name)
        if cls is None:
            out.append({"name": name, "available": False})
            continue
        out.append(
            {
                "name": name,
                "available": True,
                "title": cls.title,
                "era": cls.era,
                "source": cls.source,
                "variants": [
                    {"option": option, "era": era, "source": source}
                    for option, (era, source) in cls.option_variants.items()
                ],
                "description": cls.description,
                "options": cls.option_help,
                "sizes": cls.size_table,
                "vma_anon_vma": cls.vma_anon_vma,
            }
        )
    return out


def design_class(name: str) -> type[Design]:
    """The strategy class of an available design (for its name, era and option help)."""
    check_design(name)
    return _BUILT[name]


__all__ = [
    "DEFAULT_DESIGN",
    "DESIGN_NAMES",
    "DESIGN_TABLES",
    "Design",
    "Probe",
    "Violation",
    "available_designs",
    "check_design",
    "design_catalogue",
    "design_class",
    "get_design",
]

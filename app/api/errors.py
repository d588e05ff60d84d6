"""The service's errors: one mapping to HTTP statuses, one body shape.

Every error response is ``ErrorBody``: ``{"detail": "<a sentence naming the problem>"}``,
and, where they apply, ``errors`` (each malformed field: ``loc``, ``msg``, ``type``,
``input``), ``step`` (the step an op was refused at, or the step a session is at) and
``design`` (the design that refused it). ``detail`` is always a string.

The engine's errors map here too (``from_engine``): an op the state refuses (``OpError``,
``StepFailed``) is a 409, anything else the engine calls malformed a 422.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from ..engine import EngineError, OpError, StepFailed


class Problem(BaseModel):
    """One malformed part of a request."""

    loc: list[str | int] = Field(description="where: body, query or path, then the fields")
    msg: str
    type: str
    input: Any = Field(
        default=None, description="the bad input, quoted (at most 200 characters of its JSON)"
    )


class ErrorBody(BaseModel):
    """Every error response."""

    detail: str = Field(description="a sentence naming the problem")
    errors: list[Problem] | None = Field(
        default=None, description="422 for a malformed request: each problem and its location"
    )
    step: int | None = Field(
        default=None,
        description="the step an op was refused at, or "
        "the step the session is at (a stale "
        "expected_step)",
    )
    design: str | None = Field(default=None, description="the design that refused the op")


class ServiceError(Exception):
    """An error with an HTTP status and a sentence that names the problem."""

    status = 400

    def __init__(
        self,
        detail: str,
        headers: dict[str, str] | None = None,
        *,
        errors: list[dict[str, Any]] | None = None,
        step: int | None = None,
        design: str | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = headers
        self.extra: dict[str, Any] = {
            k: v
            for k, v in (("errors", errors), ("step", step), ("design", design))
            if v is not None
        }

    def body(self) -> dict[str, Any]:
        """The response body (``ErrorBody``)."""
        return {"detail": self.detail, **self.extra}


class Forbidden(ServiceError):
    """A read-only (view) link asked to change its session."""

    status = 403


class NotFound(ServiceError):
    status = 404


class Conflict(ServiceError):
    """Well formed but impossible now: an op the engine refuses, a stale step, a limit."""

    status = 409


class Unprocessable(ServiceError):
    status = 422


class TooManyRequests(ServiceError):
    status = 429


class Unavailable(ServiceError):
    """The service cannot do it now: the store failed, or an engine worker died."""

    status = 503


class OverBudget(Unavailable):
    """A request's engine work ran past RMAPLAB_MAX_REQUEST_SECONDS and was stopped."""


class Internal(ServiceError):
    """A bug: the engine failed on a request it accepted (logged with its traceback)."""

    status = 500


#: the error of each status a service error may have
BY_STATUS: dict[int, type[ServiceError]] = {
    cls.status: cls
    for cls in (
        ServiceError,
        Forbidden,
        NotFound,
        Conflict,
        Unprocessable,
        TooManyRequests,
        Unavailable,
        Internal,
    )
}


def of_status(
    status: int, detail: str, headers: dict[str, str] | None = None, **extra: Any
) -> ServiceError:
    """The service error for ``status`` (one from the worker, or a room's)."""
    return BY_STATUS[status](detail, headers, **extra)


def from_engine(exc: EngineError, prefix: str = "", **extra: Any) -> ServiceError:
    """The engine's error as the service's: 409 for an op the state refuses, else 422."""
    cls = Conflict if isinstance(exc, OpError | StepFailed) else Unprocessable
    return cls(f"{prefix}{exc}", **extra)


def malformed(errors: list[dict[str, Any]]) -> Unprocessable:
    """A 422 for ``errors`` (each ``loc``, ``msg``, ``type``, perhaps ``input``)."""
    return Unprocessable(validation_message(errors), errors=errors)


def validation_message(errors: list[dict[str, Any]]) -> str:
    """The sentence of a 422's ``errors``: each location (past ``body``) and message."""
    parts = []
    for error in errors:
        where = " › ".join(  # noqa: RUF001 (the laboratory's separator)
            str(p) for p in error.get("loc", ()) if p != "body"
        )
        msg = str(error.get("msg", "")).removeprefix("Value error, ")
        parts.append(f"{where}: {msg}" if where else msg)
    return "; ".join(parts)


def one_error_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI document with FastAPI's own 422 body (``HTTPValidationError``) replaced
    by ``ErrorBody``: the handler in app/main.py answers every error in that one shape."""
    own = "#/components/schemas/HTTPValidationError"
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            for response in operation.get("responses", {}).values():
                content = response.get("content", {}).get("application/json", {})
                if content.get("schema", {}).get("$ref") == own:
                    content["schema"] = {"$ref": "#/components/schemas/ErrorBody"}
    components = schema.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    return schema

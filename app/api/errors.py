"""The service's errors: an HTTP status and a message that names the problem."""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    """An error with an HTTP status and a message that names the problem."""

    status = 400
    headers: dict[str, str] | None = None

    def __init__(self, detail: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = headers


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


class OverBudget(ServiceError):
    """A request's engine work ran past RMAPLAB_MAX_REQUEST_SECONDS and was stopped."""

    status = 503


class Internal(ServiceError):
    """A bug: the engine failed on a request it accepted (logged with its traceback)."""

    status = 500

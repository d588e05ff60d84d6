"""An app per test over an in-memory store; modules that set ``BOTH_STORES = True`` run
each test twice: over SQLite and over Redis (``RMAPLAB_STORE``)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from app.api.config import Settings
from app.main import create_app


def make_client(store: str = "", **limits) -> TestClient:
    return TestClient(create_app(Settings(db=":memory:", store=store, **limits)))


def pytest_generate_tests(metafunc):
    if getattr(metafunc.module, "BOTH_STORES", False) and "store" in metafunc.fixturenames:
        metafunc.parametrize("store", ["sqlite", "redis"], indirect=True)


@pytest.fixture
def store(request) -> str:
    """The RMAPLAB_STORE of the test's app ("" for SQLite)."""
    if getattr(request, "param", "sqlite") == "redis":
        return request.getfixturevalue("redis_url")
    return ""


@pytest.fixture
def client(store) -> TestClient:
    return make_client(store)


@pytest.fixture
def small_client(store) -> TestClient:
    """Tight limits, to test them."""
    return make_client(
        store,
        max_pages=8,
        max_processes=3,
        max_frames=6,
        max_steps=10,
        max_run_ops=12,
        max_sessions=3,
        max_body=4096,
    )

"""An app per test over an in-memory store."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from app.api.config import Settings
from app.main import create_app


def make_client(**limits) -> TestClient:
    return TestClient(create_app(Settings(db=":memory:", **limits)))


@pytest.fixture
def client() -> TestClient:
    return make_client()


@pytest.fixture
def small_client() -> TestClient:
    """Tight limits, to test them."""
    return make_client(max_pages=8, max_processes=3, max_frames=6, max_steps=10,
                       max_run_ops=12, max_sessions=3, max_body=4096)

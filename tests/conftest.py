"""Shared test configuration: hypothesis profiles (CI is derandomized), and a Redis server
for the tests of the shared store."""

import os

import pytest
import redis
from hypothesis import HealthCheck, settings

from tests.api.server import RedisServer

settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    max_examples=60,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "dev", deadline=None, max_examples=60, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("ci" if os.environ.get("CI") else os.environ.get("HYPOTHESIS_PROFILE", "dev"))


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    """One ``redis-server`` for the run (AOF, appendfsync always), on a free loopback port."""
    if not RedisServer.available():
        pytest.skip(
            "redis-server is not installed, so the Redis store is NOT tested: "
            "install Debian's redis-server (scripts/test.sh does, as root)"
        )
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server):
    """The URL of an emptied Redis database."""
    with redis.Redis.from_url(redis_server.url) as r:
        r.flushdb()
    return redis_server.url

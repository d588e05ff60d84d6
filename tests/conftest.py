"""Shared test configuration: hypothesis profiles (CI is derandomized)."""

import os

# The module-level app of app.main must not create a database file in the checkout.
os.environ.setdefault("RMAPLAB_DB", ":memory:")

from hypothesis import HealthCheck, settings

settings.register_profile("ci", derandomize=True, deadline=None, max_examples=60,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", deadline=None, max_examples=60,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci" if os.environ.get("CI") else os.environ.get("HYPOTHESIS_PROFILE", "dev"))

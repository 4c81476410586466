"""Unit tier fixtures: the services built on fakes, at a moved clock. No I/O."""
from datetime import datetime, timezone

import pytest

from tests.fakes import FakeClock, fake_services

START = datetime(2026, 11, 22, 20, 0, 0, tzinfo=timezone.utc)


@pytest.fixture
def clock():
    """A FakeClock (it shadows the in-process app's clock fixture of tests/conftest.py here)."""
    return FakeClock(START)


@pytest.fixture
def world(clock):
    """(services, ports) on fakes only."""
    return fake_services(clock)

"""Session fixtures: one real Tansu broker for the whole run; unique topic and group names per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from dispatch_bridge.testing.broker import EmbeddedBroker


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    log = tmp_path_factory.mktemp("tansu") / "tansu.log"
    with EmbeddedBroker(log_path=log) as running:
        yield running


@pytest.fixture
def unique() -> str:
    """A short unique suffix for topic and group names, so tests never see each other's data."""
    return uuid.uuid4().hex[:10]

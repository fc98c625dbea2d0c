"""Fixtures shared by the unit tests of the client and of `geopin locate`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.fake_gateway import FakeGateway, serving


@pytest.fixture
def gateway() -> FakeGateway:
    """A stand-in gateway whose jobs end on their second poll; tests script it further."""
    return FakeGateway()


@pytest.fixture
def url(gateway: FakeGateway) -> Iterator[str]:
    """Where ``gateway`` answers, over real HTTP, for the test."""
    with serving(gateway) as address:
        yield address

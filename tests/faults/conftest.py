"""Fixtures of the fault suite: the hub's database on PostgreSQL, as in production."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from masar.scratch import ScratchError, postgres_database
from tests.conftest import POSTGRES_ADMIN_URL


@pytest.fixture
def hub_database() -> Iterator[str]:
    """An empty PostgreSQL database for the scenario's hub, dropped afterwards."""
    try:
        with postgres_database(POSTGRES_ADMIN_URL) as url:
            yield url
    except ScratchError as exc:
        pytest.fail(str(exc))

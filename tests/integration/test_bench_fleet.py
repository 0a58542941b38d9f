"""The fleet benchmark's own code, small: 10 kiosks with their own certificates for 5 s
through a TLS Mosquitto with the ACL to two ingest workers on PostgreSQL, nothing lost or
duplicated (bench/bench_fleet.py runs the same with 500 kiosks for 5 minutes)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.conftest import POSTGRES_ADMIN_URL

# bench/ is not a package: its scripts import each other (machine.py) from their folder.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import bench_fleet

pytestmark = pytest.mark.integration


def test_a_small_fleet_loses_and_duplicates_nothing() -> None:
    result = bench_fleet.run(10, 5, 2, per_process=5, drain=20, admin_url=POSTGRES_ADMIN_URL)

    assert result.connected == 10
    assert result.sent == 50
    assert (result.stored, result.acked) == (50, 50)
    assert (result.lost, result.duplicated, result.unexpected) == (0, 0, 0)
    assert (result.bookkeeping_mismatches, result.seq_gaps, result.dead_letters) == (0, 0, 0)
    assert result.rejected == 0
    assert len(result.latencies) == 50
    assert all(0 < latency < 10 for _, latency in result.latencies)
    assert result.usage["broker (Mosquitto)"].rss[-1] > 0
    assert set(result.usage) >= {"ingest worker 1", "ingest worker 2", "PostgreSQL backends"}
    printed = bench_fleet.report(result)
    assert "LOST 0, DUPLICATED 0" in printed
    assert printed.endswith("OK: 0 lost, 0 duplicated")

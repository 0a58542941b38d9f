"""The kiosk killed with SIGKILL at random points of a busy session loop, restarted each time.

Each run of the busy kiosk (tests/faults/busy_kiosk.py: the real agent plus staff logins,
questionnaire answers, training requests and syncs through the kiosk's own code) is killed
a random 0–1.5 s into its session loop: in a write, an ack, a sync page or a PIN check.
After each kill its store is checked (intact, seqs 1..k, every event with its state change);
after the last, a clean run drains it and the hub must hold every event exactly once.
CI kills it 12 times; `bench/bench_faults.py --kills 100` runs the long variant.
"""

from __future__ import annotations

import random
import signal
import time
from collections import Counter
from pathlib import Path

import pytest

from provisioning.broker import LocalBroker
from tests.faults.harness import Figures, busy_site, check_store, finish, lines

pytestmark = pytest.mark.integration


def kill_scenario(folder: Path, database_url: str, *, kills: int, seed: int = 1) -> Figures:
    rng = random.Random(seed)
    landed: Counter[str] = Counter()
    with (
        LocalBroker(folder / "broker") as broker,
        busy_site(folder, database_url, broker.port) as site,
    ):
        for _ in range(kills):
            kiosk = site.start_kiosk(pause=0.0)  # no rest between sessions: kills land in work
            time.sleep(rng.uniform(0.0, 1.5))
            kiosk.kill()
            assert kiosk.wait() == -signal.SIGKILL
            landed[(lines(site.log, "step ") or ["step none"])[-1].split()[1]] += 1
            check_store(site.config.store_path)
        kiosk = site.start_kiosk()
        time.sleep(1.0)
        finish(kiosk, site.log)
        figures = site.judge("kiosk SIGKILL", kills)
    figures.notes["kills landed in"] = dict(sorted(landed.items()))
    return figures


def test_a_kiosk_killed_at_random_points_of_its_sessions_loses_and_repeats_nothing(
    tmp_path: Path, hub_database: str
) -> None:
    figures = kill_scenario(tmp_path, hub_database, kills=12)
    print(figures.line())
    assert figures.events > 12 * 5, "the kiosk was not busy"

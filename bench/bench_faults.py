"""The fault suite's long variants (tests/faults: the short ones run in CI).

Each scenario runs the busy kiosk (tests/faults/busy_kiosk.py) against a hub on PostgreSQL
and prints one line: events recorded, faults, seconds, events lost and duplicated (both must
be 0, or the scenario fails with the reason), and what the fault did. Needs root (network
namespace, tmpfs) and PostgreSQL ($MASAR_TEST_POSTGRES_URL, as ./dev.sh test sets it).

    .venv/bin/python bench/bench_faults.py                     # every scenario, long
    .venv/bin/python bench/bench_faults.py --only kills --kills 100
    .venv/bin/python bench/bench_faults.py --only clock
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import traceback
from collections.abc import Callable
from pathlib import Path

from machine import describe

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the scenarios live in tests/

from masar.scratch import DEFAULT_POSTGRES_ADMIN_URL, postgres_database
from tests.faults.harness import Figures
from tests.faults.test_broker_and_database_restarts import (
    broker_kill_scenario,
    postgres_restart_scenario,
)
from tests.faults.test_disk_and_clock import DAY, clock_scenario, disk_full_scenario
from tests.faults.test_kiosk_kills import kill_scenario
from tests.faults.test_partition import partition_scenario

ADMIN_URL = os.environ.get("MASAR_TEST_POSTGRES_URL", DEFAULT_POSTGRES_ADMIN_URL)


def scenarios(args: argparse.Namespace) -> dict[str, Callable[[Path], Figures]]:
    def on_postgres(run: Callable[[Path, str], Figures]) -> Callable[[Path], Figures]:
        def with_database(folder: Path) -> Figures:
            with postgres_database(ADMIN_URL) as url:
                return run(folder, url)

        return with_database

    return {
        "partition": on_postgres(
            lambda f, url: partition_scenario(
                f, url, cuts=args.cuts, cut_seconds=args.cut_seconds, up=10.0
            )
        ),
        "broker": on_postgres(
            lambda f, url: broker_kill_scenario(f, url, kills=args.broker_kills, up=5.0)
        ),
        "postgres": lambda f: postgres_restart_scenario(
            f, restarts=args.postgres_restarts, up=5.0, outage=10.0
        ),
        "kills": on_postgres(lambda f, url: kill_scenario(f, url, kills=args.kills)),
        "disk": on_postgres(
            lambda f, url: disk_full_scenario(
                f, url, fills=args.fills, full_seconds=20.0, up=5.0, mib=256
            )
        ),
        "clock": on_postgres(
            lambda f, url: clock_scenario(
                f,
                url,
                phases=((-DAY, 20.0), (0, 20.0), (DAY, 20.0), (0, 20.0), (7 * DAY, 20.0)),
            )
        ),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", action="append", help="run only this scenario (repeatable)")
    parser.add_argument("--kills", type=int, default=100, help="kiosk SIGKILLs")
    parser.add_argument("--cuts", type=int, default=3, help="network partitions")
    parser.add_argument("--cut-seconds", type=float, default=60.0, help="length of each")
    parser.add_argument("--broker-kills", type=int, default=10, help="broker SIGKILLs")
    parser.add_argument("--postgres-restarts", type=int, default=6, help="crashes and stops")
    parser.add_argument("--fills", type=int, default=5, help="times the disk is filled")
    args = parser.parse_args()
    print(describe(("paho-mqtt", "sqlalchemy", "psycopg")), flush=True)
    failed = 0
    for name, run in scenarios(args).items():
        if args.only and name not in args.only:
            continue
        with tempfile.TemporaryDirectory(prefix=f"masar-bench-faults-{name}-") as folder:
            try:
                print(run(Path(folder)).line(), flush=True)
            except AssertionError:
                failed += 1
                print(f"{name}: FAILED\n{traceback.format_exc()}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

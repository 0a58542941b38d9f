"""The retention job at scale: `hub.seed` N synthetic detainees (about one in eight released,
over months), give everyone two biometric templates, then time `hub.retention.apply` twice:
the first run deletes the templates of everyone released over 30 days ago and notes each of
them for every kiosk of their site; the next finds nothing to do.

    .venv/bin/python bench/bench_retention.py                            # 10,000 and 100,000
    .venv/bin/python bench/bench_retention.py --detainees 10000 --database postgresql
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from bench_ingest import database, machine
from sqlalchemy import insert, select

from hub import retention
from hub.audit import Trail, load_key
from hub.config import RetentionConfig
from hub.db import open_engine, session_factory, upgrade
from hub.models import Detainee, Template
from hub.seed import seed

CHUNK = 5_000


def add_templates(engine_url: str) -> int:
    """Two templates (face, finger: 2 KiB each) per person, as enrolment leaves them."""
    engine = open_engine(engine_url)
    sessions = session_factory(engine)
    data = np.random.default_rng(1).standard_normal(512).astype(np.float32).tobytes()
    try:
        with sessions() as session:
            people = list(session.scalars(select(Detainee.id).order_by(Detainee.id)))
        for start in range(0, len(people), CHUNK):
            with sessions.begin() as session:
                session.execute(
                    insert(Template),
                    [
                        {
                            "id": f"{person}-{modality}",
                            "detainee_id": person,
                            "modality": modality,
                            "format": "bench/f32",
                            "data": data,
                        }
                        for person in people[start : start + CHUNK]
                        for modality in ("face", "fingerprint")
                    ],
                )
        return 2 * len(people)
    finally:
        engine.dispose()


def run(kind: str, detainees: int) -> str:
    with (
        tempfile.TemporaryDirectory(prefix="masar-bench-") as tmp,
        database(kind, Path(tmp)) as url,
    ):
        key = load_key(Path(tmp) / "audit.key")
        engine = open_engine(url)
        upgrade(engine)
        try:
            seed(engine, detainees=detainees, key=key, responses=0)
            made = add_templates(url)
            sessions = session_factory(engine)
            trail = Trail(key, "system:bench")
            timings, counts = [], []
            for _ in range(2):
                started = time.perf_counter()
                with sessions.begin() as session:
                    report = retention.apply(session, trail, RetentionConfig())
                timings.append(time.perf_counter() - started)
                counts.append(report.counts)
        finally:
            engine.dispose()
    first, nothing = counts
    assert set(nothing.values()) == {0}, f"the second run still found work: {nothing}"
    return (
        f"{kind:<10} {detainees:>7} detainees, {made} templates: first run "
        f"{timings[0]:.2f} s ({first['biometric_templates']} templates of "
        f"{first['kiosk_purge_notes']} people deleted and noted), next {timings[1]:.2f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--detainees", type=int, action="append", help="default 10000, 100000")
    parser.add_argument("--database", choices=["sqlite", "postgresql"], action="append")
    args = parser.parse_args()
    print(machine(), flush=True)
    for detainees in args.detainees or [10_000, 100_000]:
        for kind in args.database or ["sqlite", "postgresql"]:
            print(run(kind, detainees), flush=True)


if __name__ == "__main__":
    main()

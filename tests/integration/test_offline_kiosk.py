"""A kiosk that works offline: events recorded while the broker is down, across a writer
killed with SIGKILL mid-write, all reach the hub exactly once and in ``seq`` order.

Every part is real: the kiosk UI's writes come from a separate process
(``tests.integration.kiosk_writer``), the kiosk agent is ``masar kiosk run`` in another
process, retrying its broker connection the whole time; then Mosquitto and one
``masar hub ingest`` worker start, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import itertools
import json
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from hub.models import Event, SeqGap
from kiosk import outbox, store
from kiosk.config import KioskConfig, UiConfig, load_config
from masar.processes import spawn_masar, stop, wait_for_http
from provisioning.broker import LocalBroker, free_port
from tests.conftest import write_hub_config
from tests.integration.kiosk_writer import STATE_TABLE
from tests.integration.test_delivery import (
    DEVICE,
    SITE,
    assert_exactly_once,
    hub_count,
    kiosk_config,
    wait_until,
)

pytestmark = pytest.mark.integration

TOTAL = 5000
KILL_AT = (1000, 2500)  # the writer is SIGKILLed once the outbox holds at least this many
REPO = Path(__file__).resolve().parents[2]

Spawn = Callable[..., subprocess.Popen[bytes]]


@pytest.fixture
def offline_broker(tmp_path: Path) -> Iterator[LocalBroker]:
    """A Mosquitto whose port is fixed now but which the test starts later (stopped at the end)."""
    broker = LocalBroker(tmp_path / "broker")
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def children() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Kiosk-side processes the test starts; all are gone at the end, pass or fail."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.send_signal(signal.SIGCONT)  # a paused agent must be able to hear SIGTERM
        stop(process)


def write_kiosk_toml(path: Path, config: KioskConfig) -> Path:
    path.write_text(
        f'site = "{config.site}"\n'
        f'device = "{config.device}"\n'
        f'data_dir = "{config.data_dir}"\n'
        f'mode = "{config.mode}"\n\n'
        f"[broker]\n"
        f'host = "{config.broker.host}"\n'
        f"port = {config.broker.port}\n"
        f"keepalive = {config.broker.keepalive}\n\n"
        f"[outbox]\n"
        f"window = {config.outbox.window}\n"
        f"resend_after = {config.outbox.resend_after}\n\n"
        f"[ui]\n"
        f'host = "{config.ui.host}"\n'
        f"port = {config.ui.port}\n"
    )
    assert load_config(path) == config
    return path


def tail(path: Path, size: int = 3000) -> str:
    return path.read_text(errors="replace")[-size:] if path.exists() else f"(no {path.name})"


def spawn_writer(config_path: Path, until: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as output:
        return subprocess.Popen(
            [
                *(sys.executable, "-m", "tests.integration.kiosk_writer"),
                *("--config", str(config_path), "--until", str(until)),
            ],
            cwd=REPO,
            stdout=output,
            stderr=subprocess.STDOUT,
        )


def healthz(port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
        answer: dict[str, Any] = json.loads(response.read())
        return answer


def gap_rows(engine: Engine) -> int:
    try:
        with engine.connect() as connection:
            return int(connection.scalar(select(func.count()).select_from(SeqGap)) or 0)
    except Exception:
        return 0  # tables not created yet


def check_store(path: Path) -> int:
    """The kiosk's SQLite file is intact and holds events 1..k, each with its state change."""
    connection = sqlite3.connect(path, timeout=30)
    try:
        assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        seqs = [row[0] for row in connection.execute("SELECT seq FROM outbox ORDER BY seq")]
        assert seqs == list(range(1, len(seqs) + 1)), "outbox seqs are 1..k with no hole"
        counter = connection.execute("SELECT value FROM counters WHERE name = 'seq'").fetchone()
        assert counter == (len(seqs),), "the seq counter committed with the last event"
        # Atomicity: the writer's own state change committed with each event, or neither did.
        unmatched = connection.execute(
            f"SELECT count(*) FROM outbox o FULL OUTER JOIN {STATE_TABLE} m "
            "ON m.seq = o.seq AND m.event_id = o.id WHERE o.seq IS NULL OR m.seq IS NULL"
        ).fetchone()[0]
        assert unmatched == 0, "every event has its state change and vice versa"
        return len(seqs)
    finally:
        connection.close()


def test_events_recorded_offline_across_a_killed_writer_arrive_once_and_in_seq_order(
    tmp_path: Path,
    offline_broker: LocalBroker,
    database_url: str,
    hub_db: Engine,
    spawn_worker: Spawn,
    children: list[subprocess.Popen[bytes]],
) -> None:
    started = time.monotonic()
    broker = offline_broker  # created, port fixed, not started: the kiosk begins offline
    config = kiosk_config(tmp_path, broker, resend_after=3.0)
    config = config.model_copy(update={"ui": UiConfig(port=free_port())})
    config_path = write_kiosk_toml(tmp_path / "kiosk.toml", config)
    # Create the store before two processes open it: its migrations are not safe to race.
    store.open_store(config.store_path).close()
    kiosk_log, writer_log = tmp_path / "kiosk.log", tmp_path / "writer.log"

    # --- the kiosk runs offline: its agent keeps retrying the broker ------------------------
    agent = spawn_masar(["kiosk", "run", "--config", str(config_path)], kiosk_log)
    children.append(agent)
    assert wait_for_http(f"http://127.0.0.1:{config.ui.port}/healthz"), tail(kiosk_log)
    assert healthz(config.ui.port)["connected"] is False

    # --- the UI records events; its process is SIGKILLed mid-write, then restarted ----------
    db = store.open_store(config.store_path)  # the test's own reader, for polling
    try:
        for kill_at in KILL_AT:
            writer = spawn_writer(config_path, TOTAL, writer_log)
            children.append(writer)
            deadline = time.monotonic() + 60
            while outbox.depth(db) < kill_at:
                assert writer.poll() is None, f"the writer stopped early:\n{tail(writer_log)}"
                assert time.monotonic() < deadline, "the writer is too slow"
                time.sleep(0.005)
            writer.kill()
            assert writer.wait() == -signal.SIGKILL
            written = check_store(config.store_path)
            assert kill_at <= written < TOTAL, f"killed after {written}: not mid-stream"
        writer = spawn_writer(config_path, TOTAL, writer_log)
        children.append(writer)
        assert writer.wait(timeout=60) == 0, tail(writer_log)
        assert check_store(config.store_path) == TOTAL

        # The agent lived through all of it, still offline, and the UI shows the backlog.
        assert agent.poll() is None, tail(kiosk_log)
        status = healthz(config.ui.port)
        assert (status["connected"], status["outbox_depth"], status["problem"]) == (
            False,
            TOTAL,
            None,
        )
        offline_at = time.monotonic()

        # --- the broker returns, with one ingest worker ---------------------------------------
        # The agent is paused while the worker subscribes: Mosquitto discards what is
        # published to a topic nobody subscribes to, so an agent reconnecting in that window
        # would lose its first burst until resend_after, and a burst cut in two by the
        # subscription would reach the hub out of order through no fault of the kiosk. The
        # agent keeps its state and its retry timer; it reconnects on its own when resumed.
        agent.send_signal(signal.SIGSTOP)
        try:
            broker.start()
            spawn_worker(write_hub_config(tmp_path / "hub.toml", database_url, broker))
        finally:
            agent.send_signal(signal.SIGCONT)

        # "In seq order": with one worker, batches commit one after another, so a seq that
        # reached the hub before an earlier one would (1) open a row in seq_gaps, which we
        # poll throughout delivery, and (2) carry an earlier received_at (stamped once per batch
        # as it is applied) than that earlier seq, which we check for all 5,000 afterwards:
        # unlike polling, (2) also catches a gap opened and closed between two polls. Disorder
        # inside one batch of <= 100 is invisible to the hub (it books a batch's seqs sorted)
        # and so harmless.
        gap_rows_seen = 0
        deadline = time.monotonic() + 90
        while True:
            gap_rows_seen += gap_rows(hub_db)
            if outbox.depth(db) == 0 and hub_count(hub_db) == TOTAL:
                break
            assert time.monotonic() < deadline, (
                f"after 90 s: outbox {outbox.depth(db)}, hub {hub_count(hub_db)}\n"
                f"{tail(kiosk_log)}\n{tail(tmp_path / 'ingest-1.log')}"
            )
            time.sleep(0.05)
        delivered_at = time.monotonic()
        assert outbox.rejected_count(db) == 0
    finally:
        db.close()

    assert gap_rows_seen == 0, "a later seq reached the hub before an earlier one"
    assert_exactly_once(hub_db, TOTAL)
    with hub_db.connect() as connection:
        rows = connection.execute(
            select(Event.seq, Event.received_at, Event.worker)
            .where(Event.site == SITE, Event.device == DEVICE)
            .order_by(Event.seq)
        ).all()
    received = [row.received_at for row in rows]
    inversions = [
        row.seq for row, after in itertools.pairwise(rows) if row.received_at > after.received_at
    ]
    assert inversions == [], f"seqs committed after a later seq: {inversions[:10]}"
    assert len(set(received)) >= TOTAL // 100, "one commit per batch of at most 100"
    assert {row.worker for row in rows} == {"1"}
    wait_until(lambda: healthz(config.ui.port)["connected"] is True, 10, "the kiosk online")
    print(
        f"offline phase {offline_at - started:.1f}s, "
        f"delivery after the broker returned {delivered_at - offline_at:.1f}s"
    )

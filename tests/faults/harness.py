"""What the fault scenarios share: a seeded hub, the busy kiosk as a child process, the
verdict, and the faults themselves (a network namespace, a small tmpfs, a shifted clock).

The verdict needs to know every event the kiosk ever committed, but the outbox forgets an
event once the hub acknowledges it. So before the kiosk first starts, ``prepare_store`` adds
a trigger of the test's own to the kiosk's store: every row inserted into ``outbox`` is
copied into ``fault_ledger`` by SQLite itself, in the transaction of the kiosk code that
recorded it; ``fault_marks`` keeps every receipt and training marker the same way (a sync
later drops those the hub has). The kiosk's code is not changed, and the copies commit or
roll back with what they copy, whatever kills the process.

The scenarios themselves are in the test modules, as functions that bench/bench_faults.py
also runs with longer parameters.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from hub import roster, training
from hub.audit import Trail, load_key
from hub.db import open_engine, upgrade
from hub.models import DeadLetter, DeviceStream, Event, ProfileFact, QuestionnaireDraft, SeqGap
from hub.questionnaires import FORMS_DIR
from hub.questionnaires.library import import_form, publish
from kiosk import drafts, store
from kiosk.config import BrokerConfig, KioskConfig, OutboxConfig, SyncConfig, TlsConfig
from kiosk.vault import TemplateVault
from masar.scratch import spawn_ingest_worker
from protocol import decode_event
from protocol.pins import hash_pin
from provisioning.broker import BrokerError, LocalBroker, free_port, wait_for_port
from provisioning.mosquitto import render_config
from tests.faults.busy_kiosk import (
    DEVICE,
    FORM_ID,
    PEOPLE,
    PROGRAMMES,
    SITE,
    STAFF_BADGE,
    STAFF_ID,
    STAFF_PIN,
    WING,
)

REPO = Path(__file__).resolve().parents[2]
LEDGER, MARKS = "fault_ledger", "fault_marks"
FACTS_PER_INTAKE = 5  # the five answers of busy_kiosk.INTAKE_ANSWERS become five facts


# --- the hub -----------------------------------------------------------------------------


def seed_hub(database_url: str, audit_key_file: Path) -> str:
    """Migrate the hub's database and give it the busy kiosk's wing: the kiosk, eight people
    with badges, a staff member with a badge and PIN, the intake form published, two
    programmes. Returns the form's version."""
    engine = open_engine(database_url)
    try:
        upgrade(engine)
        trail = Trail(key=load_key(audit_key_file), actor="system:faults")
        today = date.today()
        with Session(engine) as session, session.begin():
            roster.register_device(session, SITE, DEVICE, WING, "self_service")
            for n, person in enumerate(PEOPLE):
                roster.admit(
                    session,
                    detainee_id=person,
                    prison_number=f"2026/{n:06d}",
                    name_latin=f"Person {n}",
                    name_arabic=f"شخص {n}",
                    site=SITE,
                    wing=WING,
                    badges=[f"B0F000{n:02X}"],
                )
            roster.put_staff(
                session,
                staff_id=STAFF_ID,
                name="Nadia Berrada",
                role="wing_officer",
                site=SITE,
                pin_hash=hash_pin(STAFF_PIN),
                badges=[STAFF_BADGE],
            )
            version = import_form(
                session, (FORMS_DIR / f"{FORM_ID}.xlsx").read_bytes(), actor=trail.actor
            ).version
            publish(session, trail, FORM_ID, version, site=SITE, wing=None)
            for programme_id in PROGRAMMES:
                training.put_programme(
                    session,
                    trail,
                    programme_id=programme_id,
                    titles={"fr": programme_id, "ar": programme_id, "tzm": programme_id},
                    provider="OFPPT",
                    site=SITE,
                    capacity=50,
                    starts_on=today + timedelta(days=30),
                    ends_on=today + timedelta(days=90),
                )
        return version
    finally:
        engine.dispose()


def write_hub_config(
    path: Path, database_url: str, broker_port: int, audit_key_file: Path, batch: int = 100
) -> Path:
    path.write_text(
        f'database_url = "{database_url}"\naudit_key_file = "{audit_key_file}"\n\n'
        f'[broker]\nhost = "127.0.0.1"\nport = {broker_port}\n\n[ingest]\nbatch = {batch}\n'
    )
    return path


def hub_count(engine: Engine) -> int:
    """Events of the busy kiosk at the hub (0 while the database cannot answer)."""
    try:
        with engine.connect() as connection:
            query = select(func.count()).select_from(Event).where(Event.device == DEVICE)
            return int(connection.scalar(query) or 0)
    except Exception:
        return 0


# --- the kiosk ---------------------------------------------------------------------------


def kiosk_config(
    data_dir: Path,
    broker_port: int,
    *,
    host: str = "127.0.0.1",
    tls: TlsConfig | None = None,
) -> KioskConfig:
    """The busy kiosk's configuration: quick keepalive, resends and periodic syncs, so a fault
    shows within seconds."""
    return KioskConfig(
        site=SITE,
        device=DEVICE,
        data_dir=data_dir,
        wing=WING,
        broker=BrokerConfig(host=host, port=broker_port, tls=tls, keepalive=5),
        outbox=OutboxConfig(resend_after=3.0),
        sync=SyncConfig(every=3.0, timeout=10.0),
    )


def write_kiosk_config(path: Path, config: KioskConfig) -> Path:
    path.write_text(config.model_dump_json(indent=1))
    return path


def prepare_store(store_path: Path) -> None:
    """Create the kiosk's store (its migrations) and the ledger triggers, before any kiosk.

    ``fault_ledger`` keeps every event inserted into the outbox; ``fault_marks`` every receipt
    and training marker the kiosk wrote (syncs later drop those the hub has: the marks stay).
    """
    db = store.open_store(store_path)
    try:
        with store.write(db):
            db.execute(
                f"CREATE TABLE IF NOT EXISTS {LEDGER} "
                "(seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, type TEXT NOT NULL, "
                "payload BLOB NOT NULL)"
            )
            db.execute(
                f"CREATE TRIGGER IF NOT EXISTS {LEDGER}_copy AFTER INSERT ON outbox BEGIN "
                f"INSERT INTO {LEDGER}(seq, id, type, payload) "
                "VALUES (new.seq, new.id, new.type, new.payload); END"
            )
            db.execute(
                f"CREATE TABLE IF NOT EXISTS {MARKS} "
                "(event_id TEXT PRIMARY KEY, kind TEXT NOT NULL)"
            )
            for table in ("local_receipts", "training_requests"):
                db.execute(
                    f"CREATE TRIGGER IF NOT EXISTS {MARKS}_{table} AFTER INSERT ON {table} BEGIN "
                    f"INSERT INTO {MARKS}(event_id, kind) "
                    f"VALUES (new.event_id, '{table}'); END"
                )
    finally:
        db.close()


def spawn_kiosk(
    config_path: Path,
    log: Path,
    *,
    form_version: str,
    seed: int,
    pause: float | None = None,
    wrap: Sequence[str] = (),
    env: dict[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """``python -m tests.faults.busy_kiosk`` (inside ``wrap``: ip netns exec, nsenter)."""
    with log.open("ab") as output:
        return subprocess.Popen(
            [
                *wrap,
                *(sys.executable, "-m", "tests.faults.busy_kiosk"),
                *("--config", str(config_path), "--seed", str(seed)),
                *("--form-version", form_version),
                *(() if pause is None else ("--pause", str(pause))),
            ],
            cwd=REPO,
            stdout=output,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )


def tail(path: Path, size: int = 4000) -> str:
    return path.read_text(errors="replace")[-size:] if path.exists() else f"(no {path.name})"


def lines(log: Path, prefix: str) -> list[str]:
    if not log.exists():
        return []
    return [
        line for line in log.read_text(errors="replace").splitlines() if line.startswith(prefix)
    ]


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> float:
    """Poll until ``condition``; return the seconds it took."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)
    return time.monotonic() - started


def grows(count: Callable[[], int], above: int) -> Callable[[], bool]:
    """A condition for wait_for: ``count()`` has passed ``above``."""
    return lambda: count() > above


def wait_ready(process: subprocess.Popen[bytes], log: Path, runs: int, timeout: float = 60) -> None:
    """Until the ``runs``-th start of the busy kiosk is in its session loop."""

    def ready() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"the busy kiosk stopped ({process.returncode}):\n{tail(log)}")
        return len(lines(log, "ready")) >= runs

    wait_for(ready, timeout, "the busy kiosk's session loop")


def finish(process: subprocess.Popen[bytes], log: Path, timeout: float = 180) -> None:
    """Ask the busy kiosk to stop recording, drain its outbox, sync and exit; wait for it."""
    process.send_signal(signal.SIGUSR1)
    try:
        code = process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise AssertionError(
            f"the busy kiosk did not drain in {timeout:.0f} s:\n{tail(log)}"
        ) from None
    assert code == 0, f"the busy kiosk ended with {code}:\n{tail(log)}"


class Site:
    """One scenario's site: the seeded hub, its ingest worker, the busy kiosk's configuration
    and store, and every child process (all gone at ``close``). ``wrap`` runs the kiosk (in
    a network or mount namespace), ``store_wrap`` this module's store commands where the
    kiosk's store is (its mount namespace)."""

    def __init__(
        self,
        folder: Path,
        database_url: str,
        broker_port: int,
        *,
        kiosk_host: str = "127.0.0.1",
        kiosk_port: int | None = None,
        tls: TlsConfig | None = None,
        data_dir: Path | None = None,
        wrap: Sequence[str] = (),
        env: dict[str, str] | None = None,
        store_wrap: Sequence[str] = (),
    ) -> None:
        self.folder, self.database_url, self.wrap, self.env = folder, database_url, wrap, env
        self.store_wrap = tuple(store_wrap)
        self.started = time.monotonic()
        self.children: list[subprocess.Popen[bytes]] = []
        self.log = folder / "kiosk.log"
        audit_key = folder / "audit.key"
        self.version = seed_hub(database_url, audit_key)
        self.hub_config = write_hub_config(
            folder / "hub.toml", database_url, broker_port, audit_key
        )
        self.config = kiosk_config(
            data_dir or folder / "kiosk" / "data",
            kiosk_port or broker_port,
            host=kiosk_host,
            tls=tls,
        )
        self.config_path = write_kiosk_config(folder / "kiosk.json", self.config)
        self._at_store("prepare", self.config.store_path)
        self.runs = 0
        self.engine = open_engine(database_url)

    def spawn_worker(self, name: str = "1") -> subprocess.Popen[bytes]:
        worker = spawn_ingest_worker(self.hub_config, name, self.folder / f"ingest-{name}.log")
        self.children.append(worker)
        return worker

    def start_kiosk(self, pause: float | None = None) -> subprocess.Popen[bytes]:
        """Start the busy kiosk and return once it is in its session loop."""
        kiosk = spawn_kiosk(
            self.config_path,
            self.log,
            form_version=self.version,
            seed=self.runs,
            pause=pause,
            wrap=self.wrap,
            env=self.env,
        )
        self.children.append(kiosk)
        self.runs += 1
        wait_ready(kiosk, self.log, self.runs)
        return kiosk

    def hub_count(self) -> int:
        return hub_count(self.engine)

    def recorded(self) -> int:
        """Events the kiosk has committed so far."""
        return int(self._at_store("recorded", self.config.store_path))

    def judge(self, scenario: str, faults: int, *, dead_letters: int = 0) -> Figures:
        found = self._at_store("report", self.config.store_path, self.config.key_path)
        report = KioskReport(
            [LedgerEvent(**event) for event in found["ledger"]],
            found["depth"],
            found["rejected"],
            found["drafts_offered"],
        )
        figures = verdict(scenario, report, self.engine, dead_letters=dead_letters)
        figures.faults = faults
        figures.seconds = time.monotonic() - self.started
        return figures

    def _at_store(self, command: str, *paths: Path) -> Any:
        """Run a store command of this module where the kiosk's store is: here, or through
        ``store_wrap`` in the kiosk's mount namespace (SQLite resolves /proc/<pid>/root
        back to this namespace's files, so that path cannot be used from here)."""
        if not self.store_wrap:
            return json.loads(json.dumps(COMMANDS[command](*paths)))
        done = subprocess.run(
            [
                *self.store_wrap,
                sys.executable,
                "-m",
                "tests.faults.harness",
                command,
                *map(str, paths),
            ],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return json.loads(done.stdout)

    def close(self) -> None:
        for process in self.children:
            if process.poll() is None:
                process.kill()
                process.wait()
        self.engine.dispose()


@contextmanager
def busy_site(folder: Path, database_url: str, broker_port: int, **options: Any) -> Iterator[Site]:
    """A Site with its ingest worker running; everything stopped at the end."""
    site = Site(folder, database_url, broker_port, **options)
    try:
        site.spawn_worker()
        yield site
    finally:
        site.close()


# --- the verdict -------------------------------------------------------------------------


@dataclass
class Figures:
    """What a scenario shows: events recorded and delivered, faults, time, losses."""

    scenario: str
    events: int = 0
    lost: int = 0
    duplicated: int = 0
    faults: int = 0
    seconds: float = 0.0
    notes: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        extra = "".join(f", {name} {value}" for name, value in self.notes.items())
        return (
            f"{self.scenario}: {self.events} events, {self.faults} faults, "
            f"{self.seconds:.1f} s, lost {self.lost}, duplicated {self.duplicated}{extra}"
        )


@dataclass(frozen=True)
class LedgerEvent:
    seq: int
    id: str
    type: str
    subject: str | None
    body: dict[str, Any]


def read_ledger(connection: sqlite3.Connection) -> list[LedgerEvent]:
    rows = connection.execute(f"SELECT seq, id, type, payload FROM {LEDGER} ORDER BY seq")
    found = []
    for seq, event_id, kind, payload in rows:
        event = decode_event(bytes(payload))
        assert (event.seq, event.id, event.event_type) == (seq, event_id, kind)
        body = event.model_dump(mode="json")["body"]
        found.append(LedgerEvent(seq, event_id, kind, event.subject, body))
    return found


def check_store(store_path: Path) -> list[LedgerEvent]:
    """The kiosk's store after a fault: intact, events 1..k with nothing half-written.

    Every committed event is in the ledger with the next seq, the seq counter committed with
    the last one, and each questionnaire response was written with its receipt and each
    training request with its marker (in the event's transaction), and vice versa.
    """
    connection = sqlite3.connect(store_path, timeout=30)
    try:
        assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        ledger = read_ledger(connection)
        assert [e.seq for e in ledger] == list(range(1, len(ledger) + 1)), "a hole in the seqs"
        counter = connection.execute("SELECT value FROM counters WHERE name = 'seq'").fetchone()
        assert (counter[0] if counter else 0) == len(ledger), "seq counter and events disagree"
        marks = set(connection.execute(f"SELECT event_id, kind FROM {MARKS}"))
        expected = {(e.id, "local_receipts") for e in ledger if e.type == "questionnaire.response"}
        expected |= {
            (e.id, "training_requests") for e in ledger if e.type == "training.enrolment_requested"
        }
        assert marks == expected, "an event without its receipt or marker, or the reverse"
        outbox = {r[0] for r in connection.execute("SELECT id FROM outbox")}
        assert outbox <= {e.id for e in ledger}
        return ledger
    finally:
        connection.close()


def check_drafts(store_path: Path, key_path: Path, ledger: Sequence[LedgerEvent]) -> int:
    """What a person would see: for each person and form, the draft the kiosk offers is the
    last answer they gave, or none once they sent the form. Returns the drafts offered."""
    last: dict[tuple[str, str], LedgerEvent] = {}
    for event in ledger:
        if event.type in ("questionnaire.progress", "questionnaire.response") and event.subject:
            last[(event.subject, event.body["form_id"])] = event
    db = store.open_store(store_path)
    vault = TemplateVault(key_path, create=False)
    offered = 0
    try:
        for (person, form_id), event in sorted(last.items()):
            draft = drafts.load_draft(db, vault, person, form_id)
            if event.type == "questionnaire.response":
                assert draft is None, f"{person} sent {form_id} but is offered a draft of it"
            else:
                assert draft is not None, f"{person}'s last answers to {form_id} are gone"
                assert (draft.current, draft.answers) == (
                    event.body["current"],
                    event.body["answers"],
                ), f"{person} is offered other answers than the last ones given"
                offered += 1
    finally:
        db.close()
    return offered


@dataclass
class KioskReport:
    """The kiosk's side of the verdict, read where its store is (maybe another namespace)."""

    ledger: list[LedgerEvent]
    depth: int
    rejected: int
    drafts_offered: int


def kiosk_report(store_path: Path, key_path: Path) -> KioskReport:
    """The store checked, and the drafts the kiosk would offer (check_drafts)."""
    ledger = check_store(store_path)
    connection = sqlite3.connect(store_path, timeout=30)
    try:
        depth = connection.execute("SELECT count(*) FROM outbox").fetchone()[0]
        rejected = connection.execute("SELECT count(*) FROM rejected_events").fetchone()[0]
    finally:
        connection.close()
    offered = check_drafts(store_path, key_path, ledger)
    return KioskReport(ledger, depth, rejected, offered)


def verdict(
    scenario: str,
    report: KioskReport,
    engine: Engine,
    *,
    dead_letters: int = 0,
) -> Figures:
    """After a scenario: the kiosk's store is intact and drained, and the hub holds every
    event the kiosk committed exactly once, seqs 1..N with no gap, each applied once; and no
    questionnaire already sent is offered again as a draft, by the kiosk or the hub."""
    ledger = report.ledger
    with engine.connect() as hub:
        rows = hub.execute(
            select(Event.id, Event.seq).where(Event.site == SITE, Event.device == DEVICE)
        ).all()
        stream = hub.execute(
            select(DeviceStream.max_seq, DeviceStream.event_count).where(
                DeviceStream.site == SITE, DeviceStream.device == DEVICE
            )
        ).one_or_none()
        gaps = hub.scalar(select(func.count()).select_from(SeqGap))
        dead = hub.scalar(select(func.count()).select_from(DeadLetter))
        facts = Counter(
            hub.scalars(
                select(ProfileFact.event_id).where(ProfileFact.source == f"kiosk:{SITE}/{DEVICE}")
            )
        )
        hub_drafts = hub.execute(
            select(QuestionnaireDraft.detainee_id, QuestionnaireDraft.form_id)
        ).all()
    kiosk_ids = {e.id: e.seq for e in ledger}
    hub_ids = Counter(row.id for row in rows)
    figures = Figures(
        scenario,
        events=len(ledger),
        lost=len(set(kiosk_ids) - set(hub_ids)),
        duplicated=sum(hub_ids.values()) - len(hub_ids) + len(rows) - len({r.seq for r in rows}),
    )
    assert (report.depth, report.rejected) == (0, 0), f"not drained: {report.depth} in outbox"
    assert figures.lost == 0, f"{figures.lost} of {len(ledger)} events never reached the hub"
    assert figures.duplicated == 0, "an event or a seq is twice at the hub"
    assert {row.id: row.seq for row in rows} == kiosk_ids, "the hub holds events the kiosk did not"
    assert stream is not None and tuple(stream) == (len(ledger), len(ledger)), stream
    assert gaps == 0, f"{gaps} seq gap(s) recorded"
    assert dead == dead_letters, f"{dead} dead letter(s), {dead_letters} expected"
    responses = [e.id for e in ledger if e.type == "questionnaire.response"]
    assert all(facts[i] == FACTS_PER_INTAKE for i in responses) and len(facts) == len(responses), (
        "a response's profile facts were not written exactly once"
    )
    stale = [(p, f) for p, f in hub_drafts if _last_is_response(ledger, p, f)]
    assert stale == [], f"the hub still offers drafts of questionnaires already sent: {stale}"
    figures.notes["drafts offered"] = report.drafts_offered
    figures.notes["types"] = dict(sorted(Counter(e.type for e in ledger).items()))
    return figures


def _last_is_response(ledger: Sequence[LedgerEvent], person: str, form_id: str) -> bool:
    kinds = [
        e.type
        for e in ledger
        if e.subject == person
        and e.type in ("questionnaire.progress", "questionnaire.response")
        and e.body["form_id"] == form_id
    ]
    return bool(kinds) and kinds[-1] == "questionnaire.response"


# --- faults: a network partition ---------------------------------------------------------


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


class Partition:
    """A network namespace for the kiosk, joined to this one by a veth pair on a private /30
    that exists only on this machine: ``cut`` drops the link (packets are lost, as on a cut
    cable, so TCP only notices by its timers), ``heal`` brings it back."""

    def __init__(self) -> None:
        tag = os.getpid() % 100_000
        self.namespace = f"masar-faults-{tag}"
        self.host_if, self.kiosk_if = f"mfh{tag}", f"mfk{tag}"
        third = tag % 250 + 1  # 10.213.x.0/30: a /30 no real network here uses
        self.host_address, self.kiosk_address = f"10.213.{third}.1", f"10.213.{third}.2"
        self.wrap = ("ip", "netns", "exec", self.namespace)

    def __enter__(self) -> Partition:
        _ip("netns", "add", self.namespace)
        try:
            _ip("link", "add", self.host_if, "type", "veth", "peer", "name", self.kiosk_if)
            _ip("link", "set", self.kiosk_if, "netns", self.namespace)
            _ip("addr", "add", f"{self.host_address}/30", "dev", self.host_if)
            _ip("link", "set", self.host_if, "up")
            inside = ("-n", self.namespace)
            _ip(*inside, "addr", "add", f"{self.kiosk_address}/30", "dev", self.kiosk_if)
            _ip(*inside, "link", "set", self.kiosk_if, "up")
            _ip(*inside, "link", "set", "lo", "up")
        except BaseException:
            self.__exit__()
            raise
        return self

    def cut(self) -> None:
        _ip("link", "set", self.host_if, "down")

    def heal(self) -> None:
        _ip("link", "set", self.host_if, "up")

    def __exit__(self, *exc: object) -> None:
        subprocess.run(["ip", "link", "del", self.host_if], capture_output=True, timeout=30)
        subprocess.run(["ip", "netns", "del", self.namespace], capture_output=True, timeout=30)


class SiteBroker(LocalBroker):
    """Mosquitto with two listeners: TLS with client certificates on ``kiosk_host`` for the
    kiosk, as on a site (the veth's host address in the partition scenario), plain on
    loopback for the hub's workers (``port``)."""

    def __init__(self, directory: Path, *, kiosk_host: str, tls: Any) -> None:
        super().__init__(directory, tls=tls, allow_anonymous=True)
        self.kiosk_host, self.kiosk_port = kiosk_host, free_port()

    def start(self) -> SiteBroker:
        data_dir = self.directory / "data"
        data_dir.mkdir(parents=True, exist_ok=True)
        rendered = render_config(
            port=self.kiosk_port,
            host=self.kiosk_host,
            data_dir=data_dir,
            tls=self.tls,
            log_file=self.log_path,
            allow_anonymous=True,
            private=True,
        )
        self.config_path.write_text(rendered + f"listener {self.port} 127.0.0.1\nprotocol mqtt\n")
        runs = self._log().count(" running")
        self.process = subprocess.Popen(
            ["mosquitto", "-c", str(self.config_path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if not wait_for_port(self.host, self.port) or not self._logged(" running", runs, 10.0):
            self.stop()
            raise BrokerError(f"Mosquitto did not start:\n{self._log()[-2000:]}")
        return self


# --- faults: PostgreSQL restarted ----------------------------------------------------------


class PrivatePostgres:
    """A PostgreSQL cluster of the scenario's own on a free loopback port, so that restarting
    it disturbs no other test (the shared server stays up). As root, initdb and pg_ctl run
    as user postgres (they refuse root), as in ./dev.sh."""

    def __init__(self) -> None:
        initdb = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=_version)
        if not initdb:
            raise AssertionError("PostgreSQL's server is not installed (./dev.sh test installs it)")
        self.bin = initdb[-1].parent
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="masar-faults-pg-"))
        self.data = self.folder / "data"
        self.as_postgres: tuple[str, ...] = (
            ("runuser", "-u", "postgres", "--") if os.geteuid() == 0 else ()
        )
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        subprocess.run([*self.as_postgres, *args], check=True, capture_output=True, timeout=120)

    def __enter__(self) -> PrivatePostgres:
        if self.as_postgres:
            shutil.chown(self.folder, "postgres", "postgres")
        self._run(
            str(self.bin / "initdb"),
            *("-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8"),
            *("--locale=C.UTF-8", "--no-sync"),
        )
        self.start()
        return self

    def _pg_ctl(self, action: str, *options: str) -> None:
        self._run(
            str(self.bin / "pg_ctl"),
            *("-D", str(self.data), "-l", str(self.folder / "server.log"), "-w", *options),
            *("-o", f"-p {self.port} -c listen_addresses=127.0.0.1"),
            *("-o", f"-c unix_socket_directories={self.folder}"),
            action,
        )

    def start(self) -> None:
        self._pg_ctl("start")

    def stop(self) -> None:
        self._pg_ctl("stop", "-m", "fast")

    def crash_restart(self) -> None:
        """Immediate stop (no checkpoint: crash recovery at start), then start again."""
        self._pg_ctl("restart", "-m", "immediate")

    def __exit__(self, *exc: object) -> None:
        subprocess.run(
            [*self.as_postgres, str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate"],
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(self.folder, ignore_errors=True)


def _version(path: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in path.parts[-3].split(".") if part.isdigit())


# --- faults: a small disk ----------------------------------------------------------------


class SmallDisk:
    """A tmpfs of ``mib`` MiB on ``folder``, mounted in a mount namespace of its own that a
    sleeping holder process keeps (as tests/e2e/screenshots.py does for one kiosk run). The
    kiosk runs in it through ``wrap`` (nsenter); this process reaches it through
    ``/proc/<holder>/root``, so the machine's own mounts never change."""

    def __init__(self, folder: Path, mib: int) -> None:
        self.folder, self.mib = folder, mib
        self.holder: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> SmallDisk:
        self.folder.mkdir(parents=True, exist_ok=True)
        script = f'mount -t tmpfs -o size={self.mib}m masar-faults "$1" && exec sleep 3600'
        self.holder = subprocess.Popen(
            [
                *("unshare", "--mount", "--propagation", "private"),
                *("sh", "-c", script, "sh", str(self.folder)),
            ]
        )
        wait_for(self._mounted, 10, f"a {self.mib} MiB tmpfs (mounting one needs root)")
        return self

    def _mounted(self) -> bool:
        assert self.holder is not None
        if self.holder.poll() is not None:
            raise AssertionError("the tmpfs could not be mounted (mounting one needs root)")
        total = os.statvfs(self.inside(self.folder))
        return total.f_blocks * total.f_frsize == self.mib * 2**20

    @property
    def wrap(self) -> tuple[str, ...]:
        assert self.holder is not None
        return ("nsenter", "-t", str(self.holder.pid), "-m", f"--wd={REPO}", "--")

    def inside(self, path: Path) -> Path:
        """``path`` as the kiosk sees it, from this process."""
        assert self.holder is not None
        return Path(f"/proc/{self.holder.pid}/root") / path.relative_to("/")

    def fill(self, name: str = "filler") -> int:
        """Take every free byte, as a runaway log would; return the bytes taken."""
        taken = 0
        chunk = b"\0" * 2**20
        with open(self.inside(self.folder / name), "ab", buffering=0) as filler:
            while True:
                try:
                    taken += filler.write(chunk)
                except OSError as error:
                    if error.errno != errno.ENOSPC:
                        raise
                    break
            # The last pages too: a partial chunk may still fit.
            for size in (65536, 4096, 512):
                try:
                    while True:
                        taken += filler.write(chunk[:size])
                except OSError as error:
                    if error.errno != errno.ENOSPC:
                        raise
        return taken

    def empty(self, name: str = "filler") -> None:
        self.inside(self.folder / name).unlink()

    def __exit__(self, *exc: object) -> None:
        if self.holder is not None and self.holder.poll() is None:
            self.holder.kill()  # the namespace and its tmpfs go with their last process
            self.holder.wait()


# --- faults: the clock -------------------------------------------------------------------

# The kiosk's wall clock shifted by the number of seconds in $MASAR_FAULTS_CLOCK_FILE (read
# again at most every 100 ms, so a test can move it while the kiosk runs), as a wrong RTC or
# a late NTP correction would. Only CLOCK_REALTIME moves: monotonic timers (paho's
# keepalive, the agent's resends, sleeps) keep running, as they do when a real clock jumps.
# Loaded with LD_PRELOAD; libfaketime is not used because its 0.9.10 breaks Python 3.11's
# sleeps and condition waits.
CLOCK_SHIM = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>

static int (*real_clock_gettime)(clockid_t, struct timespec *);
static volatile long offset, read_at = -1000;

static long shift(void) {
    struct timespec now;
    real_clock_gettime(CLOCK_MONOTONIC, &now);
    long ms = now.tv_sec * 1000 + now.tv_nsec / 1000000;
    if (ms - read_at >= 100) {
        const char *path = getenv("MASAR_FAULTS_CLOCK_FILE");
        FILE *file = path ? fopen(path, "r") : NULL;
        long value;
        if (file) {
            if (fscanf(file, "%ld", &value) == 1) offset = value;
            fclose(file);
        }
        read_at = ms;
    }
    return offset;
}

int clock_gettime(clockid_t clock, struct timespec *ts) {
    if (!real_clock_gettime) real_clock_gettime = dlsym(RTLD_NEXT, "clock_gettime");
    int result = real_clock_gettime(clock, ts);
    if (result == 0 && (clock == CLOCK_REALTIME || clock == CLOCK_REALTIME_COARSE))
        ts->tv_sec += shift();
    return result;
}

int gettimeofday(struct timeval *tv, void *tz) {
    struct timespec ts;
    (void)tz;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (tv) { tv->tv_sec = ts.tv_sec; tv->tv_usec = ts.tv_nsec / 1000; }
    return 0;
}

time_t time(time_t *out) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (out) *out = ts.tv_sec;
    return ts.tv_sec;
}
"""


def build_clock_shim(folder: Path) -> Path:
    """Compile the clock shim (gcc is installed by ./dev.sh for pyscard)."""
    folder.mkdir(parents=True, exist_ok=True)
    source, library = folder / "clock_shim.c", folder / "clock_shim.so"
    source.write_text(CLOCK_SHIM)
    subprocess.run(
        ["cc", "-shared", "-fPIC", "-O2", "-o", str(library), str(source), "-ldl"],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return library


# --- run in the kiosk's mount namespace (Site._at_store) -----------------------------------


def _report(store_path: Path, key_path: Path) -> dict[str, Any]:
    return asdict(kiosk_report(store_path, key_path))


def _recorded(store_path: Path) -> int:
    connection = sqlite3.connect(store_path, timeout=30)
    try:
        return int(connection.execute(f"SELECT count(*) FROM {LEDGER}").fetchone()[0])
    finally:
        connection.close()


COMMANDS: dict[str, Callable[..., Any]] = {
    "prepare": prepare_store,
    "recorded": _recorded,
    "report": _report,
}


if __name__ == "__main__":
    print(json.dumps(COMMANDS[sys.argv[1]](*map(Path, sys.argv[2:]))))

"""A fleet of kiosks against one hub: 500 TLS clients, one event a second each, two workers.

Every part is the real one: a site CA signs one certificate per kiosk (from a CSR made for
it), Mosquitto runs the generated TLS config (require_certificate, use_identity_as_username)
and ACL, each simulated kiosk is the kiosk's own MQTT wrapper (kiosk.bus.MqttBus: TLS 1.3,
TCP_NODELAY, persistent session) publishing real protocol events at QoS 1 with its own
``seq`` and listening on its own ack topic, and two `masar hub ingest` processes commit to
a scratch PostgreSQL database. Half the events are identifications (stored only), half are
verified movements (the person's location changes and the wing's change feed is noted).

Latency is end to end: the event is built → the hub's ack, sent after commit, arrives.
At the end the database is compared with what was sent: lost (sent, not stored), duplicated
(one ``seq`` stored twice, or a stored event nobody sent), ``device_streams`` bookkeeping and
``seq_gaps``. CPU is sampled from /proc every second (100 % = one core).

    .venv/bin/python bench/bench_fleet.py                       # 500 kiosks × 300 s
    .venv/bin/python bench/bench_fleet.py --kiosks 500 --seconds 60 --workers 2
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import resource
import statistics
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.process import BaseProcess
from multiprocessing.queues import Queue
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event as MpEvent
from pathlib import Path
from typing import Any

import psycopg
from machine import describe
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from hub import roster
from hub.db import open_engine, upgrade
from hub.models import DeadLetter, DeviceStream, Event, SeqGap
from kiosk.bus import BusUnavailable, Message, MqttBus
from kiosk.config import BrokerConfig, TlsConfig
from masar.processes import stop
from masar.scratch import DEFAULT_POSTGRES_ADMIN_URL, postgres_database, spawn_ingest_worker
from protocol import Ack, decode_message, encode, topics, utc_now, uuid7
from protocol.events import (
    EventBase,
    Identification,
    IdentificationEvent,
    ModalityCheck,
    MovementVerified,
    MovementVerifiedEvent,
)
from provisioning.acl import render_acl
from provisioning.broker import LocalBroker
from provisioning.ca import SiteCA, device_identity, new_device_key
from provisioning.mosquitto import BrokerTls

SITE = "bench"
KIOSKS_PER_WING = 20
CLK_TCK = os.sysconf("SC_CLK_TCK")


def device_name(n: int) -> str:
    return f"k{n:03d}"


def person(n: int) -> str:
    return f"f{n:05d}"


# --- one simulated kiosk (in a client process) ------------------------------------------


class SimulatedKiosk:
    """One kiosk: builds its events, publishes them at QoS 1, times each until its ack."""

    def __init__(self, n: int, total: int, broker: BrokerConfig) -> None:
        self.device = device_name(n)
        self.subject = person(n)
        self.offset = n / total  # kiosks spread evenly over each second
        self.bus = MqttBus(f"masar-kiosk:{SITE}:{self.device}", broker)
        self.bus.subscribe(topics.ack_topic(SITE, self.device), self._on_ack)
        self.bus.on_disconnected.append(self._on_disconnected)
        self.lock = threading.Lock()
        self.pending: dict[str, tuple[int, float]] = {}  # id → (tick, built at)
        self.backlog: deque[tuple[str, bytes]] = deque()  # not yet taken by paho (offline)
        self.sent: list[str] = []
        self.latencies: list[tuple[int, float]] = []
        self.acked = self.repeated_acks = self.rejected = 0
        self.disconnects = self.deferred = 0

    def event(self, tick: int) -> EventBase:
        common: dict[str, Any] = {
            "id": uuid7(),
            "site": SITE,
            "device": self.device,
            "seq": tick + 1,
            "at": utc_now(),
            "subject": self.subject,
        }
        if tick % 2 == 0:
            check = ModalityCheck(
                modality="face", comparison="1:N", matched=True, score=0.71, threshold=0.42
            )
            body = Identification(
                mode="self_service", rule="face_1n_if_safe", checks=[check], outcome="matched"
            )
            return IdentificationEvent(**common, body=body)
        movement = MovementVerified(
            from_location="wing" if tick % 4 == 1 else "workshop",
            to_location="workshop" if tick % 4 == 1 else "wing",
            modalities=["badge", "face"],
            outcome="confirmed",
        )
        return MovementVerifiedEvent(**common, actor="officer-7", body=movement)

    def publish(self, tick: int) -> None:
        event = self.event(tick)
        payload = encode(event)
        with self.lock:
            self.pending[event.id] = (tick, time.perf_counter())
        self.sent.append(event.id)
        self.backlog.append((topics.event_topic(SITE, self.device, event.event_type), payload))
        self.flush()

    def flush(self) -> None:
        """Hand queued events to paho in seq order; offline, keep them (as the outbox does)."""
        while self.backlog:
            try:
                self.bus.publish(*self.backlog[0])
            except BusUnavailable:
                self.deferred += 1
                return
            self.backlog.popleft()

    def outstanding(self) -> int:
        with self.lock:
            return len(self.pending)

    def _on_ack(self, message: Message) -> None:
        ack = decode_message(message.payload, Ack)
        now = time.perf_counter()
        with self.lock:
            for event_id in ack.committed:
                entry = self.pending.pop(event_id, None)
                if entry is None:
                    self.repeated_acks += 1  # the hub acknowledged a repeat again
                else:
                    self.acked += 1
                    self.latencies.append((entry[0], now - entry[1]))
            self.rejected += len(ack.rejected)

    def _on_disconnected(self) -> None:
        self.disconnects += 1


@dataclass
class KioskReport:
    device: str
    sent: list[str]  # event ids in seq order
    acked: int
    repeated_acks: int
    rejected: int
    disconnects: int
    deferred: int


@dataclass
class GroupReport:
    kiosks: list[KioskReport]
    latencies: list[tuple[int, float]]  # (second of the run, seconds until the ack)
    max_lag: float  # how late the publisher was on its schedule, at worst
    connected: int


def run_group(
    numbers: list[int],
    total: int,
    broker: BrokerConfig,
    certs: Path,
    seconds: int,
    drain: float,
    start_at: Synchronized,  # type: ignore[type-arg]
    go: MpEvent,
    out: Queue[tuple[str, int, Any]],
) -> None:
    """A client process: connect its kiosks, wait for the start, publish, drain, report."""
    kiosks = []
    for n in numbers:
        folder = certs / device_name(n)
        tls = TlsConfig(
            cafile=certs / "ca.crt", certfile=folder / "device.crt", keyfile=folder / "device.key"
        )
        kiosks.append(SimulatedKiosk(n, total, broker.model_copy(update={"tls": tls})))
    for kiosk in kiosks:
        kiosk.bus.start()
        time.sleep(0.02)  # do not flood the broker's listen backlog with handshakes
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not all(k.bus.connected for k in kiosks):
        time.sleep(0.05)
    connected = sum(k.bus.connected for k in kiosks)
    out.put(("ready", connected, None))
    go.wait()
    begin = float(start_at.value)
    max_lag = 0.0
    if begin > 0:
        for tick in range(seconds):
            for kiosk in kiosks:
                delay = begin + tick + kiosk.offset - time.time()
                if delay > 0:
                    time.sleep(delay)
                else:
                    max_lag = max(max_lag, -delay)
                kiosk.publish(tick)
        # A hub that is behind keeps acknowledging: wait as long as acks still come.
        least, progress = sum(k.outstanding() for k in kiosks), time.monotonic()
        while least and time.monotonic() - progress < drain:
            for kiosk in kiosks:
                kiosk.flush()
            time.sleep(0.05)
            outstanding = sum(k.outstanding() for k in kiosks)
            if outstanding < least:
                least, progress = outstanding, time.monotonic()
    for kiosk in kiosks:
        kiosk.bus.stop()
    report = GroupReport(
        kiosks=[
            KioskReport(
                k.device, k.sent, k.acked, k.repeated_acks, k.rejected, k.disconnects, k.deferred
            )
            for k in kiosks
        ],
        latencies=[entry for k in kiosks for entry in k.latencies],
        max_lag=max_lag,
        connected=connected,
    )
    out.put(("done", 0, report))


# --- CPU and memory from /proc ------------------------------------------------------------


def _ticks_and_rss(pid: int) -> tuple[int, int] | None:
    """CPU ticks (user + system) and resident memory in bytes, or None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    rss = next(
        (int(line.split()[1]) * 1024 for line in status.splitlines() if line.startswith("VmRSS:")),
        0,
    )
    return ticks, rss


def _machine_ticks() -> tuple[int, int]:
    """(busy, total) ticks of all cores together."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle, iowait
    return sum(values[:8]) - idle, sum(values[:8])


@dataclass
class Usage:
    cpu: list[float] = field(default_factory=list)  # % of one core, per sample
    rss: list[int] = field(default_factory=list)  # bytes, per sample

    def line(self, name: str, memory: bool = True) -> str:
        if not self.cpu:
            return f"  {name:28} no samples"
        text = (
            f"  {name:28} CPU avg {statistics.fmean(self.cpu):5.1f} %  max {max(self.cpu):5.1f} %"
        )
        if memory and self.rss:
            avg = statistics.fmean(self.rss) / 2**20
            text += f"   RSS avg {avg:6.1f} MB  max {max(self.rss) / 2**20:6.1f} MB"
        return text


class Sampler(threading.Thread):
    """Samples each group of processes every second: CPU % (of one core) and RSS."""

    def __init__(self, groups: dict[str, Callable[[], list[int]]]) -> None:
        super().__init__(daemon=True)
        self.groups = groups
        self.usage = {name: Usage() for name in groups}
        self.machine: list[float] = []  # busy % of one core, all cores added up
        self.others: list[float] = []  # the machine less the groups: other work, the kernel
        self._done = threading.Event()

    def run(self) -> None:
        previous: dict[int, int] = {}
        last = time.monotonic()
        busy0, total0 = _machine_ticks()
        while not self._done.wait(1.0):
            now = time.monotonic()
            elapsed, last = now - last, now
            current: dict[int, int] = {}
            for name, pids in self.groups.items():
                cpu, rss = 0.0, 0
                for pid in pids():
                    sample = _ticks_and_rss(pid)
                    if sample is None:
                        continue
                    current[pid] = sample[0]
                    if pid in previous:
                        cpu += (sample[0] - previous[pid]) / CLK_TCK / elapsed * 100
                    rss += sample[1]
                self.usage[name].cpu.append(cpu)
                self.usage[name].rss.append(rss)
            previous = current
            busy, total = _machine_ticks()
            cores = os.cpu_count() or 1
            machine = (busy - busy0) / max(total - total0, 1) * 100 * cores
            self.machine.append(machine)
            self.others.append(max(0.0, machine - sum(u.cpu[-1] for u in self.usage.values())))
            busy0, total0 = busy, total

    def finish(self) -> None:
        self._done.set()
        self.join()


# --- the run --------------------------------------------------------------------------------


@dataclass
class FleetResult:
    kiosks: int
    seconds: int
    workers: int
    connected: int
    keys_seconds: float
    signing_seconds: float
    connect_seconds: float
    sent: int
    stored: int
    acked: int
    lost: int
    duplicated: int
    unexpected: int  # stored events that no kiosk sent
    bookkeeping_mismatches: int  # device_streams rows that disagree with the events
    seq_gaps: int
    dead_letters: int
    repeated_acks: int
    rejected: int
    disconnects: int
    deferred: int
    max_lag: float
    elapsed: float  # first scheduled publish → last commit
    latencies: list[tuple[int, float]]
    usage: dict[str, Usage]
    machine_cpu: list[float]
    other_cpu: list[float]
    versions: str

    @property
    def ok(self) -> bool:
        return self.lost == 0 and self.duplicated == 0 and self.unexpected == 0


def raise_fd_limit(needed: int) -> None:
    """Mosquitto holds a descriptor per kiosk (its max_connections is unlimited by default).
    Raised here rather than in a preexec_fn: LocalBroker takes none, and children inherit it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= needed:
        return
    if hard != resource.RLIM_INFINITY and hard < needed:
        try:  # root may raise the hard limit too
            resource.setrlimit(resource.RLIMIT_NOFILE, (needed, needed))
            return
        except (ValueError, OSError):
            raise SystemExit(
                f"{needed} file descriptors are needed but the hard limit is {hard}: "
                f"raise it (ulimit -Hn {needed}) or run fewer kiosks"
            ) from None
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


def make_identities(ca: SiteCA, folder: Path, kiosks: int) -> tuple[float, float]:
    """Each kiosk's key and CSR (as made on the device), then the CA's signature."""
    started = time.perf_counter()
    requests = [new_device_key(device_name(n)) for n in range(kiosks)]
    keys_seconds = time.perf_counter() - started
    started = time.perf_counter()
    issued = [
        ca.sign_device(csr, device_identity(SITE, device_name(n)))
        for n, (_, csr) in enumerate(requests)
    ]
    signing_seconds = time.perf_counter() - started
    for n, ((key, _), cert) in enumerate(zip(requests, issued, strict=True)):
        device = folder / device_name(n)
        device.mkdir(parents=True)
        (device / "device.key").write_bytes(key)
        (device / "device.crt").write_bytes(cert.pem)
    (folder / "ca.crt").write_bytes(ca.cert_path.read_bytes())
    return keys_seconds, signing_seconds


def seed(url: str, kiosks: int) -> None:
    """Register the kiosks, 20 to a wing, and one person per kiosk on its wing."""
    engine = open_engine(url)
    upgrade(engine)
    with Session(engine) as session, session.begin():
        for n in range(kiosks):
            wing = f"w{n // KIOSKS_PER_WING:02d}"
            roster.register_device(session, SITE, device_name(n), wing, "self_service")
            roster.admit(
                session,
                detainee_id=person(n),
                prison_number=f"F-{n:05d}",
                name_latin=f"Fleet Person {n}",
                name_arabic=f"شخص {n}",
                site=SITE,
                wing=wing,
            )
    engine.dispose()


@contextmanager
def hub_workers(config: Path, folder: Path, count: int) -> Iterator[list[int]]:
    procs = []
    try:
        for n in range(1, count + 1):
            procs.append(spawn_ingest_worker(config, str(n), folder / f"ingest-{n}.log"))
        yield [p.pid for p in procs]
    finally:
        for proc in procs:
            stop(proc)


class PostgresBackends:
    """The server processes serving the scratch database (the workers' connections)."""

    def __init__(self, admin_url: str, database: str) -> None:
        url = make_url(admin_url)
        self.database = database
        self.connection = psycopg.connect(
            host=url.host,
            port=url.port or 5432,
            user=url.username,
            password=url.password,
            dbname=url.database or "postgres",
            autocommit=True,
        )

    def __call__(self) -> list[int]:
        rows = self.connection.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s", (self.database,)
        ).fetchall()
        return [int(row[0]) for row in rows]


def count_in_database(url: str, reports: list[KioskReport]) -> dict[str, Any]:
    """Compare what the kiosks sent with the hub's rows."""
    engine = open_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                select(Event.device, Event.id, Event.seq, Event.received_at).where(
                    Event.site == SITE
                )
            ).all()
            streams = {
                row.device: (row.event_count, row.max_seq)
                for row in connection.execute(
                    select(DeviceStream.device, DeviceStream.event_count, DeviceStream.max_seq)
                )
            }
            gaps = connection.scalar(select(func.count()).select_from(SeqGap)) or 0
            dead = connection.scalar(select(func.count()).select_from(DeadLetter)) or 0
    finally:
        engine.dispose()
    stored_ids = {row.id for row in rows}
    sent_ids = {event_id for report in reports for event_id in report.sent}
    per_device: dict[str, int] = {}
    for row in rows:
        per_device[row.device] = per_device.get(row.device, 0) + 1
    mismatches = 0
    for report in reports:
        expected = (per_device.get(report.device, 0), len(report.sent))
        if report.sent and streams.get(report.device) != expected:
            mismatches += 1
    return {
        "stored": len(rows),
        "lost": len(sent_ids - stored_ids),
        "duplicated": len(rows) - len({(row.device, row.seq) for row in rows}),
        "unexpected": len(stored_ids - sent_ids),
        "mismatches": mismatches,
        "gaps": int(gaps),
        "dead": int(dead),
        "last_commit": max((row.received_at for row in rows), default=None),
    }


def run(
    kiosks: int,
    seconds: int,
    workers: int,
    *,
    per_process: int = 50,
    drain: float = 60.0,
    admin_url: str = DEFAULT_POSTGRES_ADMIN_URL,
    log: Callable[[str], None] = lambda _: None,
) -> FleetResult:
    raise_fd_limit(kiosks * 3 + 1024)
    with tempfile.TemporaryDirectory(prefix="masar-fleet-") as tmp, ExitStack() as stack:
        folder = Path(tmp)
        ca = SiteCA.create(folder / "ca", SITE)
        server_cert, server_key = ca.issue_server(folder / "server", "broker", ["127.0.0.1"])
        hub_cert, hub_key = ca.issue_hub(folder / "hub")
        keys_seconds, signing_seconds = make_identities(ca, folder / "kiosks", kiosks)
        log(
            f"{kiosks} device keys and CSRs in {keys_seconds:.2f} s, "
            f"signed by the site CA in {signing_seconds:.2f} s"
        )
        acl = folder / "masar.acl"
        acl.write_text(render_acl())
        tls = BrokerTls(ca.cert_path, server_cert, server_key, ca.crl_path)
        broker = stack.enter_context(LocalBroker(folder / "broker", tls=tls, acl_file=acl))
        assert broker.process is not None
        broker_pid = broker.process.pid
        url = stack.enter_context(postgres_database(admin_url))
        seed(url, kiosks)
        hub_toml = folder / "hub.toml"
        hub_toml.write_text(
            f'database_url = "{url}"\naudit_key_file = "{folder}/audit.key"\n'
            f"[broker]\nport = {broker.port}\n"
            f'[broker.tls]\ncafile = "{ca.cert_path}"\ncertfile = "{hub_cert}"\n'
            f'keyfile = "{hub_key}"\n'
        )
        worker_pids = stack.enter_context(hub_workers(hub_toml, folder, workers))
        backends = PostgresBackends(admin_url, str(make_url(url).database))
        stack.callback(backends.connection.close)

        context = multiprocessing.get_context("spawn")
        out: Queue[tuple[str, int, Any]] = context.Queue()
        start_at = context.Value("d", 0.0)
        go = context.Event()
        numbers = list(range(kiosks))
        groups = [numbers[i : i + per_process] for i in range(0, kiosks, per_process)]
        processes = [
            context.Process(
                target=run_group,
                args=(
                    group,
                    kiosks,
                    BrokerConfig(port=broker.port),
                    folder / "kiosks",
                    seconds,
                    drain,
                    start_at,
                    go,
                    out,
                ),
                daemon=True,
            )
            for group in groups
        ]
        started = time.perf_counter()
        for process in processes:
            process.start()
        stack.callback(_terminate, processes)
        connected = sum(_receive(out, "ready", 180)[1] for _ in processes)
        connect_seconds = time.perf_counter() - started
        log(
            f"{connected} of {kiosks} kiosks connected over TLS in {connect_seconds:.1f} s "
            f"({len(processes)} client processes, interpreters starting included)"
        )
        if connected < kiosks:
            go.set()  # start_at stays 0: the groups stop without publishing
            raise RuntimeError(f"only {connected} of {kiosks} kiosks could connect")

        sampler = Sampler(
            {
                "broker (Mosquitto)": _fixed(broker_pid),
                **{f"ingest worker {n}": _fixed(pid) for n, pid in enumerate(worker_pids, 1)},
                "PostgreSQL backends": backends,
                f"kiosk clients ({len(processes)} processes)": lambda: [
                    p.pid for p in processes if p.pid is not None
                ],
            }
        )
        begin = time.time() + 1.0
        start_at.value = begin
        sampler.start()
        go.set()
        log(f"publishing for {seconds} s …")
        reports = [_receive(out, "done", seconds * 20 + drain + 600)[2] for _ in processes]
        sampler.finish()
        for process in processes:
            process.join(30)
        kiosk_reports = [k for report in reports for k in report.kiosks]
        counts = count_in_database(url, kiosk_reports)
        last = counts["last_commit"]
        elapsed = (last - datetime.fromtimestamp(begin, UTC)).total_seconds() if last else 0.0
        return FleetResult(
            kiosks=kiosks,
            seconds=seconds,
            workers=workers,
            connected=connected,
            keys_seconds=keys_seconds,
            signing_seconds=signing_seconds,
            connect_seconds=connect_seconds,
            sent=sum(len(k.sent) for k in kiosk_reports),
            stored=counts["stored"],
            acked=sum(k.acked for k in kiosk_reports),
            lost=counts["lost"],
            duplicated=counts["duplicated"],
            unexpected=counts["unexpected"],
            bookkeeping_mismatches=counts["mismatches"],
            seq_gaps=counts["gaps"],
            dead_letters=counts["dead"],
            repeated_acks=sum(k.repeated_acks for k in kiosk_reports),
            rejected=sum(k.rejected for k in kiosk_reports),
            disconnects=sum(k.disconnects for k in kiosk_reports),
            deferred=sum(k.deferred for k in kiosk_reports),
            max_lag=max(report.max_lag for report in reports),
            elapsed=elapsed,
            latencies=[entry for report in reports for entry in report.latencies],
            usage=sampler.usage,
            machine_cpu=sampler.machine,
            other_cpu=sampler.others,
            versions=_versions(broker, url),
        )


def _fixed(pid: int) -> Callable[[], list[int]]:
    return lambda: [pid]


def _terminate(processes: Sequence[BaseProcess]) -> None:
    for process in processes:
        if process.is_alive():
            process.terminate()


def _receive(out: Queue[tuple[str, int, Any]], kind: str, timeout: float) -> tuple[str, int, Any]:
    message = out.get(timeout=timeout)
    if message[0] != kind:
        raise RuntimeError(f"a client process said {message[0]!r}, expected {kind!r}")
    return message


def _versions(broker: LocalBroker, url: str) -> str:
    log = broker.log_path.read_text(errors="replace")
    mosquitto = next(
        (
            line.split("mosquitto version ")[1].split()[0]
            for line in log.splitlines()
            if "mosquitto version " in line
        ),
        "?",
    )
    engine = open_engine(url)
    try:
        with engine.connect() as connection:
            postgres = connection.exec_driver_sql("SHOW server_version").scalar()
    finally:
        engine.dispose()
    return f"Mosquitto {mosquitto}, PostgreSQL {str(postgres).split()[0]}"


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)] if ordered else math.nan


def report(result: FleetResult) -> str:
    ms = [latency * 1000 for _, latency in result.latencies]
    offered = result.sent / result.seconds if result.seconds else 0.0
    throughput = result.stored / result.elapsed if result.elapsed > 0 else 0.0
    window = 60 if result.seconds >= 120 else max(result.seconds, 1)
    by_window: dict[int, list[float]] = {}
    for tick, latency in result.latencies:
        by_window.setdefault(tick // window, []).append(latency * 1000)
    lines = [
        f"{result.kiosks} kiosks × {result.seconds} s at 1 event/s each, "
        f"{result.workers} ingest workers; {result.versions}; TLS with a certificate per "
        "kiosk, require_certificate, ACL",
        f"setup: {result.kiosks} keys + CSRs {result.keys_seconds:.2f} s, signed "
        f"{result.signing_seconds:.2f} s; {result.connected} TLS connections in "
        f"{result.connect_seconds:.1f} s",
        f"events: sent {result.sent}, stored {result.stored}, acked {result.acked}; "
        f"LOST {result.lost}, DUPLICATED {result.duplicated} (+ {result.unexpected} stored "
        f"that nobody sent); device_streams mismatches {result.bookkeeping_mismatches}, "
        f"seq gaps {result.seq_gaps}, dead letters {result.dead_letters}",
        f"throughput: offered {offered:.1f} events/s; stored {throughput:.1f} events/s "
        f"(first scheduled publish → last commit {result.elapsed:.1f} s)",
        f"end-to-end latency (event built → hub's ack after commit), {len(ms)} events: "
        f"p50 {percentile(ms, 0.5):.1f} ms, p99 {percentile(ms, 0.99):.1f} ms, "
        f"max {max(ms, default=math.nan):.1f} ms",
        f"  p50 / p99 per {window} s: "
        + ", ".join(
            f"{percentile(v, 0.5):.0f}/{percentile(v, 0.99):.0f}"
            for _, v in sorted(by_window.items())
        )
        + " ms",
        f"kiosks: publisher behind schedule by {result.max_lag * 1000:.0f} ms at worst; "
        f"{result.disconnects} disconnects, {result.deferred} publishes deferred offline, "
        f"{result.repeated_acks} repeated acks, {result.rejected} rejected",
        f"CPU (100 % = one core; this machine has {os.cpu_count()} cores) and memory, "
        f"sampled every second ({len(result.machine_cpu)} samples):",
        *(
            usage.line(name, memory=not name.startswith("PostgreSQL"))
            for name, usage in result.usage.items()
        ),
        Usage(cpu=result.other_cpu).line("everything else (not ours)", memory=False),
        Usage(cpu=result.machine_cpu).line("whole machine (all cores)", memory=False),
        ("OK: 0 lost, 0 duplicated" if result.ok else "FAILED: events lost or duplicated"),
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kiosks", type=int, default=500)
    parser.add_argument("--seconds", type=int, default=300, help="seconds of publishing")
    parser.add_argument("--workers", type=int, default=2, help="`masar hub ingest` processes")
    parser.add_argument("--per-process", type=int, default=50, help="kiosks per client process")
    parser.add_argument(
        "--drain",
        type=float,
        default=60.0,
        help="after publishing, stop waiting for acks once none has come for this long",
    )
    args = parser.parse_args()
    print(describe(("paho-mqtt", "sqlalchemy", "psycopg", "pydantic", "cryptography")), flush=True)
    result = run(
        args.kiosks,
        args.seconds,
        args.workers,
        per_process=args.per_process,
        drain=args.drain,
        admin_url=os.environ.get("MASAR_TEST_POSTGRES_URL", DEFAULT_POSTGRES_ADMIN_URL),
        log=lambda line: print(line, flush=True),
    )
    print(report(result), flush=True)
    sys.exit(0 if result.ok else 1)


if __name__ == "__main__":
    main()

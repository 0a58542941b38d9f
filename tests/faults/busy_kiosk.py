"""A busy kiosk for the fault suite: the real agent (outbox drain, syncs, status) and, in the
same process, one session after another through the kiosk's own code, as fast as it goes.

    python -m tests.faults.busy_kiosk --config kiosk.json --form-version 2025.1 --seed 7

Each session starts only if ``kiosk.health.check`` lets it (as the touchscreen does); one
identification goes through ``kiosk.identify.IdentificationFlow`` (a badge the kiosk does not
know, or now and then a staff login with badge and PIN, sometimes after a wrong PIN), then a
person answers the intake questionnaire (``kiosk.drafts``: a draft saved at each answer,
sent or left half-done) or asks to join a programme; every few sessions a sync is asked for.
A storage error ends the session, as the screen would, and the loop goes on. So a SIGKILL
lands anywhere: in a write, an ack, a sync page, a PIN check.

SIGUSR1: stop starting sessions, wait until the hub has acknowledged every event, sync,
exit 0 (3 if the outbox did not drain in --drain seconds). Prints one line per step,
flushed: ``ready``, ``session N``, ``step KIND``, ``refused REASON``, ``failed REASON``,
``done ...``.
"""

from __future__ import annotations

import argparse
import logging
import random
import signal
import sqlite3
import sys
import threading
import time
from pathlib import Path

from kiosk import drafts, health, outbox, store
from kiosk.agent import Agent
from kiosk.caretaker import Job
from kiosk.config import load_config
from kiosk.flow_parts import KioskParts
from kiosk.identify import IdentificationFlow
from kiosk.policy import PolicyConfig
from protocol.ids import utc_now

# The wing tests/faults/harness.py seeds at the hub. Only kiosk code is imported here, so that
# a restarted kiosk is in its session loop quickly.
SITE, DEVICE, WING = "faults", "wing-f-1", "f"
STAFF_ID, STAFF_BADGE, STAFF_PIN, WRONG_PIN = "s-nadia", "5EAF0F01", "2468", "1357"
UNKNOWN_BADGE = "DEADBEEF"
PEOPLE = tuple(f"d-{n:02d}" for n in range(8))
PROGRAMMES = ("p-bakery", "p-welding")
FORM_ID = "masar_intake"
# A complete intake: five answers the hub turns into five profile facts.
INTAKE_ANSWERS = {
    "education_level": "3",
    "qualification": "CAP soudure",
    "last_occupation": "7",
    "skills": "welding carpentry",
    "other_skill": "",
}


def say(line: str) -> None:
    print(line, flush=True)


class BusyKiosk:
    def __init__(self, config_path: Path, form_version: str, seed: int, pause: float) -> None:
        self.config = load_config(config_path)
        self.pause = pause
        self.form_version = form_version
        self.rng = random.Random(seed)
        self.finishing = threading.Event()
        self.agent = Agent(self.config, status_every=2.0)
        self.db = store.open_store(self.config.store_path)
        self.flow: IdentificationFlow | None = None

    def run(self, drain: float) -> int:
        self.agent.start()
        try:
            self._wait_for_staff()
            parts = KioskParts(
                store_path=self.config.store_path,
                vault=self.agent.vault,
                policy=PolicyConfig(),
                calibrations={},
                site=self.config.site,
                device=self.config.device,
            )
            self.flow = IdentificationFlow(parts, background=False)
            say("ready")
            sessions = 0
            while not self.finishing.is_set():
                say("step check")
                reason = health.check(self.db, self.config.data_dir).reason
                if reason is not None:
                    say(f"refused {reason}")
                    self.finishing.wait(0.5)
                    continue
                sessions += 1
                say(f"session {sessions}")
                try:
                    self.session(sessions)
                except sqlite3.Error as error:  # the screen says out of service; nothing saved
                    say(f"failed {health.explain_storage_error(error)}")
                    self.finishing.wait(0.2)
                self.finishing.wait(self.pause)
            return self.drain(drain, sessions)
        finally:
            if self.flow is not None:
                self.flow.close()
            self.agent.stop()
            self.db.close()

    def _wait_for_staff(self) -> None:
        """The first start needs the wing's records from the hub (the first sync)."""
        deadline = time.monotonic() + 60
        while (
            self.db.execute("SELECT 1 FROM staff WHERE staff_id = ?", [STAFF_ID]).fetchone() is None
        ):
            if time.monotonic() > deadline:
                raise SystemExit("no staff records after 60 s: the first sync did not happen")
            time.sleep(0.1)

    def session(self, number: int) -> None:
        self.identify()
        person = self.rng.choice(PEOPLE)
        if self.rng.random() < 0.75:
            self.answer(person)
        else:
            say("step training")
            drafts.request_training(
                self.db,
                site=self.config.site,
                device=self.config.device,
                detainee_id=person,
                programme_id=self.rng.choice(PROGRAMMES),
            )
        if number % 4 == 0:
            say("step sync")
            self.agent.caretaker.request(Job("sync"))

    def identify(self) -> None:
        """One identification event: mostly a badge the kiosk does not know; now and then a
        staff login with badge and PIN (its scrypt check takes ~0.1 s, so if every session
        had one, nearly every kill would land in it), sometimes after a wrong PIN."""
        assert self.flow is not None
        say("step identify")
        self.flow.start(staff_login=True)
        draw = self.rng.random()
        if draw < 0.95:
            self.flow.present_badge(UNKNOWN_BADGE)
        else:
            self.flow.present_badge(STAFF_BADGE)
            if draw < 0.96:
                self.flow.present_pin(WRONG_PIN)
            self.flow.present_pin(STAFF_PIN)
        self.flow.cancel()

    def answer(self, person: str) -> None:
        """The intake questionnaire: resume the draft if there is one, save after each
        answer, then send it (or walk away half-way)."""
        vault = self.agent.vault
        say("step answer")
        draft = drafts.load_draft(self.db, vault, person, FORM_ID)
        answers = dict(draft.answers) if draft is not None else {}
        names = list(INTAKE_ANSWERS)
        for name in names[len(answers) : len(answers) + self.rng.randint(1, 3)]:
            answers[name] = INTAKE_ANSWERS[name]
            drafts.save_progress(
                self.db,
                vault,
                site=self.config.site,
                device=self.config.device,
                detainee_id=person,
                form_id=FORM_ID,
                version=self.form_version,
                language="ar",
                current=name,
                answers=answers,
            )
            # A person takes seconds per answer; drafts carry millisecond times, and two of one
            # person in the same millisecond would tie (the hub then keeps either).
            time.sleep(0.002)
        if len(answers) == len(names) or self.rng.random() < 0.3:
            say("step send")
            drafts.submit(
                self.db,
                vault,
                site=self.config.site,
                device=self.config.device,
                detainee_id=person,
                form_id=FORM_ID,
                version=self.form_version,
                language="ar",
                started_at=utc_now(),
                answers={**INTAKE_ANSWERS, **answers},
            )

    def drain(self, timeout: float, sessions: int) -> int:
        say("finishing")
        deadline = time.monotonic() + timeout
        while True:
            try:
                if outbox.depth(self.db) == 0:
                    break
            except sqlite3.Error:
                pass
            if time.monotonic() > deadline:
                say(f"done sessions={sessions} drained=no")
                return 3
            time.sleep(0.1)
        # What the person would see next comes from the hub: one more sync after the acks.
        self.agent.caretaker.request(Job("sync"))
        self.agent.caretaker.wait_idle(30)
        say(f"done sessions={sessions} drained=yes")
        return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--form-version", required=True, help="the intake version the hub has")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--drain", type=float, default=150.0, help="seconds to wait for acks")
    parser.add_argument(
        "--pause",
        type=float,
        default=0.03,
        help="seconds between sessions: by default ~50 events/s, far busier than a wing yet "
        "within what the hub ingests on two cores, so a backlog drains in seconds",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s"
    )
    kiosk = BusyKiosk(args.config, args.form_version, args.seed, args.pause)
    signal.signal(signal.SIGUSR1, lambda *_: kiosk.finishing.set())
    return kiosk.run(args.drain)


if __name__ == "__main__":
    sys.exit(main())

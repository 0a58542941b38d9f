"""Per-device ``seq`` bookkeeping that tolerates out-of-order arrival.

A shared subscription round-robins one device's events over several workers
(PERFORMANCE.md §7.3), so seq 7 may commit before seq 6. We keep the highest
seq seen and the runs still missing below it; a late arrival shrinks or splits
its run. Whatever remains in ``seq_gaps`` is really missing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from sqlalchemy import delete, select, tuple_
from sqlalchemy.orm import Session

from hub.db import dialect_insert
from hub.models import DeviceStream, SeqGap


def record_seqs(
    session: Session, by_device: Mapping[tuple[str, str], Iterable[int]], now: datetime
) -> None:
    """Note newly committed seqs, per (site, device). Locks the devices' stream rows
    (PostgreSQL) in one statement, in (site, device) order, so two workers never deadlock.

    A batch from many kiosks costs three statements (create missing rows, lock and read the
    rows, write them back), not three per kiosk: with 500 kiosks a batch of 100 events
    touches about 100 devices (bench/bench_fleet.py)."""
    wanted = {key: sorted(set(seqs)) for key, seqs in by_device.items()}
    wanted = {key: seqs for key, seqs in wanted.items() if seqs}
    if not wanted:
        return
    keys = sorted(wanted)
    # Create the rows of first-time devices, without racing another worker.
    session.execute(
        dialect_insert(session, DeviceStream).on_conflict_do_nothing(
            index_elements=["site", "device"]
        ),
        [{"site": s, "device": d, "max_seq": 0, "event_count": 0} for s, d in keys],
    )
    streams = {
        (stream.site, stream.device): stream
        for stream in session.scalars(
            select(DeviceStream)
            .where(tuple_(DeviceStream.site, DeviceStream.device).in_(keys))
            .order_by(DeviceStream.site, DeviceStream.device)
            .with_for_update()
            .execution_options(populate_existing=True)  # the values read under the lock
        )
    }
    for key in keys:
        site, device = key
        stream = streams[key]
        for seq in wanted[key]:
            if seq > stream.max_seq:
                if seq > stream.max_seq + 1:
                    session.add(
                        SeqGap(
                            site=site,
                            device=device,
                            first_seq=stream.max_seq + 1,
                            last_seq=seq - 1,
                            noted_at=now,
                        )
                    )
                stream.max_seq = seq
            else:
                _fill(session, site, device, seq, now)
        stream.event_count += len(wanted[key])
        stream.last_received_at = now
    session.flush()


def _fill(session: Session, site: str, device: str, seq: int, now: datetime) -> None:
    session.flush()
    gap = session.execute(
        select(SeqGap).where(
            SeqGap.site == site,
            SeqGap.device == device,
            SeqGap.first_seq <= seq,
            SeqGap.last_seq >= seq,
        )
    ).scalar_one_or_none()
    if gap is None:
        return  # not missing: seqs are unique per device, so this cannot happen twice
    if gap.first_seq == gap.last_seq:
        session.execute(delete(SeqGap).where(SeqGap.id == gap.id))
    elif seq == gap.first_seq:
        gap.first_seq = seq + 1
    elif seq == gap.last_seq:
        gap.last_seq = seq - 1
    else:
        session.add(
            SeqGap(site=site, device=device, first_seq=seq + 1, last_seq=gap.last_seq, noted_at=now)
        )
        gap.last_seq = seq - 1


def missing_seqs(session: Session, site: str, device: str) -> list[tuple[int, int]]:
    """The runs (first, last) still missing for a device, in order."""
    rows = session.execute(
        select(SeqGap.first_seq, SeqGap.last_seq)
        .where(SeqGap.site == site, SeqGap.device == device)
        .order_by(SeqGap.first_seq)
    ).all()
    return [(first, last) for first, last in rows]

"""Per-device ``seq`` bookkeeping that tolerates out-of-order arrival.

A shared subscription round-robins one device's events over several workers
(PERFORMANCE.md §7.3), so seq 7 may commit before seq 6. We keep the highest
seq seen and the runs still missing below it; a late arrival shrinks or splits
its run. Whatever remains in ``seq_gaps`` is really missing.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from hub.db import dialect_insert
from hub.models import DeviceStream, SeqGap


def record_seqs(
    session: Session, site: str, device: str, seqs: Iterable[int], now: datetime
) -> None:
    """Note newly committed seqs of one device. Locks its stream row (PostgreSQL)."""
    ordered = sorted(set(seqs))
    if not ordered:
        return
    # Create the row if this is the device's first event, without racing another worker.
    session.execute(
        dialect_insert(session, DeviceStream)
        .values(site=site, device=device, max_seq=0, event_count=0)
        .on_conflict_do_nothing(index_elements=["site", "device"])
    )
    stream = session.execute(
        select(DeviceStream)
        .where(DeviceStream.site == site, DeviceStream.device == device)
        .with_for_update()
    ).scalar_one()
    for seq in ordered:
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
    stream.event_count += len(ordered)
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

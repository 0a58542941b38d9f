"""The fleet at a glance: events received, each kiosk's stream and gaps, kiosk states and
messages parked as invalid. Shown on the fleet page and as JSON at /healthz."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub import __version__
from hub.models import DeadLetter, DeviceStream, Event, KioskState, SeqGap, as_utc
from protocol.ids import format_timestamp


def overview(session: Session) -> dict[str, Any]:
    by_type = dict(session.execute(select(Event.type, func.count()).group_by(Event.type)).all())
    streams = session.execute(
        select(DeviceStream).order_by(DeviceStream.site, DeviceStream.device)
    ).scalars()
    gaps = session.execute(select(SeqGap).order_by(SeqGap.site, SeqGap.device)).scalars()
    states = session.execute(select(KioskState)).scalars()
    dead = session.execute(select(DeadLetter).order_by(DeadLetter.id.desc()).limit(20)).scalars()
    return {
        "version": __version__,
        "events_by_type": by_type,
        "events_total": sum(by_type.values()),
        "streams": [
            {
                "site": s.site,
                "device": s.device,
                "max_seq": s.max_seq,
                "event_count": s.event_count,
            }
            for s in streams
        ],
        "gaps": [
            {"site": g.site, "device": g.device, "first": g.first_seq, "last": g.last_seq}
            for g in gaps
        ],
        "kiosks": [
            {
                "site": k.site,
                "device": k.device,
                "state": k.state,
                "outbox_depth": k.status.get("outbox_depth"),
                "mode": k.status.get("mode"),
                "last_sync_at": k.status.get("last_sync_at"),
                "problems": k.status.get("problems") or [],
                "updated_at": format_timestamp(as_utc(k.updated_at)),
            }
            for k in states
        ],
        "dead_letters": [{"id": d.id, "topic": d.topic, "reason": d.reason} for d in dead],
        "dead_letters_total": session.scalar(select(func.count()).select_from(DeadLetter)),
    }

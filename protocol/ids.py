"""Identifiers and timestamps used on the wire.

Python 3.11 has no uuid.uuid7 (added in 3.14), so it is written here: event ids
sort by creation time, which keeps hub indexes compact and logs readable.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from datetime import UTC, datetime

# JSON Schema patterns. In Python, match them with re.fullmatch: re.match lets "$" accept a
# trailing newline, which pydantic (and every other JSON Schema validator) refuses.
UUID7_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"
IDENTIFIER_PATTERN = r"^[a-z0-9_-]{1,64}$"


def is_event_id(value: object) -> bool:
    return isinstance(value, str) and re.fullmatch(UUID7_PATTERN, value) is not None


def is_identifier(value: object) -> bool:
    return isinstance(value, str) and re.fullmatch(IDENTIFIER_PATTERN, value) is not None


def uuid7(now_ms: int | None = None) -> str:
    """A UUIDv7 (RFC 9562): 48-bit Unix milliseconds, then 74 random bits."""
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    rand = int.from_bytes(os.urandom(10), "big")
    rand_a = rand >> 68  # 12 bits
    rand_b = rand & ((1 << 62) - 1)  # 62 bits
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= rand_a << 64
    value |= 0b10 << 62
    value |= rand_b
    return str(uuid.UUID(int=value))


def utc_now() -> datetime:
    """The current time, timezone-aware in UTC (the only zone on the wire)."""
    return datetime.now(UTC)


def format_timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC with milliseconds and a trailing Z: 2026-11-29T05:02:50.123Z."""
    if moment.tzinfo is None:
        raise ValueError("timestamps on the wire must carry a timezone")
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"

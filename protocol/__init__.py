"""The Masar wire protocol: the only code both the kiosk and the hub import.

No Flask, no paho, no numpy here: models, topics and the JSON codec only.
"""

from protocol import topics
from protocol.codec import MAX_PAYLOAD_BYTES, decode_event, decode_message, dumps, encode
from protocol.errors import ProtocolError
from protocol.events import EVENT_TYPES, Event, EventBase
from protocol.ids import utc_now, uuid7
from protocol.messages import Ack, Command, Rejection, Status, SyncRequest, SyncResponse

__all__ = [
    "EVENT_TYPES",
    "MAX_PAYLOAD_BYTES",
    "Ack",
    "Command",
    "Event",
    "EventBase",
    "ProtocolError",
    "Rejection",
    "Status",
    "SyncRequest",
    "SyncResponse",
    "decode_event",
    "decode_message",
    "dumps",
    "encode",
    "topics",
    "utc_now",
    "uuid7",
]

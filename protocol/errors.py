"""The one error type raised for anything wrong on the wire."""


class ProtocolError(ValueError):
    """A message could not be accepted. The message names the field and is meant for people.

    ``event_id`` is set when the bad message still carried a readable id, so the
    hub can tell the kiosk which event it parked instead of leaving it to resend.
    """

    def __init__(self, message: str, *, event_id: str | None = None) -> None:
        super().__init__(message)
        self.event_id = event_id

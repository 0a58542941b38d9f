"""Badge readers on PC/SC (pcscd + pyscard): which badge was laid on the reader.

A badge is known by its UID, read with PC/SC GET DATA (``FF CA 00 00 00``): contactless
readers answer it for every ISO 14443 card. The UID, in upper-case hex, is the key of the
kiosk's badge cache: ``kiosk.caches.badge_owner(db, tap.uid)`` says whose badge it is.

The driver talks to pcscd through pyscard's thin ``scard`` layer and polls with
SCardGetStatusChange, so that it can start again from nothing when the ground moves: a
reader unplugged and plugged back (the PnP notification makes it list the readers again)
or pcscd restarted (the old context is dead; a new one is made). An outage shorter than
``outage_grace`` seconds is waited out; a longer one raises BadgeReaderError.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from smartcard import scard  # type: ignore[import-untyped]

from kiosk.sensors import (
    BadgeReaderError,
    CardTap,
    SensorHealth,
    UnreadableBadge,
)

GET_UID = [0xFF, 0xCA, 0x00, 0x00, 0x00]  # PC/SC part 3 GET DATA: the card's UID
UID_LENGTHS = (4, 7, 10)  # ISO/IEC 14443-3 single, double and triple size UIDs
_PNP = "\\\\?PnP?\\Notification"  # pseudo-reader whose state changes when readers come and go

_NO_SERVICE_CODES = {
    scard.SCARD_E_NO_SERVICE,
    scard.SCARD_E_SERVICE_STOPPED,
    scard.SCARD_F_COMM_ERROR,  # pcscd died during the call
    scard.SCARD_E_INVALID_HANDLE,  # a context from before a pcscd restart
}
_READER_GONE_CODES = {scard.SCARD_E_UNKNOWN_READER, scard.SCARD_E_READER_UNAVAILABLE}
_CARD_GONE_CODES = {
    scard.SCARD_E_NO_SMARTCARD,
    scard.SCARD_W_REMOVED_CARD,
    scard.SCARD_W_RESET_CARD,
    scard.SCARD_W_UNRESPONSIVE_CARD,
    scard.SCARD_W_UNPOWERED_CARD,
    scard.SCARD_E_NOT_TRANSACTED,
}

NOT_RUNNING = (
    "Badges cannot be read: the card reader service (pcscd) is not running. "
    "Restart the kiosk; if this happens again, call technical support."
)
NO_READER = "No badge reader is connected to this kiosk; check the reader's USB cable."
PULLED = (
    "The badge was taken away before it could be read. "
    "Hold it on the reader until the screen changes."
)


class _ServiceLost(Exception):
    """pcscd is not answering; the context must be made again."""


def _code(hresult: int) -> int:
    return hresult & 0xFFFFFFFF


def _explain(hresult: int) -> str:
    return f"{scard.SCardGetErrorMessage(hresult)} (0x{_code(hresult):08X})"


def checked_uid(response: bytes) -> str:
    """The UID in a GET DATA response (data + status word), or why it is not one."""
    if len(response) < 2:
        raise UnreadableBadge(PULLED)
    data, status = response[:-2], response[-2:]
    if status != b"\x90\x00":
        raise UnreadableBadge(
            f"This card did not give its number (it answered {status.hex(' ').upper()}); "
            "it is not a badge this kiosk can read."
        )
    if len(data) not in UID_LENGTHS:
        raise UnreadableBadge(
            f"This badge gave a number {len(data)} bytes long, but badge numbers are 4, 7 or "
            "10 bytes. It may be damaged or not a prison badge; ask for a new one."
        )
    return data.hex().upper()


class PcscCardReader:
    """Every PC/SC reader whose name starts with ``reader_prefix`` (all of them by default).

    Not thread-safe: one thread waits for cards; health() only reports what it last saw.
    """

    def __init__(
        self,
        *,
        reader_prefix: str = "",
        outage_grace: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.reader_prefix = reader_prefix
        self.outage_grace = outage_grace
        self._clock = clock
        self._context: Any = None
        self._states: dict[str, int] = {}  # reader -> the event state pcscd last reported
        self._reported: dict[str, int] = {}  # reader -> event counter of the card returned
        self._pnp_state = scard.SCARD_STATE_UNAWARE
        self._down_since: float | None = None
        self._problem: str | None = None
        try:
            self._open()
        except _ServiceLost:
            self._drop_context()
            self._problem = NOT_RUNNING

    def wait_for_card(self, timeout: float) -> CardTap | None:
        deadline = self._clock() + timeout
        while True:
            try:
                tap = self._next_tap(deadline)
            except _ServiceLost:
                self._drop_context()
                self._problem = NOT_RUNNING
                now = self._clock()
                if self._down_since is None:
                    self._down_since = now
                if now - self._down_since >= self.outage_grace:
                    raise BadgeReaderError(NOT_RUNNING) from None
                if now >= deadline:
                    return None
                time.sleep(min(0.2, deadline - now))
                continue
            return tap

    def health(self) -> SensorHealth:
        if self._problem is not None:
            return SensorHealth(ok=False, detail=self._problem)
        return SensorHealth(ok=True, detail="badge readers: " + ", ".join(sorted(self._states)))

    def close(self) -> None:
        self._drop_context()

    # -- pcscd ---------------------------------------------------------------------------

    def _open(self) -> Any:
        if self._context is None:
            hresult, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
            if hresult != scard.SCARD_S_SUCCESS:
                raise _ServiceLost(_explain(hresult))
            self._context = context
            self._list_readers()
            self._down_since = None
        return self._context

    def _drop_context(self) -> None:
        if self._context is not None:
            scard.SCardReleaseContext(self._context)  # fails harmlessly on a dead context
        self._context = None
        self._states, self._reported = {}, {}
        self._pnp_state = scard.SCARD_STATE_UNAWARE

    def _list_readers(self) -> None:
        hresult, names = scard.SCardListReaders(self._context, [])
        if _code(hresult) == scard.SCARD_E_NO_READERS_AVAILABLE:
            names = []
        elif hresult != scard.SCARD_S_SUCCESS:
            raise _ServiceLost(_explain(hresult))
        wanted = [str(name) for name in names if str(name).startswith(self.reader_prefix)]
        self._states = {name: self._states.get(name, scard.SCARD_STATE_UNAWARE) for name in wanted}
        self._reported = {n: c for n, c in self._reported.items() if n in self._states}
        self._problem = None if wanted else NO_READER

    def _next_tap(self, deadline: float) -> CardTap | None:
        self._open()
        while True:
            tap = self._read_new_card()
            if tap is not None:
                return tap
            remaining = deadline - self._clock()
            if remaining <= 0:
                return None
            self._wait_for_change(remaining)

    def _wait_for_change(self, seconds: float) -> None:
        watched = [*self._states.items(), (_PNP, self._pnp_state)]
        hresult, result = scard.SCardGetStatusChange(
            self._context, max(0, int(seconds * 1000)), watched
        )
        code = _code(hresult)
        if code == scard.SCARD_E_TIMEOUT:
            return
        if code in _READER_GONE_CODES:
            self._list_readers()
            return
        if code != scard.SCARD_S_SUCCESS:
            raise _ServiceLost(_explain(hresult))
        readers_changed = False
        for name, state, _atr in result:
            if name == _PNP:
                readers_changed = state != self._pnp_state
                self._pnp_state = state
            elif name in self._states:
                self._states[name] = state
                if state & (scard.SCARD_STATE_UNKNOWN | scard.SCARD_STATE_UNAVAILABLE):
                    readers_changed = True
        if readers_changed:
            self._list_readers()

    def _read_new_card(self) -> CardTap | None:
        for name, state in list(self._states.items()):
            if not state & scard.SCARD_STATE_PRESENT:
                self._reported.pop(name, None)
                continue
            counter = state >> 16  # pcsc-lite counts insertions and removals here
            if self._reported.get(name) == counter:
                continue  # still the badge already returned
            self._reported[name] = counter
            if state & scard.SCARD_STATE_MUTE:
                raise UnreadableBadge(
                    "The card on the reader does not answer; it is not a badge this kiosk can "
                    "read, or it is damaged."
                )
            return self._read(name)
        return None

    def _read(self, reader: str) -> CardTap | None:
        hresult, card, protocol = scard.SCardConnect(
            self._context,
            reader,
            scard.SCARD_SHARE_SHARED,
            scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1,
        )
        if hresult != scard.SCARD_S_SUCCESS:
            self._refuse(hresult)
            return None  # the reader went away; it is listed again
        try:
            hresult, _name, _state, _protocol, atr = scard.SCardStatus(card)
            if hresult != scard.SCARD_S_SUCCESS:
                self._refuse(hresult)
                return None
            hresult, response = scard.SCardTransmit(card, protocol, GET_UID)
            if hresult != scard.SCARD_S_SUCCESS:
                self._refuse(hresult)
                return None
        finally:
            scard.SCardDisconnect(card, scard.SCARD_LEAVE_CARD)
        # vpcd answers an empty response when the card left mid-command; readers say 6F 00.
        return CardTap(
            uid=checked_uid(bytes(response)), atr=bytes(atr).hex().upper(), reader=reader
        )

    def _refuse(self, hresult: int) -> None:
        """Turn a failed card call into the right error; return if the reader is gone."""
        code = _code(hresult)
        if code in _NO_SERVICE_CODES:
            raise _ServiceLost(_explain(hresult))
        if code in _CARD_GONE_CODES:
            raise UnreadableBadge(PULLED)
        if code in _READER_GONE_CODES:
            self._list_readers()
            return
        raise UnreadableBadge(
            f"The badge could not be read ({_explain(hresult)}); lay it on the reader again."
        )

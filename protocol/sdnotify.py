"""sd_notify for the long-running processes: READY=1, WATCHDOG=1 and STOPPING=1.

The kiosk agent and the hub's ingest worker run as systemd ``Type=notify`` units with
``WatchdogSec=``: systemd starts the units that wait for them only after READY=1, and
restarts a process that stops sending WATCHDOG=1 (a hung loop) even though it has not
exited. This is the whole protocol (sd_notify(3)): one datagram of ``KEY=value`` lines
to the AF_UNIX socket named by ``$NOTIFY_SOCKET`` (a leading ``@`` means the abstract
namespace). Outside systemd the variable is unset and every call does nothing. Standard
library only, so both sides can use it; it is process plumbing, not wire protocol.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time

logger = logging.getLogger(__name__)


def notify(state: str) -> bool:
    """Send ``state`` (e.g. "READY=1") to the service manager; False if there is none.

    A failure to send is logged, never raised: the service keeps working without it.
    """
    address = os.environ.get("NOTIFY_SOCKET", "")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    elif not address.startswith("/"):
        logger.warning("NOTIFY_SOCKET %r is not a Unix socket; not notifying", address)
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(state.encode())
    except OSError as error:
        logger.warning("could not tell the service manager %r: %s", state, error)
        return False
    return True


def watchdog_interval() -> float | None:
    """Seconds within which systemd expects WATCHDOG=1 (``WatchdogSec=``), or None.

    ``$WATCHDOG_PID``, when set, names the process the watchdog is for: a child that
    inherited the variables must not kick on its parent's behalf.
    """
    usec = os.environ.get("WATCHDOG_USEC", "")
    pid = os.environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0 or (pid and pid != str(os.getpid())):
        return None
    return int(usec) / 1_000_000


class Watchdog:
    """Sends WATCHDOG=1 from a main loop, at most every third of systemd's interval.

    systemd asks for a keep-alive at least every half interval; a third leaves room for a
    loop iteration that takes a few seconds. Call ``kick()`` once per iteration; it sends
    only when one is due. Without ``WatchdogSec=`` (or outside systemd) it does nothing.
    """

    def __init__(self, interval: float | None) -> None:
        self.every = interval / 3 if interval else None
        self._last = float("-inf")
        self._lock = threading.Lock()

    @classmethod
    def from_environment(cls) -> Watchdog:
        return cls(watchdog_interval())

    def kick(self) -> None:
        if self.every is None:
            return
        now = time.monotonic()
        with self._lock:
            if now - self._last < self.every:
                return
            self._last = now
        notify("WATCHDOG=1")

    def wait(self, event: threading.Event, timeout: float) -> bool:
        """``event.wait(timeout)`` that keeps kicking: a long back-off is not a hang."""
        deadline = time.monotonic() + timeout
        while True:
            self.kick()
            left = deadline - time.monotonic()
            if left <= 0:
                return event.is_set()
            if event.wait(min(left, self.every or left)):
                return True

"""Why this kiosk does not trust a server's certificate (the broker's, the hub's), in plain
words. A Pi has no battery-backed clock: a certificate "not yet valid" or "expired" often
means the kiosk's date is wrong, not the certificate, so the message says what it reads."""

from __future__ import annotations

import ssl

from protocol.ids import format_timestamp, utc_now


def untrusted_words(error: ssl.SSLCertVerificationError) -> str:
    message = str(error.verify_message or error)
    if "not yet valid" in message or "expired" in message:
        return (
            f"{message}: check this kiosk's date and time (it reads "
            f"{format_timestamp(utc_now())}); a kiosk without network time can be days off"
        )
    return message

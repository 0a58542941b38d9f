"""Face and fingerprint recognition on the kiosk (later issues)."""

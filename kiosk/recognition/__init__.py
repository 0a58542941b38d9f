"""Face and fingerprint recognition on the kiosk: detect, check, embed or extract, match,
and the calibration that turns target false-match rates into thresholds."""

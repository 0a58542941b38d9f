"""The fault suite: a busy kiosk and the hub through partitions, kills, restarts, a full disk
and a wrong clock; after each, every event is at the hub exactly once (tests/faults/harness.py)."""

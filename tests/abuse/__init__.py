"""Abuse suite: property-based tests, fuzzing, schemathesis and web attacks (issue 10)."""

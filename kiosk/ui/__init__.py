"""The touchscreen UI blueprint."""

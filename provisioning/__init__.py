"""Device identity, broker configuration and Raspberry Pi set-up."""

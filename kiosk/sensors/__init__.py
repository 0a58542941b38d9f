"""Hardware behind small interfaces: camera, fingerprint sensor, badge reader (later issues)."""

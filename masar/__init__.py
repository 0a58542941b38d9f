"""The composition root: the one `masar` command and the demo. The only package that
imports both `kiosk` and `hub`."""

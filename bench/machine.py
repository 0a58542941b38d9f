"""One line saying what a benchmark ran on, printed above its figures so they can be compared."""

from __future__ import annotations

import os
import platform
from collections.abc import Sequence
from importlib.metadata import version
from pathlib import Path


def describe(packages: Sequence[str]) -> str:
    """CPU, cores, load, Python and the versions of ``packages``."""
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    libs = ", ".join(f"{p} {version(p)}" for p in packages)
    return f"{cpu}; {os.cpu_count()} cores; load {load}; Python {platform.python_version()}; {libs}"

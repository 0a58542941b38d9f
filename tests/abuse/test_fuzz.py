"""A short coverage-guided fuzz run (atheris, libFuzzer) of each harness in
tests/abuse/fuzz_targets.py, in a subprocess bounded by ``-max_total_time``: no crash, no
hang, and the fuzzer really ran. bench/fuzz.py runs the same harnesses for longer."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SECONDS = {"codec": 6, "xlsform": 6, "xlsform_cells": 8}
MINIMUM_RUNS = {"codec": 5000, "xlsform": 100, "xlsform_cells": 20}


def fuzz(target: str, seconds: int, folder: Path) -> tuple[int, str]:
    """Run one harness for ``seconds``; return its executions and libFuzzer's report."""
    options = [
        f"-max_total_time={seconds}",
        "-timeout=30",  # one input taking longer is a hang, reported as a crash
        "-rss_limit_mb=2048",
        "-print_final_stats=1",
        f"-artifact_prefix={folder}/",
    ]
    done = subprocess.run(
        [sys.executable, "-m", "tests.abuse.fuzz_targets", target, *options, str(folder / "in")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=seconds + 120,
    )
    report = done.stderr
    crashes = sorted(folder.glob("crash-*")) + sorted(folder.glob("timeout-*"))
    assert done.returncode == 0 and not crashes, f"{target}: {crashes}\n{report[-4000:]}"
    runs = re.search(r"stat::number_of_executed_units:\s*(\d+)", report)
    assert runs is not None, report[-2000:]
    return int(runs.group(1)), report


@pytest.mark.parametrize("target", sorted(SECONDS))
def test_a_bounded_fuzz_run_finds_no_crash(target: str, tmp_path: Path) -> None:
    runs, report = fuzz(target, SECONDS[target], tmp_path)
    coverage = re.findall(r"cov: (\d+)", report)
    print(f"\nfuzz {target}: {runs} executions in {SECONDS[target]} s, coverage {coverage[-1:]}")
    assert runs >= MINIMUM_RUNS[target]

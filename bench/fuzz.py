"""The long fuzz run: each atheris harness of tests/abuse/fuzz_targets.py (MQTT payload
decoder, XLSForm import from bytes, XLSForm import from fuzzed cells) for a bounded time,
keeping its corpus in var/fuzz/<target> so that the next run starts where this one ended.
Prints executions, speed, coverage and corpus size per target; a crash stops that target,
saves the input beside its corpus and makes the exit status 1.

    .venv/bin/python bench/fuzz.py                         # 5 minutes per target
    .venv/bin/python bench/fuzz.py --seconds 3600 --targets codec
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

from machine import describe

ROOT = Path(__file__).resolve().parents[1]
TARGETS = ("codec", "xlsform", "xlsform_cells")


def run(target: str, seconds: int, folder: Path) -> bool:
    corpus = folder / target
    artifacts = folder / f"{target}-crashes"
    artifacts.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.abuse.fuzz_targets",
            target,
            f"-max_total_time={seconds}",
            "-timeout=30",
            "-rss_limit_mb=2048",
            "-print_final_stats=1",
            f"-artifact_prefix={artifacts}/",
            str(corpus),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    elapsed = time.monotonic() - started
    report = done.stderr
    runs = re.search(r"stat::number_of_executed_units:\s*(\d+)", report)
    executions = int(runs.group(1)) if runs else 0
    coverage = (re.findall(r"cov: (\d+)", report) or ["?"])[-1]
    files = sum(1 for _ in corpus.iterdir()) if corpus.is_dir() else 0
    crashed = done.returncode != 0
    print(
        f"{target:14} {executions:>10,} executions in {elapsed:6.0f} s "
        f"({executions / max(elapsed, 1):,.0f}/s), coverage {coverage}, corpus {files} inputs"
        + (f", CRASH (exit {done.returncode}), input in {artifacts}" if crashed else ", no crash")
    )
    if crashed:
        print(report[-4000:], file=sys.stderr)
    return not crashed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=300, help="per target (default 300)")
    parser.add_argument("--targets", nargs="+", choices=TARGETS, default=list(TARGETS))
    parser.add_argument("--corpus", type=Path, default=ROOT / "var" / "fuzz")
    args = parser.parse_args()
    print(describe(["atheris", "pydantic", "pyxform", "openpyxl"]))
    results = [run(target, args.seconds, args.corpus) for target in args.targets]
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main()

"""Fingerprint engine speed on this CPU: extraction and one match (p50, p95), and 1:N search.

Extraction runs on every fingers-dev impression (FVC2002 DB1–DB4, 500 dpi); matches on all
same-sensor pairs; 1:N searches a gallery of the dev templates repeated to --gallery entries.
Targets (issue 6): extraction <= 300 ms, one match <= 5 ms. Accuracy: `masar kiosk
eval-fingers` (kiosk.recognition.finger_eval.evaluate_fingers).

    .venv/bin/python bench/bench_finger.py
    .venv/bin/python bench/bench_finger.py --gallery 1000 --searches 5
"""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

import numpy as np
from machine import describe

from kiosk.recognition.finger import FingerTemplate, finger_template, identify, match_score
from kiosk.sensors.fingerprint import ZFM_IMAGE_BYTES, FingerImage, load_finger_image

FINGERS = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "fingers-dev"
TARGET_EXTRACT_MS, TARGET_MATCH_MS = 300.0, 5.0


def machine() -> str:
    return describe(("numpy", "opencv-python-headless", "scikit-image"))


def percentiles(ms: list[float]) -> str:
    p50, p95 = np.percentile(ms, [50, 95])
    return f"p50 {p50:6.1f} ms   p95 {p95:6.1f} ms   (n = {len(ms)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gallery", type=int, default=500, help="templates in the 1:N gallery")
    parser.add_argument("--searches", type=int, default=10, help="1:N searches to time")
    args = parser.parse_args()
    print(machine())

    paths = sorted(FINGERS.glob("*/*.png"))
    templates: list[tuple[str, FingerTemplate]] = []
    wall: list[float] = []
    cpu: list[float] = []
    for path in paths:
        image = FingerImage(load_finger_image(path), 500, time.monotonic(), f"file:{path}")
        started, started_cpu = time.perf_counter(), time.process_time()
        template = finger_template(image)
        wall.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
        templates.append((path.parent.name, template))
    print(f"extract  (wall) {percentiles(wall)}   target <= {TARGET_EXTRACT_MS:.0f} ms")
    print(f"extract  (cpu)  {percentiles(cpu)}")
    minutiae = [len(t.minutiae) for _, t in templates]
    print(f"minutiae per impression: median {np.median(minutiae):.0f}, min {min(minutiae)}")

    match_ms: list[float] = []
    for (finger_a, a), (finger_b, b) in itertools.combinations(templates, 2):
        if finger_a.rsplit("_", 1)[0] != finger_b.rsplit("_", 1)[0]:
            continue
        started = time.perf_counter()
        match_score(a, b)
        match_ms.append((time.perf_counter() - started) * 1000)
    print(f"match 1:1       {percentiles(match_ms)}   target <= {TARGET_MATCH_MS:.0f} ms")

    gallery = [
        (f"{name}#{copy}", template)
        for copy in range(args.gallery // len(templates) + 1)
        for name, template in templates
    ][: args.gallery]
    search_ms: list[float] = []
    for probe_name, probe in templates[:: max(1, len(templates) // args.searches)][: args.searches]:
        started = time.perf_counter()
        identify(probe, gallery, threshold=0.1)
        search_ms.append((time.perf_counter() - started) * 1000)
        del probe_name
    print(f"identify 1:{len(gallery)}  {percentiles(search_ms)}")

    bits = (ZFM_IMAGE_BYTES + 12 * (ZFM_IMAGE_BYTES // 128)) * 10  # data + packet framing
    for baud in (57600, 115200):
        print(f"ZFM image upload at {baud} baud: {bits / baud:.1f} s (computed, 8N1)")


if __name__ == "__main__":
    main()

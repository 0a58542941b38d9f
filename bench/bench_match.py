"""1:N identification time over galleries of 1,000 / 10,000 / 100,000 templates (512-d float32),
and the time to calibrate on a set the size of faces-dev-crops96 (3,236 templates).

Random unit vectors are enough for timing: the search is one matrix product and a partial
sort whatever the faces. With --faces, real templates of that folder (DIR/<person>/<image>)
are the probes and are hidden among the random rows, and the bench says whether each found
its own person first. Targets on this machine: 10,000 <= 5 ms, 100,000 <= 30 ms (p50).

    .venv/bin/python bench/bench_match.py
    .venv/bin/python bench/bench_match.py --sizes 1000 10000 --templates-per-person 1
    .venv/bin/python bench/bench_match.py --faces ../shared/data/faces-dev --models ../shared/models
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np

from kiosk.caches import Gallery
from kiosk.recognition.calibration import (
    FMR_TARGETS,
    all_pair_scores,
    equal_error_rate,
    rank1_identification_rate,
    threshold_at_fmr,
)
from kiosk.recognition.matcher import identify

DIMENSION = 512


def unit_rows(rows: int, seed: int) -> np.ndarray:
    matrix = np.random.default_rng(seed).standard_normal((rows, DIMENSION), dtype=np.float32)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix


def percentiles(seconds: list[float]) -> str:
    ms = sorted(s * 1000 for s in seconds)
    p99 = ms[min(len(ms) - 1, round(0.99 * (len(ms) - 1)))]
    return f"p50 {statistics.median(ms):7.2f} ms   p99 {p99:7.2f} ms   ({len(ms)} probes)"


def random_gallery(size: int, per_person: int) -> Gallery:
    ids = [f"d{row // per_person:06d}" for row in range(size)]
    return Gallery(ids, unit_rows(size, seed=size))


def time_identify(gallery: Gallery, probes: np.ndarray) -> list[float]:
    identify(probes[0], gallery, 0.5)  # warm the caches once
    times = []
    for probe in probes:
        started = time.perf_counter()
        identify(probe, gallery, 0.5, k=3)
        times.append(time.perf_counter() - started)
    return times


def time_product_only(gallery: Gallery, probes: np.ndarray) -> list[float]:
    times = []
    for probe in probes:
        started = time.perf_counter()
        gallery.templates @ probe
        times.append(time.perf_counter() - started)
    return times


def bench_identify(sizes: list[int], per_person: int) -> None:
    print(f"1:N identify (k=3), {DIMENSION}-d float32, {per_person} template(s) per person")
    for size in sizes:
        gallery = random_gallery(size, per_person)
        probes = unit_rows(300 if size <= 10_000 else 100, seed=1)
        print(f"  N = {size:>7,}  identify      {percentiles(time_identify(gallery, probes))}")
        print(f"  N = {size:>7,}  matrix @ probe {percentiles(time_product_only(gallery, probes))}")


def bench_calibration(people: int, images: int) -> None:
    rng = np.random.default_rng(3)
    centres = rng.standard_normal((people, DIMENSION), dtype=np.float32)
    rows = centres[np.arange(people * images) % people]
    rows = rows + 1.5 * rng.standard_normal(rows.shape, dtype=np.float32)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    labels = [f"p{i % people}" for i in range(len(rows))]
    print(f"calibration on {len(rows):,} templates of {people} people (synthetic)")
    started = time.perf_counter()
    scores = all_pair_scores(rows, labels)
    print(
        f"  all_pair_scores     {time.perf_counter() - started:6.2f} s  "
        f"({len(scores.genuine):,} genuine, {len(scores.impostor):,} impostor pairs)"
    )
    started = time.perf_counter()
    for rate in FMR_TARGETS.values():
        threshold_at_fmr(scores.impostor, rate)
    print(f"  3 thresholds        {time.perf_counter() - started:6.2f} s")
    started = time.perf_counter()
    equal_error_rate(scores)
    print(f"  equal_error_rate    {time.perf_counter() - started:6.2f} s")
    started = time.perf_counter()
    rank1_identification_rate(rows, labels)
    print(f"  rank-1 (leave-one-out) {time.perf_counter() - started:6.2f} s")


def bench_real_probes(faces: Path, models: Path, size: int) -> None:
    """Real templates of ``faces`` hidden among ``size`` random rows: time and rank-1."""
    import cv2

    from kiosk.recognition.face import FacePipeline

    pipeline = FacePipeline.open(models)
    templates, labels = [], []
    try:
        for image in sorted(faces.glob("*/*")):
            analysis = pipeline.analyse(cv2.imread(str(image)))
            if analysis.template is not None:
                templates.append(analysis.template)
                labels.append(image.parent.name)
    finally:
        pipeline.close()
    real = np.stack(templates)
    # each person's first image is enrolled; the others are the probes
    enrolled = {label: row for row, label in reversed(list(enumerate(labels)))}
    probe_rows = [row for row, label in enumerate(labels) if enrolled[label] != row]
    filler = unit_rows(size, seed=5)
    gallery = Gallery(
        [*enrolled, *(f"r{row}" for row in range(size))],
        np.vstack([real[list(enrolled.values())], filler]),
    )
    times, correct = [], 0
    for row in probe_rows:
        started = time.perf_counter()
        found = identify(real[row], gallery, 0.5)
        times.append(time.perf_counter() - started)
        correct += found.candidates[0].subject_id == labels[row]
    print(
        f"real probes of {faces} ({len(enrolled)} people enrolled among {size:,} random rows): "
        f"rank-1 {correct}/{len(probe_rows)}\n  identify {percentiles(times)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--templates-per-person", type=int, default=3)
    parser.add_argument("--faces", type=Path, help="a folder DIR/<person>/<image> for real probes")
    parser.add_argument("--models", type=Path, default=Path("../shared/models"))
    parser.add_argument("--no-calibration", action="store_true")
    args = parser.parse_args()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, load {load}")
    print(f"numpy {np.__version__}")
    bench_identify(args.sizes, args.templates_per_person)
    if not args.no_calibration:
        bench_calibration(people=415, images=8)
    if args.faces:
        bench_real_probes(args.faces, args.models, size=10_000)


if __name__ == "__main__":
    main()

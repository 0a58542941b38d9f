"""Per-frame latency of the face pipeline at 640 × 480, for each detector: detect, align,
quality and embed, p50 and p99, on this CPU.

The frames are faces-dev photos (250 × 250) enlarged 1–1.8× (the face sizes of a person at
the kiosk) and pasted at random places on a 640 × 480 background of smooth shading and
sensor-like noise, so detection works on a whole camera frame. (1:N search:
bench/bench_match.py.)

    .venv/bin/python bench/bench_face.py                   # 200 frames per detector
    .venv/bin/python bench/bench_face.py --frames 50 --detector yunet
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

import cv2
import numpy as np
from machine import describe

from kiosk.recognition.detect import DETECTORS
from kiosk.recognition.face import FacePipeline, load_image

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared"
STAGES = ("detect", "align", "quality", "embed")
TARGET_MS = 120.0  # detect + embed, p50
WARM_UP = 10
WIDTH, HEIGHT = 640, 480


def machine() -> str:
    return describe(("onnxruntime", "opencv-python-headless"))


def camera_frames(count: int, seed: int = 5) -> list[np.ndarray]:
    """``count`` 640 × 480 frames, each one dev face on a shaded, noisy background (no
    other photo: its face would be a second person)."""
    rng = random.Random(seed)
    noise = np.random.default_rng(seed)
    photos = sorted((SHARED / "data" / "faces-dev").glob("*/*.jpg"))
    rows, cols = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    frames = []
    for _ in range(count):
        colour = noise.uniform(60, 200, size=3).astype(np.float32)
        shading = (rows / HEIGHT * 40 + cols / WIDTH * 30)[:, :, None]
        grain = noise.normal(0, 4, size=(HEIGHT, WIDTH, 3))
        frame = np.clip(colour + shading + grain, 0, 255).astype(np.uint8)
        scale = rng.uniform(1.0, 1.8)
        face = cv2.resize(load_image(rng.choice(photos)), None, fx=scale, fy=scale)
        top = rng.randrange(HEIGHT - face.shape[0] + 1)
        left = rng.randrange(WIDTH - face.shape[1] + 1)
        frame[top : top + face.shape[0], left : left + face.shape[1]] = face
        frames.append(frame)
    return frames


def percentile(values: list[float], share: float) -> float:
    return float(np.percentile(values, share)) if values else float("nan")


def bench(detector: str, frames: list[np.ndarray]) -> dict[str, list[float]]:
    """Milliseconds per stage over the frames (embed only where quality let the frame through)."""
    pipeline = FacePipeline.open(SHARED / "models", detector=detector)
    for frame in frames[:WARM_UP]:
        pipeline.analyse(frame)
    times: dict[str, list[float]] = {stage: [] for stage in (*STAGES, "detect + embed")}
    for frame in frames:
        timings: dict[str, float] = {}
        pipeline.analyse(frame, timings)
        for stage, ms in timings.items():
            times[stage].append(ms)
        if "embed" in timings:
            times["detect + embed"].append(timings["detect"] + timings["embed"])
    pipeline.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--detector", choices=list(DETECTORS), action="append")
    args = parser.parse_args()
    frames = camera_frames(args.frames)
    print(machine())
    target = f"detect + embed p50 <= {TARGET_MS:g} ms"
    print(f"{args.frames} frames of {WIDTH} × {HEIGHT}; target: {target}")
    print()
    print("| detector | stage | frames | p50 ms | p99 ms |")
    print("|---|---|---|---|---|")
    for detector in args.detector or list(DETECTORS):
        times = bench(detector, frames)
        for stage, values in times.items():
            print(
                f"| {detector} | {stage} | {len(values)} | {percentile(values, 50):.1f} | "
                f"{percentile(values, 99):.1f} |"
            )
        total = percentile(times["detect + embed"], 50)
        verdict = "met" if total <= TARGET_MS else "MISSED"
        print(f"| {detector} | target {target} | | {verdict} | |")


if __name__ == "__main__":
    main()

"""What every camera driver promises, checked by reading real frames.

Used by the tests (on replay and on OpenCV reading a file) and by `masar kiosk selftest` on a
real Pi, so a fake cannot drift from the driver it stands for.
"""

from __future__ import annotations

import time

import numpy as np

from kiosk.sensors import Camera, Frame


def check_camera(camera: Camera, *, frames: int = 5, timeout: float = 5.0) -> list[str]:
    """Read a few frames and list how they break the Camera contract (empty: none).

    A camera that cannot deliver raises SensorError, which is left to the caller: that is a
    fault to show staff, not a broken promise.
    """
    problems: list[str] = []
    previous: Frame | None = None
    for number in range(1, frames + 1):
        frame = camera.read(timeout)
        read_at = time.monotonic()
        problems += [f"frame {number}: {problem}" for problem in _frame_problems(frame, read_at)]
        if previous is not None and isinstance(frame, Frame):
            problems += [
                f"frame {number}: {problem}" for problem in _sequence_problems(previous, frame)
            ]
        previous = frame if isinstance(frame, Frame) else previous
    health = camera.health()
    if not health.ok:
        problems.append(f"health() reports a fault after good reads: {health.detail}")
    return problems


def _frame_problems(frame: object, read_at: float) -> list[str]:
    if not isinstance(frame, Frame):
        return [f"read() returned {type(frame).__name__}, not a Frame"]
    pixels = frame.pixels
    if not isinstance(pixels, np.ndarray):
        return [f"pixels are a {type(pixels).__name__}, not a numpy array"]
    problems = []
    if pixels.dtype != np.uint8:
        problems.append(f"pixels are {pixels.dtype}, not uint8")
    if pixels.ndim != 3 or pixels.shape[2] != 3:
        problems.append(f"pixels have shape {pixels.shape}, not (height, width, 3)")
    elif pixels.shape[0] == 0 or pixels.shape[1] == 0:
        problems.append(f"pixels have shape {pixels.shape}: the image is empty")
    if not pixels.flags["C_CONTIGUOUS"]:
        problems.append("pixels are not one contiguous block (a view into a larger buffer)")
    if not isinstance(frame.captured_at, float) or frame.captured_at > read_at:
        problems.append(
            f"captured_at {frame.captured_at!r} is not a time.monotonic() reading from the past"
        )
    if not frame.source:
        problems.append("source is empty")
    return problems


def _sequence_problems(previous: Frame, frame: Frame) -> list[str]:
    problems = []
    if frame.captured_at <= previous.captured_at:
        problems.append(
            f"captured_at {frame.captured_at} does not follow {previous.captured_at}: "
            "a frame was returned twice, or the clock is not monotonic"
        )
    if isinstance(frame.pixels, np.ndarray) and isinstance(previous.pixels, np.ndarray):
        if frame.pixels.shape != previous.pixels.shape:
            problems.append(
                f"the size changed from {previous.pixels.shape} to {frame.pixels.shape}"
            )
        if np.may_share_memory(frame.pixels, previous.pixels):
            problems.append("pixels share memory with the previous frame's")
    return problems

"""Camera drivers on real faces (faces-dev) and a video written from them: the contract, the
one-frame buffer, unplug and recovery, and the errors staff see."""

from __future__ import annotations

import itertools
import os
import shutil
import sys
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from kiosk.config import ConfigError, OpenCVConfig, Picamera2Config, ReplayConfig, load_config
from kiosk.sensors import Frame, SensorError, SensorHealth
from kiosk.sensors.camera import CLOSED, OpenCVCamera, ReplayCamera
from kiosk.sensors.contract import check_camera
from kiosk.sensors.registry import open_camera
from tests.shared_data import FACES

PERSON = FACES / "David_Beckham"
VIDEO_SIZE = (320, 240)  # small, so decoding costs little on the shared CI machine
VIDEO_FPS = 30


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[np.ndarray]]:
    """A 2-second MJPG video of 60 different faces-dev photos, and the frames written."""
    photos = [path for person in sorted(FACES.iterdir()) for path in sorted(person.iterdir())[:2]]
    width, height = VIDEO_SIZE
    frames = []
    for photo in photos[:60]:
        canvas = np.zeros((height, width, 3), np.uint8)
        left = (width - height) // 2
        canvas[:, left : left + height] = cv2.resize(cv2.imread(str(photo)), (height, height))
        frames.append(canvas)
    path = tmp_path_factory.mktemp("video") / "faces.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), VIDEO_FPS, VIDEO_SIZE)
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path, frames


def frame_number(pixels: np.ndarray, written: list[np.ndarray]) -> int:
    """Which written frame this is (MJPG is lossy, so the nearest one)."""
    errors = [np.abs(pixels.astype(np.int16) - frame).mean() for frame in written]
    return int(np.argmin(errors))


def wait_until(condition: Callable[[], bool], what: str, within: float = 15.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {within} s")
        time.sleep(0.02)


@pytest.fixture
def camera_file(tmp_path: Path, video: tuple[Path, list[np.ndarray]]) -> Path:
    """A copy of the video that a test may take away and put back, like a USB camera."""
    path = tmp_path / "camera.avi"
    shutil.copy(video[0], path)
    return path


@pytest.fixture
def opencv_camera(camera_file: Path) -> Iterator[OpenCVCamera]:
    camera = OpenCVCamera(OpenCVConfig(device=str(camera_file), retry_every=0.1))
    yield camera
    camera.close()


# --- the contract ---------------------------------------------------------------------------


def test_replay_folder_meets_camera_contract() -> None:
    with closing(ReplayCamera(ReplayConfig(path=PERSON))) as camera:
        assert check_camera(camera) == []


def test_replay_video_meets_camera_contract(video: tuple[Path, list[np.ndarray]]) -> None:
    with closing(ReplayCamera(ReplayConfig(path=video[0], fps=VIDEO_FPS))) as camera:
        assert check_camera(camera, frames=10) == []


def test_opencv_camera_on_video_file_meets_camera_contract(opencv_camera: OpenCVCamera) -> None:
    assert check_camera(opencv_camera, frames=10) == []
    assert opencv_camera.read().pixels.shape == (240, 320, 3)


class ReplayWithBrokenFrames:
    """Faces-dev frames spoilt the ways a careless driver would: grey float, one timestamp."""

    def __init__(self) -> None:
        self._replay = ReplayCamera(ReplayConfig(path=PERSON))

    def read(self, timeout: float = 2.0) -> Frame:
        frame = self._replay.read(timeout)
        grey = cv2.cvtColor(frame.pixels, cv2.COLOR_BGR2GRAY).astype(np.float32)
        return replace(frame, pixels=grey, captured_at=1.0)

    def health(self) -> SensorHealth:
        return SensorHealth(ok=False, detail="lens cap on")

    def close(self) -> None:
        self._replay.close()


def test_check_camera_lists_each_broken_promise() -> None:
    with closing(ReplayWithBrokenFrames()) as camera:
        problems = check_camera(camera, frames=2)
    assert problems == [
        "frame 1: pixels are float32, not uint8",
        "frame 1: pixels have shape (250, 250), not (height, width, 3)",
        "frame 2: pixels are float32, not uint8",
        "frame 2: pixels have shape (250, 250), not (height, width, 3)",
        "frame 2: captured_at 1.0 does not follow 1.0: a frame was returned twice, "
        "or the clock is not monotonic",
        "health() reports a fault after good reads: lens cap on",
    ]


# --- replay ---------------------------------------------------------------------------------


def test_replay_folder_plays_images_in_path_order_and_loops() -> None:
    photos = sorted(PERSON.iterdir())
    with closing(ReplayCamera(ReplayConfig(path=PERSON))) as camera:
        frames = [camera.read() for _ in range(len(photos) + 1)]
    for frame, photo in zip(frames, [*photos, photos[0]], strict=True):
        assert np.array_equal(frame.pixels, cv2.imread(str(photo)))
        assert frame.source == f"replay:{PERSON}"


def test_replay_of_the_whole_set_goes_person_by_person() -> None:
    first_person = sorted(FACES.iterdir())[0]
    with closing(ReplayCamera(ReplayConfig(path=FACES))) as camera:
        first = camera.read()
    assert np.array_equal(first.pixels, cv2.imread(str(sorted(first_person.iterdir())[0])))


def test_replay_without_loop_ends_with_a_clear_error() -> None:
    with closing(ReplayCamera(ReplayConfig(path=PERSON, loop=False))) as camera:
        for _ in PERSON.iterdir():
            camera.read()
        with pytest.raises(SensorError) as raised:
            camera.read()
        assert str(raised.value) == f"The recording {PERSON} has ended."
        assert camera.health() == SensorHealth(ok=False, detail=str(raised.value))


def test_replay_video_at_fps_skips_the_frames_a_slow_reader_missed(
    video: tuple[Path, list[np.ndarray]],
) -> None:
    path, written = video
    with closing(ReplayCamera(ReplayConfig(path=path, fps=VIDEO_FPS))) as camera:
        first = camera.read()
        time.sleep(0.2)  # 6 frame periods at 30 fps
        second = camera.read()
    assert frame_number(first.pixels, written) == 0
    assert frame_number(second.pixels, written) >= 6


def test_replay_at_fps_without_skipping_plays_every_frame_at_the_recordings_time(
    video: tuple[Path, list[np.ndarray]],
) -> None:
    """A slow reader misses nothing and the stamps keep the recording's pace; a fast one is
    held to it. Stamps stay in the past and increasing (the Camera contract)."""
    path, written = video
    with closing(ReplayCamera(ReplayConfig(path=path, fps=VIDEO_FPS, skip=False))) as camera:
        first = camera.read()
        time.sleep(0.2)  # a slow reader: 6 frame periods at 30 fps
        second, third = camera.read(), camera.read()
        read_at = time.monotonic()
    frames = [first, second, third]
    assert [frame_number(f.pixels, written) for f in frames] == [0, 1, 2]
    gaps = [b.captured_at - a.captured_at for a, b in itertools.pairwise(frames)]
    assert gaps == pytest.approx([1 / VIDEO_FPS] * 2)
    assert third.captured_at <= read_at


def test_replay_video_without_fps_gives_every_frame_then_loops(
    video: tuple[Path, list[np.ndarray]],
) -> None:
    path, written = video
    with closing(ReplayCamera(ReplayConfig(path=path))) as camera:
        numbers = [frame_number(camera.read().pixels, written) for _ in range(len(written) + 2)]
    assert numbers == [*range(len(written)), 0, 1]


def test_replay_damaged_image_is_reported_then_skipped(tmp_path: Path) -> None:
    photo = sorted(PERSON.iterdir())[0]
    (tmp_path / "1-damaged.jpg").write_bytes(photo.read_bytes()[:200])
    shutil.copy(photo, tmp_path / "2-good.jpg")
    with closing(ReplayCamera(ReplayConfig(path=tmp_path))) as camera:
        with pytest.raises(SensorError) as raised:
            camera.read()
        message = (
            f"{tmp_path / '1-damaged.jpg'} cannot be read as an image (damaged, or not an image)."
        )
        assert str(raised.value) == message
        assert camera.health() == SensorHealth(ok=False, detail=message)
        assert np.array_equal(camera.read().pixels, cv2.imread(str(photo)))
        assert camera.health().ok


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda tmp: tmp / "nowhere", "The recording {tmp}/nowhere does not exist."),
        (
            lambda tmp: (tmp / "notes.txt").write_text("no faces") and tmp,
            "The recording {tmp} holds no images (.bmp, .jpeg, .jpg, .png, .tif, .tiff, .webp).",
        ),
        (
            lambda tmp: (tmp / "clip.mkv").write_bytes(b"not a video" * 100) and tmp / "clip.mkv",
            "{tmp}/clip.mkv cannot be read as a video (damaged, or not a video).",
        ),
    ],
    ids=["missing", "no-images", "damaged-video"],
)
def test_replay_refuses_a_bad_recording_with_a_plain_message(
    tmp_path: Path, make: Callable[[Path], Path], message: str
) -> None:
    with pytest.raises(SensorError) as raised:
        ReplayCamera(ReplayConfig(path=make(tmp_path)))
    assert str(raised.value) == message.format(tmp=tmp_path)


# --- OpenCV: newest frame only, unplug and recovery ------------------------------------------


def test_opencv_camera_keeps_only_the_newest_frame_for_a_slow_reader(
    opencv_camera: OpenCVCamera, video: tuple[Path, list[np.ndarray]]
) -> None:
    written = video[1]
    frame_bytes = written[0].nbytes
    tracemalloc.start()
    try:
        first = opencv_camera.read()
        baseline = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        slept_from = time.monotonic()
        time.sleep(0.25)  # about 7 frames arrive meanwhile
        second = opencv_camera.read()
        for _ in range(2):
            time.sleep(0.25)
            opencv_camera.read()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # A queue would hold the ~22 frames that came while the reader slept; one slot holds one.
    assert peak - baseline < 4 * frame_bytes
    assert second.captured_at > slept_from
    assert frame_number(second.pixels, written) - frame_number(first.pixels, written) >= 2


def test_opencv_camera_reports_an_unplugged_camera_and_recovers_when_it_returns(
    opencv_camera: OpenCVCamera, camera_file: Path
) -> None:
    opencv_camera.read()
    assert opencv_camera.health() == SensorHealth(ok=True)

    camera_file.rename(camera_file.with_suffix(".away"))  # unplugged
    wait_until(lambda: not opencv_camera.health().ok, "the lost camera is reported")
    message = f"The camera is not connected ({camera_file} is missing); check its cable."
    assert opencv_camera.health() == SensorHealth(ok=False, detail=message)
    with pytest.raises(SensorError) as raised:
        opencv_camera.read(timeout=0.2)
    assert str(raised.value) == message

    camera_file.with_suffix(".away").rename(camera_file)  # plugged back in
    replugged_at = time.monotonic()
    wait_until(lambda: opencv_camera.health().ok, "the camera comes back")
    assert opencv_camera.read().captured_at > replugged_at


def test_opencv_camera_started_without_its_camera_works_once_it_is_plugged_in(
    tmp_path: Path, video: tuple[Path, list[np.ndarray]]
) -> None:
    device = tmp_path / "later.avi"
    with closing(OpenCVCamera(OpenCVConfig(device=str(device), retry_every=0.1))) as camera:
        message = f"The camera is not connected ({device} is missing); check its cable."
        assert camera.health() == SensorHealth(ok=False, detail=message)
        with pytest.raises(SensorError, match="missing"):
            camera.read(timeout=0.1)
        shutil.copy(video[0], tmp_path / "later.partial")
        os.replace(tmp_path / "later.partial", device)
        wait_until(lambda: camera.health().ok, "the camera is found")
        assert check_camera(camera) == []


def test_opencv_camera_names_a_missing_device_and_hides_stream_passwords() -> None:
    with closing(OpenCVCamera(OpenCVConfig(device=7))) as camera:
        assert camera.health().detail == (
            "The camera is not connected (/dev/video7 is missing); check its cable."
        )
    config = OpenCVConfig(device="rtsp://guard:secret@127.0.0.1:1/cam?token=abc")
    with closing(OpenCVCamera(config)) as camera:
        assert camera.source == "opencv:rtsp://127.0.0.1:1/cam"
        assert "secret" not in camera.health().detail


def test_opencv_camera_decodes_no_frames_while_nobody_reads(
    camera_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    counts: Counter[str] = Counter()

    real_capture = cv2.VideoCapture

    class CountingCapture:
        """The real VideoCapture, counting what the camera thread asks of it."""

        def __init__(self, device: int | str) -> None:
            self._capture = real_capture(device)
            counts["opened"] += 1

        def grab(self) -> bool:
            counts["grabbed"] += 1
            return self._capture.grab()

        def retrieve(self) -> tuple[bool, np.ndarray]:
            counts["retrieved"] += 1
            return self._capture.retrieve()

        def __getattr__(self, name: str) -> Any:  # isOpened, set, get, release
            return getattr(self._capture, name)

    monkeypatch.setattr(cv2, "VideoCapture", CountingCapture)
    with closing(OpenCVCamera(OpenCVConfig(device=str(camera_file)))) as camera:
        wait_until(lambda: counts["grabbed"] >= 20, "the idle camera grabs frames")
        retrieved = counts["retrieved"]
        assert retrieved <= counts["opened"]  # only the first frame after opening, a format check
        assert camera.health() == SensorHealth(ok=True)
        asked_at = time.monotonic()
        assert camera.read().captured_at > asked_at  # not the frame kept from before
        assert check_camera(camera) == []
        assert counts["retrieved"] > retrieved


# --- every driver: closing, the registry, configuration --------------------------------------


@pytest.mark.parametrize("driver", ["replay", "opencv"])
def test_a_closed_camera_refuses_to_read(driver: str, camera_file: Path) -> None:
    config = (
        ReplayConfig(path=camera_file)
        if driver == "replay"
        else OpenCVConfig(device=str(camera_file))
    )
    camera = open_camera(config)
    camera.read()
    camera.close()
    camera.close()  # twice is harmless
    with pytest.raises(SensorError) as raised:
        camera.read()
    assert str(raised.value) == CLOSED
    assert camera.health() == SensorHealth(ok=False, detail=CLOSED)


def test_open_camera_uses_the_driver_the_config_names(camera_file: Path) -> None:
    with closing(open_camera(ReplayConfig(path=PERSON))) as replay:
        assert isinstance(replay, ReplayCamera)
    with closing(open_camera(OpenCVConfig(device=str(camera_file)))) as opencv:
        assert isinstance(opencv, OpenCVCamera)


def test_picamera2_camera_without_picamera2_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "picamera2", None)  # as on any machine but a Pi
    with pytest.raises(SensorError) as raised:
        open_camera(Picamera2Config())
    assert str(raised.value) == (
        "The Pi camera software is not installed on this kiosk. A technician must run "
        "'sudo apt install python3-picamera2' and make the kiosk's virtualenv with "
        "--system-site-packages."
    )


def write_config(tmp_path: Path, camera: str) -> Path:
    path = tmp_path / "kiosk.toml"
    path.write_text(
        f'site = "rabat-1"\ndevice = "kiosk-a"\ndata_dir = "{tmp_path}"\n\n[camera]\n{camera}\n'
    )
    return path


def test_kiosk_config_reads_each_camera_driver(tmp_path: Path) -> None:
    replay = load_config(write_config(tmp_path, f'driver = "replay"\npath = "{PERSON}"\nfps = 10'))
    assert replay.camera == ReplayConfig(path=PERSON, fps=10)
    opencv = load_config(write_config(tmp_path, 'driver = "opencv"\ndevice = "/dev/video2"'))
    assert opencv.camera == OpenCVConfig(device="/dev/video2")
    pi = load_config(write_config(tmp_path, 'driver = "picamera2"\nwidth = 1280\nheight = 720'))
    assert pi.camera == Picamera2Config(width=1280, height=720)


def test_kiosk_config_without_camera_has_none(tmp_path: Path) -> None:
    path = tmp_path / "kiosk.toml"
    path.write_text(f'site = "rabat-1"\ndevice = "kiosk-a"\ndata_dir = "{tmp_path}"\n')
    assert load_config(path).camera is None


@pytest.mark.parametrize(
    ("camera", "problem"),
    [
        (
            'driver = "webcam"',
            'field \'camera\': driver must be one of "picamera2", "opencv", "replay"',
        ),
        ("device = 0", 'field \'camera\': driver must be one of "picamera2", "opencv", "replay"'),
        (
            'driver = "replay"\npath = "x"\nfps = -5',
            "field 'camera.replay.fps': Input should be greater than 0",
        ),
        (
            'driver = "opencv"\nwidth = 641',
            "field 'camera.opencv.width': Input should be a multiple of 2",
        ),
        ('driver = "opencv"\nresolution = "hd"', "unknown field 'camera.opencv.resolution'"),
        ('driver = "replay"', "missing field 'camera.replay.path'"),
    ],
    ids=["unknown-driver", "no-driver", "negative-fps", "odd-width", "unknown-key", "no-path"],
)
def test_kiosk_config_camera_mistakes_are_named_plainly(
    tmp_path: Path, camera: str, problem: str
) -> None:
    path = write_config(tmp_path, camera)
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    assert str(raised.value) == f"{path}: {problem}"

"""Fingerprints on the kiosk: image checks, quality, minutiae templates, 1:1 and 1:N matching.

The engine is ours, in numpy + OpenCV (+ scikit-image's thinning), so it installs wherever
the kiosk does (Raspberry Pi OS, aarch64); README "Fingerprints" gives the measurements that
chose it over NBIS (no aarch64 wheel) and afis (slower and less accurate here).

Extraction: segment the finger by gradient energy; estimate the ridge orientation (gradient
tensor averaged over 41 px) and the image's ridge period (FFT); enhance with a bank of 24
Gabor filters tuned to 0.85 of that period; binarise, thin, and take minutiae by crossing number
away from the finger's edge. A minutia's direction comes from the orientation field, turned
so that a ridge ending points away from its ridge and a bifurcation towards its stem (the
same direction its ridge/valley dual would have, so a minutia that changes type between
impressions keeps its direction).

Matching fuses two views of the same minutiae (geometric mean of the two scores):
* Minutia Cylinder-Code (Cappelli, Ferrara & Maltoni, TPAMI 2010): binary cylinders
  (16×16×6 cells, R = 70 px) with LSS-R consolidation and the paper's parameters;
* a global alignment: the 30 most similar cylinder pairs each propose a rigid transform, and
  the one that pairs most minutiae (within 15 px and 25°) gives
  pairs² / (minutiae of A inside B's finger area × minutiae of B inside A's), so a small
  overlap is not held against a genuine pair.
Scores are in [0, 1], float32 values so calibrated thresholds compare exactly.
"""

from __future__ import annotations

import hashlib
import math
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from skimage.morphology import skeletonize

from kiosk.recognition.matcher import Identification, Match
from kiosk.sensors import FingerImage

ENGINE = "masar-finger-1"  # the template format and matcher; bump when either changes
DPI = 500  # every image is brought to this resolution before extraction
MIN_DPI, MAX_DPI = 250, 1000
MIN_SIDE_MM, MAX_SIDE_MM = 8.0, 60.0  # smaller is not a fingerprint; larger is a palm or a page
BLANK_STD = 6.0  # grey-level spread below which the image holds nothing
MIN_FINGER_AREA = 100 * 100  # pixels at 500 dpi (5×5 mm) of ridges, or no finger was pressed
MIN_MINUTIAE = 8  # fewer and no score means anything
MIN_CLARITY = 0.12  # ridge coherence: fingers-dev images 0.23 and up, random noise 0.04
MAX_CANDIDATES = 3000  # ridge endings + forks before filtering: fingers-dev ≤ 304; more is noise
MAX_MINUTIAE = 400  # after filtering: fingers-dev ≤ 94, a rolled finger ~200; more is noise

# extraction
SEGMENT_BLOCK, SEGMENT_FRACTION = 25, 0.2
ORIENTATION_WINDOW = 41
GABOR_ORIENTATIONS, GABOR_SIGMA = 24, 0.45  # sigma as a fraction of the ridge period
PERIOD_RANGE = (5.0, 16.0)  # ridge period in pixels at 500 dpi
GABOR_WAVELENGTH = 0.85  # × the measured period: thinner ridges, fewer merged ones (README)
BORDER = 12  # pixels a minutia must lie inside the finger's edge
MIN_DISTANCE = 6  # minutiae closer than this to another are noise (spurs, holes)
BROKEN_RIDGE = 12  # two endings facing each other closer than this are one broken ridge
REGION_CELL = 8  # the finger area is kept at 1/8 of the image's resolution

# Minutia Cylinder-Code, parameters of the paper
RADIUS, NS, ND = 70.0, 16, 6
SIGMA_S, SIGMA_D = 28.0 / 3.0, 2.0 * math.pi / 9.0
MU_PSI = 0.01
MIN_VALID_CELLS, MIN_NEIGHBOURS, MIN_MATCHABLE = 0.75, 2, 0.6
HULL_MARGIN = 50.0
DELTA_THETA = math.pi / 2
NP_MIN, NP_MAX, NP_MU, NP_TAU = 4, 12, 20.0, 0.4
RELAXATIONS, RELAX_WEIGHT = 5, 0.5
RHO = ((5.0, -1.6), (math.pi / 12, -30.0), (math.pi / 12, -30.0))  # (mu, tau) of d1, d2, d3

# global alignment
SEEDS, PAIR_DISTANCE, PAIR_ANGLE, MIN_OVERLAP = 30, 15.0, math.radians(25), 12
SHORTLIST = 25  # 1:N: templates scored in full after the quick look at all of them

# stands for "the model" in calibrations: the hash of this file's own source, so that any
# change to the engine (a constant, the extraction or the matcher) needs a new calibration
ENGINE_SHA256 = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()


class FingerImageError(ValueError):
    """The image cannot give a usable template; the message says why, for staff and the person."""


@dataclass(frozen=True)
class FingerQuality:
    """How usable an image is: score 0–100 and what it is made of.

    coverage: finger area against a 12×12 mm patch (1.0 at or above it); clarity: mean ridge
    orientation coherence over the finger (clean parallel ridges near 0.7, smudges near 0.2);
    minutiae: how many were found. score = 100 · coverage · min(1, clarity / 0.5) ·
    min(1, minutiae / 25), so each of a small print, a smudged print and a featureless one
    pulls it down.
    """

    score: float
    coverage: float
    clarity: float
    minutiae: int


@dataclass(frozen=True, eq=False)
class FingerTemplate:
    """Minutiae of one impression at 500 dpi, the finger area, and the cylinders built from them.

    minutiae: (n, 4) float32 x, y, direction (radians, image axes: y down), kind (0 ending,
    1 bifurcation). region: bool (h/8, w/8), where the finger is. Only these two are stored
    (to_bytes); the cylinders are rebuilt on loading.
    """

    minutiae: np.ndarray
    region: np.ndarray
    quality: float
    _cylinders: tuple[np.ndarray, np.ndarray, np.ndarray] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_cylinders", _cylinders(self.minutiae, self.region))

    def to_bytes(self) -> bytes:
        """ENGINE, quality, counts, then the minutiae (float32) and the packed region."""
        name = ENGINE.encode()
        h, w = self.region.shape
        head = struct.pack("<B", len(name)) + name
        head += struct.pack("<fIHH", self.quality, len(self.minutiae), h, w)
        minutiae = np.ascontiguousarray(self.minutiae, dtype="<f4").tobytes()
        return head + minutiae + np.packbits(self.region, axis=None).tobytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> FingerTemplate:
        """A template written by to_bytes; FingerImageError when it is damaged or foreign."""
        try:
            size = data[0]
            name = data[1 : 1 + size].decode()
            at = 1 + size
            quality, count, h, w = struct.unpack_from("<fIHH", data, at)
            at += struct.calcsize("<fIHH")
        except (IndexError, UnicodeDecodeError, struct.error):
            raise FingerImageError("The fingerprint template is damaged.") from None
        if name != ENGINE:
            raise FingerImageError(
                f"The fingerprint template was made by {name!r}, not {ENGINE!r}; "
                "enrol the finger again."
            )
        region_bytes = (h * w + 7) // 8
        if len(data) != at + count * 16 + region_bytes:
            raise FingerImageError("The fingerprint template is damaged (wrong length).")
        minutiae = np.frombuffer(data, dtype="<f4", count=count * 4, offset=at).reshape(count, 4)
        bits = np.frombuffer(data, dtype=np.uint8, offset=at + count * 16)
        region = np.unpackbits(bits, count=h * w).reshape(h, w).astype(bool)
        if not np.isfinite(minutiae).all():
            raise FingerImageError("The fingerprint template is damaged (values not numbers).")
        return cls(minutiae.astype(np.float32), region, float(quality))


# --- image checks -------------------------------------------------------------------------


def finger_pixels(image: FingerImage) -> np.ndarray:
    """The image as grey float32 at 500 dpi, or FingerImageError for what no sensor would give."""
    pixels = image.pixels
    if not isinstance(pixels, np.ndarray) or pixels.ndim != 2 or pixels.dtype != np.uint8:
        shape = getattr(pixels, "shape", "?")
        raise FingerImageError(
            f"The fingerprint image must be grey 8-bit pixels, not {shape} "
            f"{getattr(pixels, 'dtype', type(pixels).__name__)}."
        )
    if not MIN_DPI <= image.dpi <= MAX_DPI:
        raise FingerImageError(
            f"The fingerprint image is said to be {image.dpi} dpi; fingerprints need "
            f"{MIN_DPI}–{MAX_DPI} dpi (sensors give 500). Check the sensor's resolution setting."
        )
    h, w = pixels.shape
    width_mm, height_mm = w * 25.4 / image.dpi, h * 25.4 / image.dpi
    if min(width_mm, height_mm) < MIN_SIDE_MM or max(width_mm, height_mm) > MAX_SIDE_MM:
        raise FingerImageError(
            f"The fingerprint image is {w}×{h} pixels: {width_mm:.0f}×{height_mm:.0f} mm at "
            f"{image.dpi} dpi, where a fingerprint image is {MIN_SIDE_MM:.0f}–"
            f"{MAX_SIDE_MM:.0f} mm a side. Check the sensor's resolution setting."
        )
    grey = pixels.astype(np.float32)
    if image.dpi != DPI:
        scale = DPI / image.dpi
        size = (round(w * scale), round(h * scale))
        how = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        grey = np.asarray(cv2.resize(grey, size, interpolation=how), dtype=np.float32)
    if float(grey.std()) < BLANK_STD:
        raise FingerImageError(
            "The fingerprint image is blank: no finger was on the sensor. Press the finger "
            "flat on the glass."
        )
    return grey


# --- extraction -----------------------------------------------------------------------------


def _segment(grey: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(finger mask, gx, gy): the largest area where the gradient is strong."""
    gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0)
    gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1)
    energy = cv2.boxFilter(np.sqrt(gx * gx + gy * gy), -1, (SEGMENT_BLOCK, SEGMENT_BLOCK))
    strong = (energy > SEGMENT_FRACTION * float(energy.max())).astype(np.uint8)
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (11, 11))
    opened = cv2.morphologyEx(strong, cv2.MORPH_OPEN, disc)
    mask = np.asarray(cv2.morphologyEx(opened, cv2.MORPH_CLOSE, disc), dtype=np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask)
    if count > 1:
        mask = (labels == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))).astype(np.uint8)
    return mask, gx, gy


def _orientation(gx: np.ndarray, gy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(ridge direction in [0, π), coherence in [0, 1]) from the averaged gradient tensor."""
    window = (ORIENTATION_WINDOW, ORIENTATION_WINDOW)
    gxx = cv2.boxFilter(gx * gx, -1, window)
    gyy = cv2.boxFilter(gy * gy, -1, window)
    gxy = cv2.boxFilter(gx * gy, -1, window)
    theta = (np.arctan2(2 * gxy, gxx - gyy) / 2 + np.pi / 2) % np.pi
    coherence = np.sqrt((gxx - gyy) ** 2 + 4 * gxy**2) / (gxx + gyy + 1e-6)
    return theta.astype(np.float32), coherence.astype(np.float32)


def _ridge_period(norm: np.ndarray) -> float:
    """The image's ridge period: the peak of its radially averaged power spectrum."""
    h, w = norm.shape
    window = np.outer(np.hanning(h), np.hanning(w)).astype(np.float32)
    power = np.abs(np.fft.fftshift(np.fft.fft2(norm * window))) ** 2
    fy = (np.arange(h) - h // 2)[:, None] / h
    fx = (np.arange(w) - w // 2)[None, :] / w
    radius = np.sqrt(fx * fx + fy * fy)
    edges = np.linspace(1 / PERIOD_RANGE[1], 1 / PERIOD_RANGE[0], 41)
    band = (radius >= edges[0]) & (radius < edges[-1])
    bins = np.digitize(radius[band], edges) - 1
    totals = np.bincount(bins, weights=power[band], minlength=40)[:40]
    counts = np.bincount(bins, minlength=40)[:40]
    peak = int(np.argmax(totals / np.maximum(counts, 1)))
    return float(2 / (edges[peak] + edges[peak + 1]))


def _gabor_enhance(norm: np.ndarray, theta: np.ndarray, period: float) -> np.ndarray:
    """Each pixel filtered by the Gabor filter of its ridge direction: ridges > 0, valleys < 0."""
    sigma = GABOR_SIGMA * period
    size = int(2 * math.ceil(3 * sigma) + 1)
    step = math.pi / GABOR_ORIENTATIONS
    which = np.round(theta / step).astype(np.int32) % GABOR_ORIENTATIONS
    enhanced = np.zeros_like(norm)
    for index in range(GABOR_ORIENTATIONS):
        chosen = which == index
        if not chosen.any():
            continue
        # OpenCV's theta is the normal to the stripes: the ridge direction + π/2
        kernel = cv2.getGaborKernel(
            (size, size), sigma, index * step + math.pi / 2, period, 1.0, 0, ktype=cv2.CV_32F
        )
        kernel -= kernel.mean()
        enhanced[chosen] = cv2.filter2D(norm, cv2.CV_32F, kernel)[chosen]
    return enhanced


_NEIGHBOURS = ((-1, -1), (-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1))
_CROSSINGS = np.array(
    [
        sum(((code >> i) & 1) != ((code >> ((i + 1) % 8)) & 1) for i in range(8)) // 2
        for code in range(256)
    ],
    dtype=np.uint8,
)


def _crossing_numbers(skeleton: np.ndarray) -> np.ndarray:
    """Per skeleton pixel: 1 at a ridge ending, 3 at a bifurcation (0 off the skeleton)."""
    h, w = skeleton.shape
    padded = np.pad(skeleton.astype(np.int32), 1)
    code = np.zeros((h, w), np.int32)
    for bit, (dy, dx) in enumerate(_NEIGHBOURS):
        code |= padded[1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w] << bit
    crossings: np.ndarray = _CROSSINGS[code] * skeleton
    return crossings


def _close_pairs(
    xs: np.ndarray, ys: np.ndarray, shape: tuple[int, ...], distance: float
) -> tuple[np.ndarray, np.ndarray]:
    """(i, j): every two of the points (distinct pixels) closer than ``distance``, both ways.

    Each point looks up the pixels of a disc around it in an image of point numbers, so memory
    grows with points × disc area, never points² (noise gives thousands of points).
    """
    h, w = shape
    number = np.full((h, w), -1, np.int32)
    number[ys, xs] = np.arange(len(xs), dtype=np.int32)
    reach = math.ceil(distance)
    dy, dx = np.mgrid[-reach : reach + 1, -reach : reach + 1]
    disc = (dx * dx + dy * dy < distance * distance) & ((dx != 0) | (dy != 0))
    px, py = xs[:, None] + dx[disc][None], ys[:, None] + dy[disc][None]
    on_image = (px >= 0) & (px < w) & (py >= 0) & (py < h)
    i = np.nonzero(on_image)[0]
    j = number[py[on_image], px[on_image]]
    return i[j >= 0], j[j >= 0]


def _minutiae(enhanced: np.ndarray, mask: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """(n, 4) float32 x, y, direction, kind of the minutiae of an enhanced image."""
    ridges = (enhanced > 0) & (mask > 0)
    crossings = _crossing_numbers(skeletonize(ridges).astype(np.uint8))  # type: ignore[no-untyped-call]
    inside = cv2.distanceTransform(np.pad(mask, 1), cv2.DIST_L2, 3)[1:-1, 1:-1] > BORDER
    ys, xs = np.nonzero(((crossings == 1) | (crossings == 3)) & inside)
    if len(xs) > MAX_CANDIDATES:
        raise _too_noisy(len(xs))
    kinds = (crossings[ys, xs] == 3).astype(np.float32)
    # clusters come from spurs, holes and bridges, not from real minutiae
    crowded, _ = _close_pairs(xs, ys, enhanced.shape, MIN_DISTANCE)
    keep = np.ones(len(xs), bool)
    keep[crowded] = False
    xs, ys, kinds = xs[keep], ys[keep], kinds[keep]
    # an ending points away from its ridge, a bifurcation towards its stem: compare the
    # enhanced image a few pixels ahead and behind along the ridge direction
    angles = theta[ys, xs].astype(np.float64)
    ahead = np.arange(3, 10)
    ux, uy = np.cos(angles)[:, None], np.sin(angles)[:, None]
    h, w = enhanced.shape

    def ridge_along(sign: int) -> np.ndarray:
        px = np.clip(np.round(xs[:, None] + sign * ahead * ux).astype(int), 0, w - 1)
        py = np.clip(np.round(ys[:, None] + sign * ahead * uy).astype(int), 0, h - 1)
        values: np.ndarray = enhanced[py, px].mean(axis=1)
        return values

    towards_ridge = ridge_along(1) > ridge_along(-1)
    turn = np.where(kinds == 0, towards_ridge, ~towards_ridge)
    angles = (angles + np.pi * turn) % (2 * np.pi)
    # two endings facing each other across a short gap are one broken ridge
    i, j = _close_pairs(xs, ys, enhanced.shape, BROKEN_RIDGE)
    facing = np.abs(_angle(angles[i] - angles[j])) > math.radians(135)
    broken = np.zeros(len(xs), bool)
    broken[i[facing & (kinds[i] == 0) & (kinds[j] == 0)]] = True
    xs, ys, angles, kinds = xs[~broken], ys[~broken], angles[~broken], kinds[~broken]
    return np.column_stack([xs, ys, angles, kinds]).astype(np.float32).reshape(-1, 4)


def _too_noisy(details: int) -> FingerImageError:
    return FingerImageError(
        f"The fingerprint image is too noisy to read ({details} ridge details, far more than a "
        "finger has); clean the glass and the finger, and press again."
    )


def _extract(image: FingerImage) -> tuple[np.ndarray, np.ndarray, FingerQuality]:
    """(minutiae, finger mask, quality) of an image; FingerImageError when it shows no finger."""
    grey = finger_pixels(image)
    mask, gx, gy = _segment(grey)
    finger = mask > 0
    area = int(finger.sum())
    if area < MIN_FINGER_AREA:
        raise FingerImageError(
            "The fingerprint image shows too little of a finger. Press the finger flat on the "
            "middle of the glass."
        )
    norm = np.where(finger, -(grey - grey[finger].mean()) / (grey[finger].std() + 1e-6), 0)
    norm = norm.astype(np.float32)  # ridges (dark) become positive
    theta, coherence = _orientation(gx, gy)
    clarity = float(coherence[finger].mean())
    if clarity < MIN_CLARITY:  # before thinning: noise thins into thousands of false minutiae
        raise FingerImageError(
            "The fingerprint image shows no clear ridges (smudged, wet or dirty); clean the "
            "glass and the finger, and press again."
        )
    enhanced = _gabor_enhance(norm, theta, GABOR_WAVELENGTH * _ridge_period(norm))
    minutiae = _minutiae(enhanced, mask, theta)
    if len(minutiae) > MAX_MINUTIAE:
        raise _too_noisy(len(minutiae))
    return minutiae, mask, finger_quality(area, clarity, len(minutiae))


def image_quality(image: FingerImage) -> FingerQuality:
    """How usable an image is (for the enrolment screen); FingerImageError when it is unusable."""
    return _extract(image)[2]


def finger_template(image: FingerImage) -> FingerTemplate:
    """The template of one impression; FingerImageError when the image cannot give one."""
    minutiae, mask, quality = _extract(image)
    if len(minutiae) < MIN_MINUTIAE:
        raise FingerImageError(
            f"The fingerprint image shows too few ridge details ({len(minutiae)}); clean the "
            "glass and the finger, and press again."
        )
    h, w = mask.shape
    region = cv2.resize(mask, (w // REGION_CELL, h // REGION_CELL), interpolation=cv2.INTER_AREA)
    return FingerTemplate(minutiae, region > 0, quality.score)


def template_or_problem(image: FingerImage) -> tuple[FingerTemplate | None, str]:
    """The template, or None and why not in plain words (for a flow that carries on)."""
    try:
        return finger_template(image), ""
    except FingerImageError as error:
        return None, str(error)


def finger_quality(area: int, clarity: float, minutiae: int) -> FingerQuality:
    """See FingerQuality: the score from finger area (pixels at 500 dpi), clarity and minutiae."""
    patch = (12 / 25.4 * DPI) ** 2
    coverage = min(1.0, area / patch)
    score = 100 * coverage * min(1.0, clarity / 0.5) * min(1.0, minutiae / 25)
    return FingerQuality(round(score, 1), round(coverage, 3), round(clarity, 3), minutiae)


# --- Minutia Cylinder-Code ------------------------------------------------------------------


def _angle(difference: np.ndarray) -> np.ndarray:
    """Angles wrapped to [-π, π)."""
    wrapped: np.ndarray = (difference + np.pi) % (2 * np.pi) - np.pi
    return wrapped


def _psi(value: np.ndarray, mu: float, tau: float) -> np.ndarray:
    result: np.ndarray = 1 / (1 + np.exp(np.clip(-tau * (value - mu), -60, 60)))
    return result


_CELL = 2 * RADIUS / NS
_OFFSETS = (np.arange(NS) - (NS - 1) / 2) * _CELL
_CELL_X, _CELL_Y = (grid.ravel() for grid in np.meshgrid(_OFFSETS, _OFFSETS))
_IN_RADIUS = _CELL_X**2 + _CELL_Y**2 <= RADIUS**2
_LAYERS = -np.pi + (np.arange(ND) + 0.5) * 2 * np.pi / ND
_STEPS = 3600  # directional contributions are looked up at 0.1° steps of the relative angle
_CYLINDER_BLOCK = 4096  # cylinders × minutiae built at once: 8 MB a working array


def _layer_share(relative: float, layer: float) -> float:
    """The Gaussian (sigma_D) mass of the layer's 60° around ``layer`` for a relative angle."""
    offset = (layer - relative + math.pi) % (2 * math.pi) - math.pi
    half, scale = math.pi / ND, SIGMA_D * math.sqrt(2)
    return 0.5 * (math.erf((offset + half) / scale) - math.erf((offset - half) / scale))


_DIRECTIONAL = np.array(
    [
        [_layer_share(-math.pi + step * 2 * math.pi / _STEPS, layer) for layer in _LAYERS]
        for step in range(_STEPS)
    ]
)


def _cylinders(
    minutiae: np.ndarray, region: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(bits, valid cells, usable) per minutia: 1,536 cells each packed in 192 bytes (n, 192),
    and bool (n,).

    A cell is valid inside the convex hull of the minutiae grown by 50 px (the paper's rule),
    kept at the region's 1/8 scale; a cylinder is usable with 75 % valid cells and 2
    neighbours.
    """
    n = len(minutiae)
    cells = NS * NS * ND
    if n == 0:
        empty = np.zeros((0, cells // 8), np.uint8)
        return empty, empty, np.zeros(0, bool)
    x, y, t = (minutiae[:, i].astype(np.float64) for i in range(3))
    cos, sin = np.cos(t)[:, None], np.sin(t)[:, None]
    cx = x[:, None] + cos * _CELL_X - sin * _CELL_Y  # (n, 256) cell centres
    cy = y[:, None] + sin * _CELL_X + cos * _CELL_Y
    outline = np.zeros(region.shape, np.uint8)
    if n >= 3:
        points = np.round(minutiae[:, :2] / REGION_CELL).astype(np.int32)
        cv2.fillPoly(outline, [cv2.convexHull(points)], 1)
    grow = 2 * round(HULL_MARGIN / REGION_CELL) + 1
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (grow, grow))
    hull = np.asarray(cv2.dilate(outline, disc), dtype=np.uint8)
    rows, cols = hull.shape
    ci = np.floor(cx / REGION_CELL).astype(int)
    cj = np.floor(cy / REGION_CELL).astype(int)
    on_grid = (ci >= 0) & (ci < cols) & (cj >= 0) & (cj < rows)
    in_hull = np.zeros_like(on_grid)
    in_hull[on_grid] = hull[cj[on_grid], ci[on_grid]] > 0
    cell_valid = _IN_RADIUS[None] & in_hull
    # directional contribution of every other minutia to each of the 6 layers
    relative = _angle(t[:, None] - t[None])
    step = np.round((relative + np.pi) * _STEPS / (2 * np.pi)).astype(int) % _STEPS
    directional = _DIRECTIONAL[step]  # (n, n, ND)
    # spatial contribution of every other minutia to every cell (normalised Gaussian), a few
    # cylinders at a time: all at once is n × 256 × n values, gigabytes for a noisy image
    values = np.empty((n, NS * NS, ND))
    rows = max(1, _CYLINDER_BLOCK // n)
    for start in range(0, n, rows):
        block = slice(start, start + rows)
        d2 = (cx[block, :, None] - x[None, None]) ** 2 + (cy[block, :, None] - y[None, None]) ** 2
        spatial = np.exp(-d2 / (2 * SIGMA_S**2)) / (SIGMA_S * math.sqrt(2 * math.pi))
        spatial[d2 > (3 * SIGMA_S) ** 2] = 0
        own = np.arange(len(spatial))
        spatial[own, :, start + own] = 0
        values[block] = np.einsum("icj,ijk->ick", spatial, directional[block])
    valid = np.repeat(cell_valid[:, :, None], ND, axis=2)
    bits = (values >= MU_PSI) & valid
    apart = np.hypot(x[:, None] - x[None], y[:, None] - y[None])
    neighbours = (apart <= RADIUS + 3 * SIGMA_S).sum(axis=1) - 1
    usable = (cell_valid.sum(axis=1) / _IN_RADIUS.sum() >= MIN_VALID_CELLS) & (
        neighbours >= MIN_NEIGHBOURS
    )
    packed_bits = np.packbits(bits.reshape(n, cells), axis=1)  # 192 bytes a cylinder
    return packed_bits, np.packbits(valid.reshape(n, cells), axis=1), usable


def _local_similarities(a: FingerTemplate, b: FingerTemplate) -> np.ndarray:
    """(nA, nB) binary cylinder similarity 1 − ‖a ⊕ b‖ / (‖a‖ + ‖b‖) over common valid cells."""
    bits_a, valid_a, usable_a = a._cylinders
    bits_b, valid_b, usable_b = b._cylinders
    fa, va = (np.unpackbits(x, axis=1).astype(np.float32) for x in (bits_a, valid_a))
    fb, vb = (np.unpackbits(x, axis=1).astype(np.float32) for x in (bits_b, valid_b))
    on_a, on_b, both = fa @ vb.T, va @ fb.T, fa @ fb.T
    common = va @ vb.T
    differ = np.maximum(on_a + on_b - 2 * both, 0)
    norms = np.sqrt(on_a) + np.sqrt(on_b)
    similar = np.where(norms > 0, 1 - np.sqrt(differ) / np.maximum(norms, 1e-9), 0.0)
    turned = np.abs(_angle(a.minutiae[:, 2][:, None] - b.minutiae[:, 2][None])) > DELTA_THETA
    similar[(common < MIN_MATCHABLE * fa.shape[1]) | turned] = 0
    similar[~usable_a] = 0
    similar[:, ~usable_b] = 0
    return similar.astype(np.float64)


def _relaxed_score(similar: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """MCC's LSS-R: relax the best pairs by their geometric agreement, average the best n_P."""
    n_a, n_b = similar.shape
    flat = similar.ravel()
    order = np.argsort(-flat, kind="stable")[: min(n_a, n_b)]
    order = order[flat[order] > 0]
    if len(order) < 2:
        return 0.0
    i, j = np.divmod(order, n_b)
    start = flat[order]
    ma, mb = a[i].astype(np.float64), b[j].astype(np.float64)

    def geometry(m: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        dx, dy = m[None, :, 0] - m[:, None, 0], m[None, :, 1] - m[:, None, 1]
        relative = _angle(m[:, None, 2] - m[None, :, 2])
        radial = _angle(m[:, None, 2] - np.arctan2(dy, dx))
        return np.hypot(dx, dy), relative, radial

    da, ra, qa = geometry(ma)
    db, rb, qb = geometry(mb)
    rho = (
        _psi(np.abs(da - db), *RHO[0])
        * _psi(np.abs(_angle(ra - rb)), *RHO[1])
        * _psi(np.abs(_angle(qa - qb)), *RHO[2])
    )
    rho[(i[:, None] == i[None]) | (j[:, None] == j[None])] = 0
    relaxed = start.copy()
    for _ in range(RELAXATIONS):
        relaxed = RELAX_WEIGHT * relaxed + (1 - RELAX_WEIGHT) * (rho @ relaxed) / (len(start) - 1)
    n_p = _n_p(n_a, n_b)
    best = np.argsort(-(relaxed / start), kind="stable")[:n_p]
    return float(relaxed[best].mean())


def _inside(region: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    rows, cols = region.shape
    ci = np.floor(x / REGION_CELL).astype(int)
    cj = np.floor(y / REGION_CELL).astype(int)
    on_grid = (ci >= 0) & (ci < cols) & (cj >= 0) & (cj < rows)
    found = np.zeros(x.shape, bool)
    found[on_grid] = region[cj[on_grid], ci[on_grid]]
    return found


def _aligned_score(similar: np.ndarray, a: FingerTemplate, b: FingerTemplate) -> float:
    """Best rigid alignment among the top cylinder pairs: pairs² / (A in overlap × B in overlap)."""
    flat = similar.ravel()
    order = np.argsort(-flat, kind="stable")[:SEEDS]
    order = order[flat[order] > 0]
    if len(order) == 0:
        return 0.0
    si, sj = np.divmod(order, similar.shape[1])
    ma, mb = a.minutiae.astype(np.float64), b.minutiae.astype(np.float64)
    turn = _angle(mb[sj, 2] - ma[si, 2])[:, None]
    cos, sin = np.cos(turn), np.sin(turn)
    rx, ry = ma[None, :, 0] - ma[si, 0][:, None], ma[None, :, 1] - ma[si, 1][:, None]
    ax = cos * rx - sin * ry + mb[sj, 0][:, None]  # A's minutiae in B's frame, per seed
    ay = sin * rx + cos * ry + mb[sj, 1][:, None]
    dx = (ax[:, :, None] - mb[None, None, :, 0]).astype(np.float32)
    dy = (ay[:, :, None] - mb[None, None, :, 1]).astype(np.float32)
    distance2 = dx * dx + dy * dy
    # the angle between turned A and B is within PAIR_ANGLE when the cosine of it is above
    turned_a = ma[None, :, 2] + turn
    cos_a, sin_a = np.cos(turned_a).astype(np.float32), np.sin(turned_a).astype(np.float32)
    cos_b, sin_b = np.cos(mb[:, 2]).astype(np.float32), np.sin(mb[:, 2]).astype(np.float32)
    aligned = cos_a[:, :, None] * cos_b + sin_a[:, :, None] * sin_b >= math.cos(PAIR_ANGLE)
    cost = np.where(aligned & (distance2 <= PAIR_DISTANCE**2), distance2, np.inf)
    nearest_b, nearest_a = cost.argmin(axis=2), cost.argmin(axis=1)
    paired = np.isfinite(cost.min(axis=2)) & (
        np.take_along_axis(nearest_a, nearest_b, axis=1) == np.arange(len(ma))[None]
    )
    rx, ry = mb[None, :, 0] - mb[sj, 0][:, None], mb[None, :, 1] - mb[sj, 1][:, None]
    bx = cos * rx + sin * ry + ma[si, 0][:, None]  # B's minutiae in A's frame
    by = -sin * rx + cos * ry + ma[si, 1][:, None]
    overlap_a = np.maximum(_inside(b.region, ax, ay).sum(axis=1), MIN_OVERLAP)
    overlap_b = np.maximum(_inside(a.region, bx, by).sum(axis=1), MIN_OVERLAP)
    pairs = paired.sum(axis=1)
    return float(np.max(pairs**2 / (overlap_a * overlap_b)))


def _n_p(n_a: int, n_b: int) -> int:
    """How many pairs MCC averages: 4 for small templates, up to 12 for large ones."""
    return NP_MIN + round(float(_psi(np.array(min(n_a, n_b)), NP_MU, NP_TAU)) * (NP_MAX - NP_MIN))


def _quick_score(similar: np.ndarray) -> float:
    """MCC's plain LSS, the mean of the best n_P cylinder similarities: a cheap first look."""
    if similar.size == 0:
        return 0.0
    count = min(_n_p(*similar.shape), similar.size)
    return float(np.partition(similar.ravel(), -count)[-count:].mean())


def _fused_score(similar: np.ndarray, a: FingerTemplate, b: FingerTemplate) -> float:
    usable_a, usable_b = a._cylinders[2], b._cylinders[2]
    relaxed = _relaxed_score(
        similar[usable_a][:, usable_b], a.minutiae[usable_a], b.minutiae[usable_b]
    )
    aligned = min(1.0, _aligned_score(similar, a, b))
    return float(np.float32(math.sqrt(max(relaxed, 0.0) * aligned)))


def match_score(a: FingerTemplate, b: FingerTemplate) -> float:
    """Similarity of two impressions in [0, 1] (symmetric up to rounding); higher: same finger."""
    if len(a.minutiae) < 2 or len(b.minutiae) < 2:
        return 0.0
    return _fused_score(_local_similarities(a, b), a, b)


def verify(
    probe: FingerTemplate, enrolled: Iterable[FingerTemplate], subject_id: str, threshold: float
) -> Match:
    """1:1: does the probe match any of ``subject_id``'s enrolled impressions?"""
    scores = [match_score(probe, template) for template in enrolled]
    return Match(subject_id, max(scores, default=0.0), threshold)


def identify(
    probe: FingerTemplate,
    gallery: Sequence[tuple[str, FingerTemplate]],
    threshold: float,
    k: int = 3,
) -> Identification:
    """1:N: the k best people of (subject id, template) pairs, each by their best impression.

    Every template gets the quick LSS look; only the SHORTLIST best of those are scored in
    full (the fused score, comparable with the calibrated thresholds).
    """
    if k < 1:
        raise ValueError(f"k must be 1 or more, not {k}")
    usable = [
        (subject_id, template)
        for subject_id, template in gallery
        if len(template.minutiae) >= 2 and len(probe.minutiae) >= 2
    ]
    similar = [_local_similarities(probe, template) for _, template in usable]
    quick = np.array([_quick_score(s) for s in similar])
    best: dict[str, float] = {}
    for row in np.argsort(-quick, kind="stable")[:SHORTLIST]:
        subject_id, template = usable[row]
        score = _fused_score(similar[row], probe, template)
        if score > best.get(subject_id, -1.0):
            best[subject_id] = score
    ranked = sorted(best.items(), key=lambda item: -item[1])
    if not ranked:
        return Identification([], 0.0)
    margin = ranked[0][1] - ranked[1][1] if len(ranked) > 1 else ranked[0][1]
    return Identification([Match(s, score, threshold) for s, score in ranked[:k]], margin)

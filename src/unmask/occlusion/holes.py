"""Face-free hole masks: DeepFill v2 free-form strokes, hole-ratio buckets, LaMa-style masks and mask files.

Every mask is (H, W) uint8 with 1 = hole. ``fill_holes`` turns a mask into an occluded image by painting the
hole pixels with a constant colour (white by default), which is how the ``strokes``/``holes``/``thick``/
``medium``/``thin`` kinds are rendered.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from unmask.errors import UnmaskError

HOLE_BUCKETS = ((0.01, 0.1), (0.1, 0.2), (0.2, 0.3), (0.3, 0.4), (0.4, 0.5), (0.5, 0.6))
_REF = 256.0  # stroke sizes below are given for a 256-px image and scale with min(H, W)


def fill_holes(image: np.ndarray, mask: np.ndarray, fill: int | tuple[int, int, int] = 255) -> np.ndarray:
    """Copy of ``image`` (H, W, 3) uint8 with the pixels where ``mask`` (H, W) is 1 set to ``fill``."""
    out = image.copy()
    out[mask.astype(bool)] = fill
    return out


def grow_mask(mask: np.ndarray, width: float) -> np.ndarray:
    """The mask (H, W) dilated by ``width`` px along its border (a disc), uint8 {0, 1}; unchanged for 0."""
    mask = (np.asarray(mask) > 0).astype(np.uint8)
    if width <= 0:
        return mask
    size = 2 * int(round(width)) + 1
    return cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size)))


def free_form_mask(
    shape: tuple[int, int],
    rng: np.random.Generator,
    max_strokes: int = 4,
    max_vertex: int = 12,
    max_length: float | None = None,
    max_brush_width: float | None = None,
    max_angle: float = 2 * math.pi / 15,
) -> np.ndarray:
    """DeepFill v2 free-form mask (Yu et al. 2019, ``brush_stroke_mask``): (H, W) uint8, 1 = hole.

    1..max_strokes polylines of 4..max_vertex vertices; each step turns by about 2*pi/5 +- max_angle
    (alternating sides) and has a length ~ N(r, r/2) clipped to [0, max_length] with r = max_length / 2
    (default max_length: the image diagonal / 4); the brush is 12..max_brush_width px wide at 256 px (default
    40, scaled with the image) and round at the joints.
    """
    h, w = shape
    scale = min(h, w) / _REF
    max_length = math.hypot(h, w) / 4 if max_length is None else max_length
    max_brush_width = 40 * scale if max_brush_width is None else max_brush_width
    min_width = min(12 * scale, max_brush_width)
    mask = np.zeros((h, w), np.uint8)
    mean_angle = 2 * math.pi / 5
    for _ in range(int(rng.integers(1, max_strokes + 1))):
        n_vertex = int(rng.integers(4, max(max_vertex, 4) + 1))
        a_min = mean_angle - rng.uniform(0, max_angle)
        a_max = mean_angle + rng.uniform(0, max_angle)
        pts = [np.array([rng.uniform(0, w), rng.uniform(0, h)])]
        for i in range(n_vertex):
            angle = rng.uniform(a_min, a_max)
            angle = 2 * math.pi - angle if i % 2 == 0 else angle
            r = np.clip(rng.normal(max_length / 2, max_length / 4), 0, max_length)
            step = np.array([r * math.cos(angle), r * math.sin(angle)])
            pts.append(np.clip(pts[-1] + step, 0, [w - 1, h - 1]))
        width = max(1, round(rng.uniform(min_width, max_brush_width)))
        poly = np.round(np.asarray(pts)).astype(np.int32)
        cv2.polylines(mask, [poly], False, 1, thickness=width)
        for p in poly:
            cv2.circle(mask, (int(p[0]), int(p[1])), width // 2, 1, -1)
    if rng.random() < 0.5:
        mask = mask[:, ::-1]
    if rng.random() < 0.5:
        mask = mask[::-1]
    return np.ascontiguousarray(mask)


def _stroke(canvas: np.ndarray, area: float, rng: np.random.Generator, start: np.ndarray) -> None:
    """Draw a random round-brush polyline of roughly ``area`` pixels starting at ``start`` (x, y)."""
    h, w = canvas.shape
    width = float(np.clip(math.sqrt(area) * rng.uniform(0.15, 0.45), 1, 0.2 * min(h, w)))
    n_seg = int(rng.integers(1, 6))
    seg = area / width / n_seg
    angle = rng.uniform(0, 2 * math.pi)
    pts = [start]
    for _ in range(n_seg):
        angle += rng.uniform(-1.2, 1.2)
        pts.append(pts[-1] + seg * np.array([math.cos(angle), math.sin(angle)]))
    cv2.polylines(
        canvas, [np.round(np.asarray(pts)).astype(np.int32)], False, 1, thickness=max(1, round(width))
    )


def _blob(canvas: np.ndarray, area: float, rng: np.random.Generator, centre: np.ndarray) -> None:
    """Draw a random star-shaped polygon of roughly ``area`` pixels around ``centre`` (x, y)."""
    k = int(rng.integers(5, 12))
    radius = math.sqrt(area / (0.85 * math.pi))
    angles = np.sort(rng.uniform(0, 2 * math.pi, k))
    radii = radius * rng.uniform(0.6, 1.25, k)
    pts = centre + np.stack([radii * np.cos(angles), radii * np.sin(angles)], 1)
    cv2.fillPoly(canvas, [np.round(pts).astype(np.int32)], 1)


def border_margin(shape: tuple[int, int]) -> int:
    """Pixels kept free along every edge by ``bucketed_holes(border=False)``: max(3, 2 % of min(H, W))."""
    return max(3, round(0.02 * min(shape)))


def bucketed_holes(
    shape: tuple[int, int],
    ratio: tuple[float, float],
    border: bool | None,
    rng: np.random.Generator,
) -> np.ndarray:
    """Irregular hole mask (H, W) uint8 (1 = hole) whose hole ratio lies in the bucket (lo, hi].

    Strokes and blobs are added (each sized to part of what is still missing) until the ratio reaches a random
    target inside the bucket; one that overshoots ``hi`` is undone and smaller ones are tried.
    ``border=True``: the hole touches the image border; ``False``: every hole pixel is at least
    ``border_margin(shape)`` px from every edge; ``None``: no constraint.
    The PConv test buckets are ``HOLE_BUCKETS``.
    """
    lo, hi = float(ratio[0]), float(ratio[1])
    if not 0.0 <= lo < hi <= 1.0:
        raise UnmaskError(f"hole ratio bucket must satisfy 0 <= lo < hi <= 1, got ({lo}, {hi})")
    h, w = shape
    total = h * w
    lo_px, hi_px = math.floor(lo * total) + 1, math.floor(hi * total)
    m = border_margin(shape) if border is False else 0
    canvas = np.zeros((h - 2 * m, w - 2 * m), np.uint8)
    if lo_px > hi_px or canvas.size < lo_px:
        raise UnmaskError(f"cannot fit a hole ratio in ({lo}, {hi}] into a {h}x{w} image")
    ch, cw = canvas.shape
    target = rng.uniform(lo + 0.15 * (hi - lo), hi - 0.15 * (hi - lo)) * total
    count = 0
    anchors: list[np.ndarray] = []
    if border:
        side = int(rng.integers(4))
        t = rng.uniform(0, 1)
        seed = [
            np.array([t * (cw - 1), 0.0]),
            np.array([t * (cw - 1), ch - 1.0]),
            np.array([0.0, t * (ch - 1)]),
            np.array([cw - 1.0, t * (ch - 1)]),
        ][side]
        cv2.circle(canvas, (round(seed[0]), round(seed[1])), max(1, min(h, w) // 64), 1, -1)
        count = cv2.countNonZero(canvas)
        anchors.append(seed)
    shrink = 1.0
    for _ in range(400):
        if count >= target and count >= lo_px:
            break
        need = max(target - count, lo_px - count, 1.0)
        area = max(need * rng.uniform(0.3, 1.0) * shrink, 2.0)
        if anchors and rng.random() < 0.5:  # grow from an earlier element, else start somewhere new
            at = anchors[int(rng.integers(len(anchors)))]
        else:
            at = np.array([rng.uniform(0, cw - 1), rng.uniform(0, ch - 1)])
        trial = canvas.copy()
        (_stroke if rng.random() < 0.6 else _blob)(trial, area, rng, at)
        trial_count = cv2.countNonZero(trial)
        if trial_count > hi_px:
            shrink *= 0.5
            continue
        canvas, count, shrink = trial, trial_count, min(1.0, shrink * 1.5)
        anchors.append(at)
    if count < lo_px:  # rare: finish with single free pixels so the bucket is always met
        free = np.flatnonzero(canvas == 0)
        canvas.flat[rng.choice(free, lo_px - count, replace=False)] = 1
    return cv2.copyMakeBorder(canvas, m, m, m, m, cv2.BORDER_CONSTANT, value=0) if m else canvas


@dataclass(frozen=True)
class LamaMaskConfig:
    """LaMa-style irregular mask settings, sizes in px for a 256-px image (scaled with min(H, W)).

    Strokes: min_times..max_times strokes of 1-5 segments, each turning by up to max_angle rad, 10..10+max_len
    long, 5..5+max_width wide. Boxes (with probability box_proba): box_min_times..box_max_times rectangles of
    box_min..box_max px per side, box_margin px from the edges.
    """

    max_angle: float = 4.0
    max_len: float = 100.0
    max_width: float = 20.0
    min_times: int = 1
    max_times: int = 5
    box_proba: float = 0.0
    box_min: float = 10.0
    box_max: float = 50.0
    box_min_times: int = 1
    box_max_times: int = 3
    box_margin: float = 0.0


# after LaMa's random_{thick,medium,thin}_256 training configs (Suvorov et al. 2022)
LAMA_CONFIGS = {
    "thick": LamaMaskConfig(
        max_len=200, max_width=100, box_proba=0.3, box_min=30, box_max=150, box_margin=10
    ),
    "medium": LamaMaskConfig(
        max_len=100, max_width=20, box_proba=0.3, box_min=10, box_max=50, box_max_times=5
    ),
    "thin": LamaMaskConfig(max_len=40, max_width=10, min_times=4, max_times=50),
}


def lama_mask(shape: tuple[int, int], rng: np.random.Generator, config: LamaMaskConfig) -> np.ndarray:
    """LaMa-style irregular mask (H, W) uint8 (1 = hole) drawn with ``config`` (see ``LAMA_CONFIGS``)."""
    h, w = shape
    s = min(h, w) / _REF
    mask = np.zeros((h, w), np.uint8)
    for i in range(int(rng.integers(config.min_times, config.max_times + 1))):
        x, y = rng.uniform(0, w), rng.uniform(0, h)
        for _ in range(int(rng.integers(1, 6))):
            angle = 0.01 + rng.uniform(0, config.max_angle)
            angle = 2 * math.pi - angle if i % 2 == 0 else angle
            length = (10 + rng.uniform(0, config.max_len)) * s
            brush = max(1, round((5 + rng.uniform(0, config.max_width)) * s))
            nx = float(np.clip(x + length * math.sin(angle), 0, w - 1))
            ny = float(np.clip(y + length * math.cos(angle), 0, h - 1))
            cv2.line(mask, (round(x), round(y)), (round(nx), round(ny)), 1, brush)
            x, y = nx, ny
    if rng.random() < config.box_proba:
        margin = round(config.box_margin * s)
        top = min(config.box_max * s, h - 2 * margin, w - 2 * margin)
        low = min(config.box_min * s, top)
        for _ in range(int(rng.integers(config.box_min_times, config.box_max_times + 1))):
            bw, bh = (max(1, round(rng.uniform(low, top))) for _ in range(2))
            x0 = int(rng.integers(margin, max(margin, w - margin - bw) + 1))
            y0 = int(rng.integers(margin, max(margin, h - margin - bh) + 1))
            mask[y0 : y0 + bh, x0 : x0 + bw] = 1
    return mask


class FileMasks:
    """Hole masks read from PNG files (white = hole), e.g. NVIDIA's irregular-hole test set (512x512 grey).

    Each file is read once, on first use, and kept bit-packed in memory (32 KiB per 512x512 mask).
    """

    def __init__(self, folder: str | Path, pattern: str = "*.png") -> None:
        self.files = sorted(Path(folder).glob(pattern))
        if not self.files:
            raise UnmaskError(f"no mask files matching {pattern!r} in {folder}")
        self._cache: dict[int, tuple[np.ndarray, tuple[int, int]]] = {}

    def __len__(self) -> int:
        return len(self.files)

    def load(self, index: int) -> np.ndarray:
        """Mask number ``index`` at its stored size, (h, w) uint8, 1 = hole."""
        if index not in self._cache:
            grey = cv2.imread(str(self.files[index]), cv2.IMREAD_GRAYSCALE)
            if grey is None:
                raise UnmaskError(f"cannot read mask file {self.files[index]}")
            self._cache[index] = (np.packbits(grey > 127), grey.shape)
        packed, hw = self._cache[index]
        return np.unpackbits(packed, count=hw[0] * hw[1]).reshape(hw)

    def __call__(self, shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
        """A random file mask, randomly rotated by k*90 deg and flipped, resized (nearest) to (H, W) uint8."""
        mask = np.rot90(self.load(int(rng.integers(len(self.files)))), int(rng.integers(4)))
        if rng.random() < 0.5:
            mask = mask[:, ::-1]
        h, w = shape
        return cv2.resize(np.ascontiguousarray(mask), (w, h), interpolation=cv2.INTER_NEAREST)

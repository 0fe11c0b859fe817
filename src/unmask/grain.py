"""Grain matching: give a fill the fine grain (skin pores, sensor noise, JPEG texture) of the photo around it.

A model fills a face at its own size (128² or 256²) and the fill is scaled up to the face in the photo, so at the
photo's resolution the hole is smoother than the skin next to it, which is what makes a fill look pasted on. As
compositors do, the missing grain is added back from the photo itself: the high-pass residual of the ring of known
pixels around the hole is cut into small patches, the patches are laid over the hole in a random order with an
overlap-add window (which keeps their variance), and the result is scaled so the hole's grain matches the ring's.
Only the skin's grain is taken from the ring, never structure or another material's: the ring is cut down to the
pixels whose local colour is near the fill's (not hair, clothes or background), patches with edges in them (glasses,
the jaw line) or parallel lines (strands of hair over the cheek) are left out, and the residual is clipped. Only
changed pixels are touched.
"""

from __future__ import annotations

import cv2
import numpy as np

from unmask.face.reference_blend import ring

SIGMA = 1.0  # the Gaussian whose residual is "grain": what a 2x upscaled fill lacks
PATCH = 16  # side of the grain patches, full-resolution pixels
RING = 2 * PATCH  # width of the band of known pixels around the hole that gives the grain
MIN_PATCHES = 8  # fewer clean patches than this in the ring: too little skin to learn the grain from
MIN_GAIN = 0.5  # grain std (0-255 levels) below which nothing is added
ENOUGH = 0.9  # a fill with this share of the ring's grain already has its own
SKIN_DISTANCE = 48.0  # RGB distance from the fill's median colour within which a ring pixel counts as skin
SKIN_SHARE = 0.25  # ... and the nearest quarter of the ring counts (a fill of mixed colours) ...
SKIN_FAR = 96.0  # ... if that is within this distance: a ring of black hair around pale skin is not skin
MAX_COHERENCE = 0.3  # gradients lined up more than this are strands, not grain (noise: 99 % under 0.2)


def _high_pass(image: np.ndarray) -> np.ndarray:
    """The image minus its Gaussian blur (float32, same shape)."""
    image = image.astype(np.float32)
    return image - cv2.GaussianBlur(image, (0, 0), SIGMA)


def _robust_std(values: np.ndarray) -> np.ndarray:
    """Per-channel standard deviation from the median absolute deviation of (N, C) values (edges barely count)."""
    return 1.4826 * np.median(np.abs(values - np.median(values, 0)), 0)


def _skin(photo: np.ndarray, around: np.ndarray, colour: np.ndarray) -> np.ndarray:
    """The pixels of ``around`` whose local colour (blurred over a quarter patch) is near ``colour``: within
    ``SKIN_DISTANCE`` or among the nearest ``SKIN_SHARE`` of the ring, never beyond ``SKIN_FAR``. That is the
    ring's skin, without the hair, patterned clothes or background next to it."""
    if not around.any():
        return around
    local = cv2.GaussianBlur(photo.astype(np.float32), (0, 0), PATCH / 4)
    distance = np.linalg.norm(local - colour, axis=-1)
    share = min(float(np.quantile(distance[around], SKIN_SHARE)), SKIN_FAR)
    return around & (distance <= max(SKIN_DISTANCE, share))


def _window() -> np.ndarray:
    """A (PATCH, PATCH) window whose squares sum to one when patches overlap by half: variance is preserved."""
    line = np.sin(np.pi * (np.arange(PATCH) + 0.5) / PATCH).astype(np.float32)
    return np.outer(line, line)


def _grain_patches(residual: np.ndarray, around: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Clean (N, PATCH, PATCH, C) patches of ``residual`` lying wholly in ``around``, clipped to 3 ``target``."""
    inside = cv2.boxFilter(around.astype(np.float32), -1, (PATCH, PATCH), normalize=True, anchor=(0, 0),
                           borderType=cv2.BORDER_CONSTANT)
    ys, xs = np.nonzero(inside[: 1 - PATCH or None, : 1 - PATCH or None] > 0.999)
    if len(ys) == 0:
        return np.zeros((0, PATCH, PATCH, residual.shape[2]), np.float32)
    step = max(1, len(ys) // 2048)  # a few thousand candidate positions are plenty
    ys, xs = ys[::step], xs[::step]
    clipped = np.clip(residual, -3 * target, 3 * target)
    patches = np.stack([clipped[y:y + PATCH, x:x + PATCH] for y, x in zip(ys, xs, strict=True)])
    spread = patches.reshape(len(patches), -1, patches.shape[-1]).std(1).max(1)
    clean = (spread <= 1.5 * float(target.max())) & (_coherence(patches) <= MAX_COHERENCE)
    return patches[clean]  # patches with an edge or strands in them carry structure


def _coherence(patches: np.ndarray) -> np.ndarray:
    """How much one direction dominates the gradients of each of (N, P, P, C) patches: 0 for grain that runs every
    way, 1 for parallel lines (hair strands, fabric weave). From the patch's summed structure tensor."""
    grey = patches.mean(-1)
    gy, gx = np.gradient(grey, axis=(1, 2))
    xx, yy, xy = (gx * gx).sum((1, 2)), (gy * gy).sum((1, 2)), (gx * gy).sum((1, 2))
    return np.sqrt((xx - yy) ** 2 + 4 * xy ** 2) / np.maximum(xx + yy, 1e-6)


def _lay(patches: np.ndarray, shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Random patches overlap-added on a half-patch grid over an (H, W) canvas: (H, W, C) grain."""
    height, width = shape
    half = PATCH // 2
    canvas = np.zeros((height + 2 * PATCH, width + 2 * PATCH, patches.shape[-1]), np.float32)
    window = _window()[..., None]
    offset_y, offset_x = rng.integers(0, half, 2)
    for y in range(offset_y, height + PATCH, half):
        for x in range(offset_x, width + PATCH, half):
            patch = patches[rng.integers(len(patches))]
            if rng.random() < 0.5:
                patch = patch[:, ::-1]
            canvas[y:y + PATCH, x:x + PATCH] += window * patch
    return canvas[PATCH:PATCH + height, PATCH:PATCH + width]


def match_grain(photo: np.ndarray, result: np.ndarray, changed: np.ndarray, seed: int = 0,
                skin_area: np.ndarray | None = None) -> np.ndarray:
    """``result`` with the grain of ``photo``'s known pixels around the hole added where the fill is smoother.

    ``photo``: the input, RGB uint8 (H, W, 3); ``result``: the filled photo, same shape; ``changed``: (H, W),
    non-zero where ``result`` was filled; ``skin_area``: (H, W) bool, where grain is taken from when the ring holds
    enough skin there (the faces' boxes: a skin-coloured sweater or wall beside a face is not skin), None for
    anywhere. Returns a new uint8 array; pixels outside ``changed`` are unchanged and
    the result is the same for the same ``seed``. Where the ring around the hole has too little clean skin to
    learn the grain from, ``result`` is returned as it is.
    """
    hole = changed > 0
    rows, columns = np.nonzero(hole)
    if not len(rows):
        return result.copy()
    y0, x0 = max(0, rows.min() - RING), max(0, columns.min() - RING)
    y1, x1 = min(hole.shape[0], rows.max() + RING + 1), min(hole.shape[1], columns.max() + RING + 1)
    box_hole = hole[y0:y1, x0:x1]
    around = _skin(photo[y0:y1, x0:x1], ring(box_hole, RING),
                   np.median(result[y0:y1, x0:x1][box_hole], 0).astype(np.float32))
    if skin_area is not None:
        in_area = around & skin_area[y0:y1, x0:x1]
        around = in_area if in_area.sum() >= MIN_PATCHES * PATCH * PATCH else around
    if around.sum() < MIN_PATCHES * PATCH * PATCH:
        return result.copy()
    source = _high_pass(photo[y0:y1, x0:x1])
    target = _robust_std(source[around])
    present = _robust_std(_high_pass(result[y0:y1, x0:x1])[box_hole])
    needed = np.sqrt(np.maximum(target ** 2 - present ** 2, 0.0))
    if (present >= ENOUGH * target).all() or needed.max() < MIN_GAIN:
        return result.copy()
    patches = _grain_patches(source, around, target)
    if len(patches) < MIN_PATCHES:
        return result.copy()
    grain = _lay(patches, box_hole.shape, np.random.default_rng(seed))
    grain *= needed / np.maximum(_robust_std(grain[box_hole]), 1e-6)
    out = result.copy()
    region = out[y0:y1, x0:x1]
    region[box_hole] = np.clip(region[box_hole] + grain[box_hole] + 0.5, 0, 255).astype(np.uint8)
    return out

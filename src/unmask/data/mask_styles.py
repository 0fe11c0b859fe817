"""Looks the synthetic mask templates lack, for training the occlusion detector on what people really wear.

Real masks come in every colour and print (black, brown, grey, checks, stripes, hearts, folk prints, sequins) and
hang on ear loops, straps and ties; the MaskTheFace templates are a few colours and eight cloth textures without
loops. A detector trained only on them learns those colours and misses the rest. :func:`restyle_mask` repaints a
drawn mask with a random procedural print under the template's own shading; :func:`draw_straps` adds ear loops or
head straps from the mask's sides towards the ears. Both change only the training sample (image and label), not the
occlusion generators used for evaluation.
"""

from __future__ import annotations

import cv2
import numpy as np

from unmask.face.types import Face
from unmask.occlusion.face_masks import relative_shading

PRINTS = ("solid", "stripes", "checks", "dots", "blobs", "motifs", "speckle")


def random_colour(rng: np.random.Generator) -> np.ndarray:
    """An RGB colour (3,) float32 in [0, 1] from a wide range: dark, grey, muted, pastel and saturated."""
    style = rng.random()
    if style < 0.25:  # black, charcoal, navy, brown: the dark masks
        hsv = (rng.integers(0, 180), rng.integers(0, 200), rng.integers(10, 80))
    elif style < 0.45:  # greys from near black to white
        hsv = (0, rng.integers(0, 25), rng.integers(40, 250))
    elif style < 0.7:  # muted
        hsv = (rng.integers(0, 180), rng.integers(30, 140), rng.integers(60, 220))
    else:  # saturated and pastel
        hsv = (rng.integers(0, 180), rng.integers(60, 256), rng.integers(120, 256))
    pixel = np.uint8([[hsv]])
    return cv2.cvtColor(pixel, cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32) / 255


def _rotated_grid(shape: tuple[int, int], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates (h, w) each, rotated by a random angle about the centre."""
    h, w = shape
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    angle = rng.uniform(0, np.pi)
    c, s = np.cos(angle), np.sin(angle)
    return c * x + s * y, -s * x + c * y


def _smooth_noise(shape: tuple[int, int], scale: float, rng: np.random.Generator) -> np.ndarray:
    """Smooth random field (h, w) float32 of zero mean, unit spread, features about ``scale`` px across."""
    h, w = shape
    small = rng.standard_normal((max(2, int(h / scale) + 2), max(2, int(w / scale) + 2))).astype(np.float32)
    field = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    return (field - field.mean()) / max(float(field.std()), 1e-6)


def random_print(shape: tuple[int, int], width: float, rng: np.random.Generator,
                 ground: np.ndarray | None = None) -> np.ndarray:
    """A random fabric print (h, w, 3) float32 RGB in [0, 1]; ``width``: the mask's width in px (sets the scale).

    One of PRINTS: a solid colour, stripes, checks (plaid), dots (polka, hearts), smooth blobs (camouflage, floral),
    scattered small motifs (printed figures) or speckle (knit, sequins), in two to four random colours; ``ground``
    (3,) float32 in [0, 1], when given, is the print's main colour.
    """
    h, w = shape
    kind = PRINTS[int(rng.integers(len(PRINTS)))]
    colours = [random_colour(rng) for _ in range(4)]
    if ground is not None:
        colours[0] = ground
    out = np.empty((h, w, 3), np.float32)
    out[:] = colours[0]
    if kind == "solid":
        return out
    period = width * rng.uniform(0.04, 0.25)
    if kind in ("stripes", "checks"):
        u, v = _rotated_grid(shape, rng)
        duty = rng.uniform(0.2, 0.6)
        out[(u / period) % 1 < duty] = colours[1]
        if kind == "checks":
            across = (v / (period * rng.uniform(0.7, 1.4))) % 1 < rng.uniform(0.2, 0.6)
            out[across] = colours[2]
            out[across & ((u / period) % 1 < duty)] = colours[3]
    elif kind == "dots":
        u, v = _rotated_grid(shape, rng)
        cu, cv = (u / period) % 1 - 0.5, (v / period) % 1 - 0.5
        out[cu ** 2 + cv ** 2 < rng.uniform(0.03, 0.2)] = colours[1]
    elif kind == "blobs":
        levels = _smooth_noise(shape, period, rng)
        cuts = np.sort(rng.uniform(-0.8, 0.8, 3))
        for colour, cut in zip(colours[1:], cuts, strict=True):
            out[levels > cut] = colour
    elif kind == "motifs":
        for _ in range(int(rng.integers(3, 30))):
            centre = (int(rng.integers(w)), int(rng.integers(h)))
            axes = (max(1, int(period * rng.uniform(0.2, 0.8))), max(1, int(period * rng.uniform(0.2, 0.8))))
            colour = colours[int(rng.integers(1, 4))].tolist()
            cv2.ellipse(out, centre, axes, float(rng.uniform(0, 180)), 0, 360, colour, -1)
    else:  # speckle
        grain = rng.random((h, w)) < rng.uniform(0.1, 0.5)
        out[grain] = colours[1]
        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.3, 1.0))
    return out


def _skin_above(image: np.ndarray, mask: np.ndarray, top: int) -> np.ndarray:
    """Median colour (3,) float32 in [0, 1] of the unmasked pixels in the band above the mask's top row, across the
    mask's columns: mostly the cheeks and nose, the skin the mask hides."""
    columns = np.flatnonzero(mask.any(0))
    band = image[max(0, top - max(4, len(columns) // 4)):top, columns.min():columns.max() + 1]
    if band.size == 0:
        return np.full(3, 0.6, np.float32)
    return np.median(band.reshape(-1, 3), axis=0).astype(np.float32) / 255


def restyle_mask(image: np.ndarray, mask: np.ndarray, rng: np.random.Generator,
                 skin_toned: float = 0.0) -> np.ndarray:
    """Repaint the mask region (``mask`` (H, W) uint8, 1 = mask) of ``image`` (H, W, 3) uint8 with a random print.

    A ``skin_toned`` share of the prints take their main colour near the skin above the mask (pink, beige, tan and
    brown masks), so that a mask the colour of the face must be told by its outline, folds and the missing mouth.
    The print is multiplied by the painted template's shading (its luminance over its bright level), so folds and
    the shadow under the chin stay; the edge is feathered over a pixel. Returns a new (H, W, 3) uint8 image.
    """
    ys, xs = np.nonzero(mask)
    if len(ys) == 0:
        return image
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    region = image[y0:y1, x0:x1].astype(np.float32) / 255
    inside = mask[y0:y1, x0:x1] > 0
    shading = 1 + (relative_shading(region, inside) - 1) * rng.uniform(0.4, 1.0)  # prints hide part of the folds
    ground = None
    if skin_toned and rng.random() < skin_toned:
        ground = np.clip(_skin_above(image, mask, y0) * rng.uniform(0.8, 1.2, 3), 0, 1).astype(np.float32)
    painted = random_print(inside.shape, float(x1 - x0), rng, ground) * shading
    alpha = cv2.GaussianBlur(inside.astype(np.float32), (3, 3), 0)[..., None] * inside[..., None]
    out = image.copy()
    out[y0:y1, x0:x1] = np.clip((region * (1 - alpha) + painted * alpha) * 255 + 0.5, 0, 255).astype(np.uint8)
    return out


def _curve(start: np.ndarray, control: np.ndarray, end: np.ndarray, steps: int = 24) -> np.ndarray:
    """Quadratic Bezier from ``start`` to ``end`` through ``control``, as int32 points (steps, 1, 2) for OpenCV."""
    t = np.linspace(0, 1, steps)[:, None]
    points = (1 - t) ** 2 * start + 2 * (1 - t) * t * control + t ** 2 * end
    return np.round(points).astype(np.int32)[:, None]


def draw_straps(image: np.ndarray, mask: np.ndarray, face: Face,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Ear loops (two curves from each side of the mask to the ear) or head straps (two lines from each side
    across to the back of the head) on ``image`` (H, W, 3) uint8, added to ``mask`` (H, W) uint8, 1 = mask.

    Sides are drawn where the mask reaches the jaw: a side whose ear lies past the image edge is still drawn up to
    the edge. The loops' anti-aliased coverage is their label: every changed pixel is in the returned mask.
    Returns new copies of both.
    """
    ys, xs = np.nonzero(mask)
    if len(ys) == 0:
        return image, mask
    lm = np.asarray(face.landmarks, np.float64)
    face_width = float(np.linalg.norm(lm[16] - lm[0]))
    thickness = max(1, int(round(face_width * rng.uniform(0.01, 0.03))))
    colour = random_colour(rng) * 255 if rng.random() < 0.6 else image[ys, xs].mean(0).astype(np.float32)
    straps = rng.random() < 0.3
    top, bottom = ys.min(), ys.max()
    ink = np.zeros(mask.shape, np.uint8)  # anti-aliased coverage of the loops, 255 = fully covered
    for side, ear, outward in ((xs.min(), lm[0], -1.0), (xs.max(), lm[16], 1.0)):
        rows_at_side = ys[np.abs(xs - side) <= max(2, 0.03 * face_width)]
        upper = np.array([side, rows_at_side.min() if len(rows_at_side) else top], np.float64)
        lower = np.array([side, rows_at_side.max() if len(rows_at_side) else bottom], np.float64)
        if straps:
            reach = face_width * rng.uniform(0.3, 0.6)
            ends = [upper + [outward * reach, -rng.uniform(0, 0.2) * face_width],
                    lower + [outward * reach, rng.uniform(0, 0.2) * face_width]]
            controls = [(upper + ends[0]) / 2, (lower + ends[1]) / 2]
        else:
            ear_point = ear + [outward * face_width * rng.uniform(0.0, 0.08), -face_width * rng.uniform(0.0, 0.1)]
            ends = [ear_point, ear_point + [0, face_width * rng.uniform(0.05, 0.15)]]
            bow = face_width * rng.uniform(0.0, 0.08)
            controls = [(upper + ends[0]) / 2 + [0, -bow], (lower + ends[1]) / 2 + [0, bow]]
        for start, control, end in zip((upper, lower), controls, ends, strict=True):
            cv2.polylines(ink, [_curve(start, control, end)], False, 255, thickness, cv2.LINE_AA)
    alpha = ink.astype(np.float32)[..., None] / 255
    out = np.clip(image * (1 - alpha) + colour * alpha + 0.5, 0, 255).astype(np.uint8)
    return out, np.maximum(mask, (ink > 0).astype(mask.dtype))

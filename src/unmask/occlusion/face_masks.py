"""MaskTheFace-style synthetic face masks: warp an RGBA mask template onto the 68 landmarks of a face.

The templates, textures and anchor points come from MaskTheFace (Aqeel Anwar, MIT licence, shipped in
``unmask/assets/masktheface``). Each template carries six anchors a-f (a = image-left cheek, b = top of the
nose bridge, c = image-right cheek, d = lower-left jaw, e = chin bottom, f = lower-right jaw). The same six
points are computed on the face, a homography maps one set onto the other and the warped template is
alpha-composited over the photo. Templates are loaded once and cached (with a small pyramid), so a call costs
a few milliseconds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources

import cv2
import numpy as np

from unmask.errors import UnmaskError
from unmask.face.types import CHIN, EYE_LEFT, EYE_RIGHT, NOSE_TIP, Face

MASK_KINDS = ("surgical", "n95", "kn95", "cloth", "gas")
_TEMPLATE_BASES = {
    "surgical": ("surgical", "surgical_blue", "surgical_green"),
    "n95": ("N95",),
    "kn95": ("KN95",),
    "cloth": ("cloth",),
    "gas": ("gas",),
}
_TINT_PROBA = {"surgical": 0.3, "n95": 0.25, "kn95": 0.25, "cloth": 0.5, "gas": 0.0}
_TEXTURE_PROBA = 0.5  # cloth only
HOLE_ALPHA = 0.02  # template alpha above which a pixel counts as hole
_YAW_SIDE = 0.3  # nose tip closer than this fraction of the jaw width to one side -> side template
_ANCHOR_JITTER = 0.025  # of the b-e distance
_PYRAMID_MIN_WIDTH = 48
# placement attempts (side template?, drop of b, side margin, jitter scale), tried in order until the mask
# covers the nose tip and mouth and leaves the eyes free
_ATTEMPTS = (
    (True, 0.22, 0.12, 1.0),
    (True, 0.22, 0.12, 0.0),
    (True, 0.4, 0.12, 0.0),
    (True, 0.1, 0.35, 0.0),
    (False, 0.22, 0.12, 0.0),
    (False, 0.4, 0.12, 0.0),
    (False, 0.1, 0.35, 0.0),
    (False, 0.3, 0.35, 0.0),
)
_MUST_COVER = np.r_[NOSE_TIP, 48:68]
_MUST_NOT_COVER = np.r_[36:48]


@dataclass(frozen=True)
class _Level:
    rgb: np.ndarray  # (h, w, 3) float32 in [0, 1], not premultiplied
    alpha: np.ndarray  # (h, w) float32 in [0, 1]
    shading: np.ndarray  # (h, w, 1) float32 luminance relative to the template's bright level
    anchors: np.ndarray  # (6, 2) float32 a..f in this level's pixels


def _assets():
    return resources.files("unmask") / "assets" / "masktheface"


def _read(path, flags: int) -> np.ndarray:
    data = np.frombuffer(path.read_bytes(), np.uint8)
    return cv2.imdecode(data, flags)


def relative_shading(rgb: np.ndarray, where: np.ndarray) -> np.ndarray:
    """Luminance of ``rgb`` (h, w, 3) float in [0, 1] relative to its bright level (the 90th percentile over the
    ``where`` (h, w) bool pixels; 1 when there are none), clipped to [0, 1.15]: (h, w, 1) float32. Multiplied into a
    new colour or print, it keeps the folds and shadows of a mask."""
    lum = rgb @ np.float32([0.299, 0.587, 0.114])
    bright = float(np.percentile(lum[where], 90)) if where.any() else 1.0
    return np.clip(lum / max(bright, 1e-3), 0.0, 1.15)[..., None].astype(np.float32)


@cache
def _template(name: str) -> tuple[_Level, ...]:
    """Pyramid of one template (largest first), loaded from the package assets once."""
    spec = json.loads((_assets() / "anchors.json").read_text())["templates"][name]
    bgra = _read(_assets() / spec["file"], cv2.IMREAD_UNCHANGED)
    anchors = np.asarray(spec["anchors"], np.float32)
    levels = []
    while True:
        rgba = cv2.cvtColor(bgra, cv2.COLOR_BGRA2RGBA).astype(np.float32) / 255.0
        rgb, alpha = rgba[..., :3], rgba[..., 3]
        levels.append(_Level(rgb, alpha, relative_shading(rgb, alpha > 0.5), anchors.copy()))
        if bgra.shape[1] // 2 < _PYRAMID_MIN_WIDTH:
            return tuple(levels)
        bgra = cv2.resize(bgra, (bgra.shape[1] // 2, bgra.shape[0] // 2), interpolation=cv2.INTER_AREA)
        anchors = anchors * 0.5


@lru_cache(maxsize=1)
def _textures() -> tuple[np.ndarray, ...]:
    """The shipped pattern textures as (h, w, 3) float32 RGB in [0, 1]."""
    files = sorted(p for p in (_assets() / "textures").iterdir() if p.name.endswith(".png"))
    return tuple(
        cv2.cvtColor(_read(p, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB).astype(np.float32) / 255 for p in files
    )


def _jaw_point(lm: np.ndarray, side: slice, origin: np.ndarray, axis: np.ndarray, level: float) -> np.ndarray:
    """Point of the jaw polyline ``lm[side]`` at ``level`` (distance along ``axis`` from ``origin``), (2,)."""
    pts = lm[side]
    s = (pts - origin) @ axis
    order = np.argsort(s)
    pts, s = pts[order], s[order]
    i = int(np.clip(np.searchsorted(s, level), 1, len(s) - 1))
    t = (level - s[i - 1]) / max(s[i] - s[i - 1], 1e-6)
    return pts[i - 1] + t * (pts[i] - pts[i - 1])


def face_anchors(
    landmarks: np.ndarray, template_anchors: np.ndarray, drop: float = 0.22, margin: float = 0.12
) -> np.ndarray:
    """Six target points a..f (6, 2) on a face for a template with anchors ``template_anchors`` (6, 2).

    b sits on the nose bridge below the lowest eye landmark (``drop`` of the way to the nose tip), e under
    the chin (landmark 8); a, c, d, f lie on the jaw contour at the heights (along the b-e face axis) that the
    template gives them, pushed sideways where needed so that the nose and mouth landmarks stay between them
    (with ``margin`` of their width to spare).
    """
    lm = np.asarray(landmarks, np.float64)
    eyes = lm[np.r_[EYE_LEFT, EYE_RIGHT]]
    top = lm[27]
    up_axis = lm[CHIN] - top
    length = float(np.linalg.norm(up_axis))
    axis = up_axis / max(length, 1e-6)  # unit vector pointing down the face
    eye_low = float(((eyes - top) @ axis).max())
    tip = float((lm[NOSE_TIP] - top) @ axis)
    b_level = eye_low + drop * max(tip - eye_low, 0.0)
    b = top + b_level * axis
    e = lm[CHIN] + 0.03 * length * axis
    b_to_e = float((e - top) @ axis) - b_level
    ta = np.asarray(template_anchors, np.float64)
    t_b, t_e = ta[1], ta[4]
    t_axis = (t_e - t_b) / max(float(np.linalg.norm(t_e - t_b)), 1e-6)
    frac = ((ta - t_b) @ t_axis) / max(float(np.linalg.norm(t_e - t_b)), 1e-6)
    out = np.empty((6, 2))
    out[1], out[4] = b, e
    for k, side in ((0, slice(0, 9)), (3, slice(0, 9)), (2, slice(8, 17)), (5, slice(8, 17))):
        out[k] = _jaw_point(lm, side, top, axis, b_level + frac[k] * b_to_e)
    # on turned heads the nose and mouth stick out past the jaw contour: keep the sides outside them
    across = np.array([axis[1], -axis[0]])  # unit vector pointing image-right (for an upright face)
    inner = lm[np.r_[30:36, 48:68]] @ across
    margin = margin * float(np.ptp(inner))
    for k, sign in ((0, -1.0), (3, -1.0), (2, 1.0), (5, 1.0)):
        limit = (inner.max() + margin) if sign > 0 else (inner.min() - margin)
        pos = float(out[k] @ across)
        if sign * (limit - pos) > 0:
            out[k] += (limit - pos) * across
    return out.astype(np.float32)


def head_side(landmarks: np.ndarray) -> str:
    """'left', 'right' or '' (frontal): the image side the nose tip is turned towards, from the jaw sides."""
    lm = np.asarray(landmarks, np.float64)
    across = lm[16] - lm[0]
    pos = float((lm[NOSE_TIP] - lm[0]) @ across) / max(float(across @ across), 1e-6)
    if pos < _YAW_SIDE:
        return "left"
    if pos > 1.0 - _YAW_SIDE:
        return "right"
    return ""


def _random_color(rng: np.random.Generator) -> np.ndarray:
    hsv = np.uint8([[[rng.integers(0, 180), rng.integers(40, 256), rng.integers(60, 256)]]])
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32) / 255


def _paint(level: _Level, kind: str, rng: np.random.Generator) -> np.ndarray:
    """Template RGB (h, w, 3) float32 with an optional random tint or (cloth) texture, shading kept."""
    rgb = level.rgb
    if kind == "cloth" and rng.random() < _TEXTURE_PROBA:
        textures = _textures()
        tex = textures[int(rng.integers(len(textures)))]
        scale = rng.uniform(0.25, 0.6) * level.rgb.shape[1] / tex.shape[1]
        tex = cv2.resize(tex, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        h, w = rgb.shape[:2]
        reps = (h // tex.shape[0] + 2, w // tex.shape[1] + 2, 1)
        oy, ox = int(rng.integers(tex.shape[0])), int(rng.integers(tex.shape[1]))
        tiled = np.tile(tex, reps)[oy : oy + h, ox : ox + w]
        return tiled * np.clip(level.shading * 1.1, 0.0, 1.0)
    if rng.random() < _TINT_PROBA[kind]:
        strength = rng.uniform(0.5, 0.9)
        return (1 - strength) * rgb + strength * _random_color(rng) * level.shading
    return rgb


def _homography(src: np.ndarray, dst: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """3x3 map of template points ``src`` (6, 2) onto ``dst`` (6, 2); a least-squares affine map when the
    homography would fold the template of ``size`` (w, h) or send part of it to infinity."""
    h_mat, _ = cv2.findHomography(src, dst, 0)
    w, h = size
    if h_mat is not None:
        corners = np.array([[0, 0, 1], [w, 0, 1], [w, h, 1], [0, h, 1]], np.float64) @ h_mat.T
        if (corners[:, 2] > 1e-6).all():
            q = corners[:, :2] / corners[:, 2:]
            edges = np.roll(q, -1, 0) - q
            turns = edges[:, 0] * np.roll(edges, -1, 0)[:, 1] - edges[:, 1] * np.roll(edges, -1, 0)[:, 0]
            if (turns > 0).all():
                return h_mat
    a = np.linalg.lstsq(np.hstack([src, np.ones((len(src), 1))]), dst, rcond=None)[0]
    return np.vstack([a.T, [0.0, 0.0, 1.0]])


def _alpha_at(level: _Level, h_mat: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Warped alpha (n,) at the integer image pixels ``points`` (n, 2) (as warpPerspective reads it)."""
    inverse = np.linalg.inv(h_mat)
    back = cv2.perspectiveTransform(points[None].astype(np.float64), inverse)[0].astype(np.float32)
    x, y = back[:, 0].reshape(1, -1), back[:, 1].reshape(1, -1)
    return cv2.remap(level.alpha, x, y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)[0]


def _fits(level: _Level, h_mat: np.ndarray, landmarks: np.ndarray, shape: tuple[int, int]) -> bool:
    """Whether the warped template covers the nose tip and mouth landmarks and none of the eye landmarks."""
    pts = np.clip(np.round(landmarks), 0, [shape[1] - 1, shape[0] - 1])
    return bool(
        (_alpha_at(level, h_mat, pts[_MUST_COVER]) > 0.5).all()
        and (_alpha_at(level, h_mat, pts[_MUST_NOT_COVER]) <= HOLE_ALPHA).all()
    )


def _place(
    name: str, landmarks: np.ndarray, drop: float, margin: float, jitter: np.ndarray
) -> tuple[_Level, np.ndarray]:
    """Pyramid level of template ``name`` that suits the face size, and its 3x3 map onto the face."""
    pyramid = _template(name)
    dst = face_anchors(landmarks, pyramid[0].anchors, drop, margin)
    dst = dst + jitter * float(np.linalg.norm(dst[4] - dst[1]))
    # smallest pyramid level still at least as wide as the mask will be on the image
    target_w = float(np.linalg.norm(dst[2] - dst[0]))
    level = pyramid[0]
    for cand in pyramid:
        if float(np.linalg.norm(cand.anchors[2] - cand.anchors[0])) >= target_w:
            level = cand
    h, w = level.alpha.shape
    return level, _homography(level.anchors.astype(np.float64), dst.astype(np.float64), (w, h))


def face_mask(
    image: np.ndarray, face: Face, rng: np.random.Generator, kind: str = "surgical"
) -> tuple[np.ndarray, np.ndarray]:
    """Put a synthetic face mask of ``kind`` (one of MASK_KINDS) on ``face``.

    image: (H, W, 3) uint8 RGB. Returns the occluded image (H, W, 3) uint8 and the hole mask (H, W) uint8,
    1 wherever the warped template's alpha exceeds HOLE_ALPHA. The variant (front / left / right) follows the head yaw;
    colour tint, cloth texture and a light anchor jitter are drawn from ``rng``. When a placement would leave
    the nose tip or the mouth free or touch an eye landmark, steadier placements are tried (no jitter, lower
    top edge, front template); the last one is used as it is.
    """
    if kind not in _TEMPLATE_BASES:
        raise UnmaskError(f"unknown face-mask kind {kind!r}; expected one of {', '.join(MASK_KINDS)}")
    bases = _TEMPLATE_BASES[kind]
    base = bases[int(rng.integers(len(bases)))]
    lm = np.asarray(face.landmarks, np.float64)
    side = head_side(lm)
    jitter = rng.normal(0.0, _ANCHOR_JITTER, (6, 2))
    H, W = image.shape[:2]
    for use_side, drop, margin, jitter_scale in _ATTEMPTS:
        name = f"{base}_{side}" if side and use_side else base
        level, h_mat = _place(name, lm, drop, margin, jitter * jitter_scale)
        if _fits(level, h_mat, lm, (H, W)):
            break

    th, tw = level.alpha.shape
    corners = cv2.perspectiveTransform(np.float64([[[0, 0], [tw, 0], [tw, th], [0, th]]]), h_mat)[0]
    x0, y0 = np.clip(np.floor(corners.min(0)).astype(int), 0, [W, H])
    x1, y1 = np.clip(np.ceil(corners.max(0)).astype(int) + 1, 0, [W, H])
    occluded = image.copy()
    mask = np.zeros((H, W), np.uint8)
    if x1 <= x0 or y1 <= y0:
        return occluded, mask
    shift = np.array([[1, 0, -x0], [0, 1, -y0], [0, 0, 1]], np.float64)
    rgba = np.dstack([_paint(level, kind, rng) * level.alpha[..., None], level.alpha])
    warped = cv2.warpPerspective(rgba, shift @ h_mat, (int(x1 - x0), int(y1 - y0)), flags=cv2.INTER_LINEAR)
    alpha = warped[..., 3:]
    roi = image[y0:y1, x0:x1].astype(np.float32)
    comp = roi * (1.0 - alpha) + np.clip(warped[..., :3], 0.0, 1.0) * 255.0
    hole = alpha[..., 0] > HOLE_ALPHA
    occluded[y0:y1, x0:x1][hole] = np.clip(comp[hole] + 0.5, 0, 255).astype(np.uint8)  # nothing outside changes
    mask[y0:y1, x0:x1] = hole
    return occluded, mask

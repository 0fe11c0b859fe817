"""Find the occlusion on a face: a face mask or eye bar, by the learned segmenter (``unmask.face.occluder_net``) or
by k-means in the lower-face polygon (seed 004) plus a flat-rectangle eye-bar search.

Both methods work in the aligned, upright crop of each face (so thresholds are in a fixed scale) and the result is
mapped back to the photo through the exact inverse warp. With k-means the eye bar is looked for first (a flat, uniformly
coloured, elongated rectangle across the eye line), so that it is kept out of the skin reference of the
face-mask search. The face mask is the k-means result, accepted only when it covers the lower nose and the mouth
and looks like a mask rather than lips, a beard or shading (little or non-skin chroma, smooth, a clear outline:
see MASK_SCORE; or a crisp, contrasting outline), then refined by GrabCut.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy import ndimage

from unmask.errors import UnmaskError
from unmask.face.align import TEMPLATE_5, align_face, transform_face, unwarp, zoomed_template
from unmask.face.detect import detect_faces
from unmask.face.extend import extend_mask
from unmask.face.morph import disk, pieces_touching
from unmask.face.occluder_net import occluder_from_logits, segmenter_logits, segmenter_shipped
from unmask.face.types import EYE_LEFT, EYE_RIGHT, JAW, MOUTH_OUTER, NOSE_BOTTOM, Face

WORK_SIZE = 256  # side of the aligned crop the segmentation runs on
DETECTION_METHODS = ("learned", "kmeans")
# What covers a face lowers the face detector's score: when no face reaches detect_faces' threshold, faces down to
# this score are kept if an occluder is found on them (an unoccluded low-score find is not taken for a face).
RESCUE_SCORE = 0.35
# The found occluder is grown along its border (grow_in_crop) by GROW_MARGIN eye distances, and up to GROW_REACH
# times that where the segmenter's logit is above GROW_LOGIT, to cover the rims, loops and clips it stops short of;
# never into the eyes or the lips it leaves free, nor within KEEP_OUT eye distances of them. Measured on
# benchmarks/data/real_masks with benchmarks/detection_real.py (docs/DETECTION.md).
GROW_MARGIN, GROW_REACH, GROW_LOGIT, KEEP_OUT = 0.1, 3.0, -6.0, 0.05
# The segmenter also looks at a crop zoomed out by WIDE_ZOOM about the eye line's centre, where a large mask, a
# mask on a tilted or turned face or below the chin is seen whole (the first crop ends under the chin): what it
# finds there joins the first find where it touches it and where its colour is nearer the COLOURS k-means colours
# of the first find than those of the ring WIDE_RING eye distances wide around it (the wider crop is further from
# the segmenter's training crops: alone it also takes necks, collars and scarves), and is grown by the margin. Not
# with margin 0, which asks for the segmenter's own outline (docs/DETECTION.md).
WIDE_ZOOM, WIDE_RING, COLOURS = 0.75, 0.3, 4
WIDE_TEMPLATE = zoomed_template(WIDE_ZOOM, (0.5, float(TEMPLATE_5[:2, 1].mean())))


@dataclass
class SegmentSettings:
    """Tunable thresholds of the occlusion finder (colour distances are CIE ΔE in Lab units)."""

    skin_distance: float = 5.0  # a k-means cluster this far (lightness half-weighted) from skin is "not skin"
    core_share: float = 0.1  # a far cluster must hold this share of the mouth/nose core to join the mask
    core_cover: float = 0.5  # share of the mouth that must be covered to call it a mask
    nose_cover: float = 0.6  # share of the lower nose that must be covered (beards and lips leave it free)
    min_score: float = 0.5  # min mask score (see MASK_SCORE) of a plain mask candidate
    crisp_contrast: float = 6.0  # a candidate that fails the score is still taken with this weighted ΔE between
    crisp_edge: float = 12.0  # its rim and the face around it and this median colour gradient (ΔE / pixel) along
    # its outline, ...
    print_edge: float = 9.0  # ... or, when patterned (a print), with this gradient
    print_texture: float = 5.0  # and this median lightness std-dev (5x5) inside
    grabcut_scale: float = 0.75  # GrabCut runs on the crop scaled by this
    grabcut_reach: float = 0.8  # GrabCut may grow the candidate this far (eye distances) past the lower face
    bar_flatness: float = 3.0  # max summed RGB std-dev (3x3) of a censor-bar pixel
    bar_fill: float = 0.8  # min share of its minimum-area rectangle a bar component fills
    bar_elongation: float = 2.2  # min length / height of a bar
    bar_min_length: float = 1.3  # min bar length in eye distances
    bar_reach: float = 1.4  # max offset of the bar centre from the eyes' midpoint, in eye distances (landmarks
    # under a bar are rough)


LAB_WEIGHTS = np.array([0.5, 1.0, 1.0], np.float32)  # shading changes lightness more than a mask changes hue
# Mask score of a candidate: a linear score (logistic regression, fitted on train/val real masked photos against
# clean faces) in its median chroma (masks are white, light blue, black: little chroma; lips, beards and shading
# keep the skin's), its chroma distance to the skin, log1p of its texture (lightness std-dev: fabric is smooth,
# beards and stubble are not), of its outline gradient and of its rim contrast.
MASK_SCORE = {"bias": 1.944, "chroma": -0.1645, "skin_chroma_distance": 0.2073, "texture": -2.744,
              "edge": 0.80, "contrast": 0.35}


def _lab(image: np.ndarray) -> np.ndarray:
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB).astype(np.float32)
    lab[..., 0] *= 100.0 / 255.0
    lab[..., 1:] -= 128.0
    return lab


def _polygon_mask(points: np.ndarray, size: int) -> np.ndarray:
    mask = np.zeros((size, size), np.uint8)
    cv2.fillPoly(mask, [np.round(points).astype(np.int32)], 1)
    return mask.astype(bool)


def _hull_mask(points: np.ndarray, size: int) -> np.ndarray:
    return _polygon_mask(cv2.convexHull(np.asarray(points, np.float32))[:, 0], size)


def _eye_geometry(face: Face) -> tuple[np.ndarray, float]:
    eyes = face.eye_centers()
    return eyes.mean(0), max(float(np.linalg.norm(eyes[1] - eyes[0])), 4.0)


def _skin_colour(lab: np.ndarray, face: Face, exclude: np.ndarray) -> np.ndarray | None:
    """Median Lab colour of the forehead and the bridge of the nose (above any face mask), bar pixels left out."""
    centre, eye_distance = _eye_geometry(face)
    half = max(2, int(0.18 * eye_distance))
    patches = []
    for dy in (-0.75, -0.4, 0.0):  # forehead above the brows, between the brows, between the eyes
        x, y = int(centre[0]), int(centre[1] + dy * eye_distance)
        window = (slice(max(0, y - half), max(0, y + half)), slice(max(0, x - half), max(0, x + half)))
        patches.append(lab[window][~exclude[window]])
    pixels = np.concatenate(patches)
    return np.median(pixels, axis=0) if len(pixels) >= 10 else None


def _contrast(lab: np.ndarray, candidate: np.ndarray, face: Face, eye_distance: float) -> float:
    """Weighted ΔE between the candidate's rim and the face just outside it (the skin a mask's edge borders).

    A shading or beard false positive shades into the skin around it; a worn mask has a crisp, different edge.
    """
    size = candidate.shape[0]
    inside = candidate.astype(np.uint8)
    outer = cv2.dilate(inside, disk(int(0.2 * eye_distance))) & ~cv2.dilate(inside, disk(int(0.06 * eye_distance)))
    inner = inside & ~cv2.erode(inside, disk(int(0.15 * eye_distance)))
    face_area = _hull_mask(face.landmarks, size)
    eyes = _hull_mask(face.landmarks[EYE_LEFT], size) | _hull_mask(face.landmarks[EYE_RIGHT], size)
    eyes = cv2.dilate(eyes.astype(np.uint8), disk(int(0.15 * eye_distance))).astype(bool)
    outer = outer.astype(bool) & face_area & ~eyes
    inner = inner.astype(bool) & face_area
    if outer.sum() < 20 or inner.sum() < 20:
        return 0.0
    difference = (np.median(lab[inner], axis=0) - np.median(lab[outer], axis=0)) * LAB_WEIGHTS
    return float(np.linalg.norm(difference))


def _edge_strength(lab: np.ndarray, candidate: np.ndarray, inner_face: np.ndarray) -> float:
    """Median colour gradient (ΔE per pixel, max over 5x5) along the candidate's outline inside ``inner_face``:
    a worn mask has a crisp edge there, a shading or beard false positive shades off."""
    gradient = np.zeros(lab.shape[:2], np.float32)
    for channel, weight in zip(cv2.split(lab), LAB_WEIGHTS, strict=True):
        gradient += weight**2 * (cv2.Sobel(channel, cv2.CV_32F, 1, 0, ksize=3) ** 2
                                 + cv2.Sobel(channel, cv2.CV_32F, 0, 1, ksize=3) ** 2)
    gradient = cv2.dilate(np.sqrt(gradient) / 8.0, np.ones((5, 5), np.uint8))
    inside = candidate.astype(np.uint8)
    outline = (inside & ~cv2.erode(inside, np.ones((3, 3), np.uint8))).astype(bool) & inner_face
    if outline.sum() < 10:
        return 0.0
    return float(np.median(gradient[outline]))


def _texture(lab: np.ndarray, candidate: np.ndarray, eye_distance: float) -> float:
    """Median lightness std-dev (5x5) inside the candidate, its rim left out."""
    lightness = lab[..., 0]
    spread = np.sqrt(np.maximum(cv2.blur(lightness * lightness, (5, 5)) - cv2.blur(lightness, (5, 5)) ** 2, 0))
    inner = cv2.erode(candidate.astype(np.uint8), disk(int(0.1 * eye_distance))).astype(bool)
    return float(np.median(spread[inner])) if inner.any() else 99.0


def _is_mask(lab: np.ndarray, candidate: np.ndarray, skin: np.ndarray, face: Face, inner_face: np.ndarray,
             settings: SegmentSettings) -> bool:
    """Whether a candidate that covers the mouth and lower nose is a worn mask rather than lips, a beard or
    shading: by its mask score (MASK_SCORE), else by a crisp, contrasting outline (sharper for a plain one than
    for a patterned one, whose texture lowers its score)."""
    _, eye_distance = _eye_geometry(face)
    contrast = _contrast(lab, candidate, face, eye_distance)
    edge = _edge_strength(lab, candidate, inner_face)
    texture = _texture(lab, candidate, eye_distance)
    if contrast >= settings.crisp_contrast and (
            edge >= settings.crisp_edge or (edge >= settings.print_edge and texture >= settings.print_texture)):
        return True
    colour = np.median(lab[candidate], axis=0)
    score = (MASK_SCORE["bias"] + MASK_SCORE["chroma"] * float(np.hypot(colour[1], colour[2]))
             + MASK_SCORE["skin_chroma_distance"] * float(np.hypot(*(colour[1:] - skin[1:])))
             + MASK_SCORE["texture"] * np.log1p(texture) + MASK_SCORE["edge"] * np.log1p(edge)
             + MASK_SCORE["contrast"] * np.log1p(contrast))
    return bool(score >= settings.min_score)


def _grabcut(crop: np.ndarray, sure: np.ndarray, probable: np.ndarray, allowed: np.ndarray,
             scale: float) -> np.ndarray:
    """GrabCut in the crop scaled by ``scale``: ``sure`` is foreground, ``probable`` probably foreground,
    the rest of ``allowed`` probably background and everything outside it background. Returns bool (S, S)."""
    size = crop.shape[0]
    small = max(16, int(round(size * scale)))
    labels = np.full((size, size), cv2.GC_BGD, np.uint8)
    labels[allowed] = cv2.GC_PR_BGD
    labels[probable] = cv2.GC_PR_FGD
    labels[sure] = cv2.GC_FGD
    labels = cv2.resize(labels, (small, small), interpolation=cv2.INTER_NEAREST)
    if not (labels == cv2.GC_FGD).any() or not np.isin(labels, (cv2.GC_BGD, cv2.GC_PR_BGD)).any():
        return probable | sure
    ys, xs = np.nonzero(labels != cv2.GC_BGD)
    y0, y1 = max(0, ys.min() - 2), min(small, ys.max() + 3)
    x0, x1 = max(0, xs.min() - 2), min(small, xs.max() + 3)
    image = cv2.resize(crop, (small, small), interpolation=cv2.INTER_AREA)[y0:y1, x0:x1]
    roi = np.ascontiguousarray(labels[y0:y1, x0:x1])
    cv2.setRNGSeed(0)
    cv2.grabCut(np.ascontiguousarray(image), roi, None, np.zeros((1, 65)), np.zeros((1, 65)), 2,
                cv2.GC_INIT_WITH_MASK)
    labels[y0:y1, x0:x1] = roi
    foreground = np.isin(labels, (cv2.GC_FGD, cv2.GC_PR_FGD)).astype(np.float32)
    return cv2.resize(foreground, (size, size), interpolation=cv2.INTER_LINEAR) > 0.5


def face_mask_in_crop(crop: np.ndarray, face: Face, settings: SegmentSettings | None = None,
                      exclude: np.ndarray | None = None) -> np.ndarray:
    """Segment a worn face mask in an aligned crop (S, S, 3) with the face's landmarks in crop coordinates.

    k-means (k = 3) on Lab colour inside the lower-face polygon; the cluster dominating the mouth and lower nose
    must be far from the skin colour sampled above the mask, and with the other far clusters that share that
    core it makes the candidate. The candidate must cover most of the mouth and the lower nose and look like a
    mask (``_is_mask``), else the face is taken as unmasked; GrabCut then refines its
    outline (it may reach past the jaw line). ``exclude`` (bool, S x S) marks pixels that belong to something
    else (an eye bar). Returns bool (S, S).
    """
    settings = settings or SegmentSettings()
    size = crop.shape[0]
    empty = np.zeros((size, size), bool)
    exclude = empty if exclude is None else exclude
    lab = _lab(crop)
    landmarks = face.landmarks
    centre, eye_distance = _eye_geometry(face)
    bridge_y = landmarks[28, 1]
    jaw = landmarks[JAW]
    polygon = _polygon_mask(jaw, size) & ~exclude
    polygon[: int(bridge_y)] = False
    core = _hull_mask(landmarks[MOUTH_OUTER], size)
    nose = _hull_mask(landmarks[np.r_[29, NOSE_BOTTOM]], size)
    pixels = lab[polygon]
    skin = _skin_colour(lab, face, exclude)
    if len(pixels) < 50 or skin is None or not core.any() or not nose.any():
        return empty
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 0.5)
    cv2.setRNGSeed(0)
    _, labels, centres = cv2.kmeans(pixels, 3, None, criteria, 3, cv2.KMEANS_PP_CENTERS)
    # the mask cluster is the one that dominates the mouth and lower nose; other clusters far from the skin
    # that take a fair share of that core (shading, print, a second colour) belong to the mask as well
    in_core = np.bincount(labels[(core | nose)[polygon]].ravel(), minlength=3) / max(1, (core | nose)[polygon].sum())
    far = np.linalg.norm((centres - skin) * LAB_WEIGHTS, axis=1) > settings.skin_distance
    if not far[np.argmax(in_core)]:
        return empty
    far &= in_core >= settings.core_share
    # classify the lower face, slightly widened, by the nearest of (skin, cluster centres)
    region = cv2.dilate(polygon.astype(np.uint8), disk(int(0.25 * eye_distance))).astype(bool)
    region[: int(bridge_y - 0.1 * eye_distance)] = False
    references = np.concatenate([skin[None], centres])
    nearest = np.argmin(np.linalg.norm((lab[..., None, :] - references) * LAB_WEIGHTS, axis=-1), axis=-1)
    candidate = region & np.isin(nearest, 1 + np.flatnonzero(far)) & ~exclude
    kernel = disk(size // 40)
    candidate = cv2.morphologyEx(candidate.astype(np.uint8), cv2.MORPH_OPEN, kernel)
    candidate = cv2.morphologyEx(candidate, cv2.MORPH_CLOSE, kernel).astype(bool)
    candidate = ndimage.binary_fill_holes(pieces_touching(candidate, core))
    inner_face = cv2.erode(polygon.astype(np.uint8), disk(int(0.15 * eye_distance))).astype(bool)
    inner_face[: int(bridge_y + 0.05 * eye_distance)] = False
    if (candidate[core].mean() < settings.core_cover or candidate[nose].mean() < settings.nose_cover
            or not _is_mask(lab, candidate, skin, face, inner_face, settings)):
        return empty
    # GrabCut: the eroded candidate is sure, the rest of it probable; the eyes and above are background
    sure = cv2.erode(candidate.astype(np.uint8), disk(int(0.2 * eye_distance))).astype(bool) | (candidate & core)
    allowed = cv2.dilate(region.astype(np.uint8), disk(int(settings.grabcut_reach * eye_distance))).astype(bool)
    allowed[: int(centre[1] + 0.15 * eye_distance)] = False
    allowed &= ~exclude
    found = _grabcut(crop, sure, candidate, allowed, settings.grabcut_scale)
    found = cv2.morphologyEx(found.astype(np.uint8), cv2.MORPH_OPEN, kernel).astype(bool)
    return ndimage.binary_fill_holes(pieces_touching(found, sure))


def eye_bar_in_crop(crop: np.ndarray, face: Face, settings: SegmentSettings | None = None) -> np.ndarray:
    """Segment a censor bar across both eyes in an aligned crop (S, S, 3): a flat, uniformly coloured, elongated
    rectangle along the eye line, near the eyes (their landmarks are rough under a bar). Returns bool (S, S), the
    filled rectangle.
    """
    settings = settings or SegmentSettings()
    size = crop.shape[0]
    empty = np.zeros((size, size), bool)
    centre, eye_distance = _eye_geometry(face)
    eyes = face.eye_centers()
    along = (eyes[1] - eyes[0]) / max(float(np.linalg.norm(eyes[1] - eyes[0])), 1e-6)
    colour = crop.astype(np.float32)
    mean = cv2.blur(colour, (3, 3))
    spread = np.sqrt(np.maximum(cv2.blur(colour * colour, (3, 3)) - mean * mean, 0)).sum(-1)
    flat = spread < settings.bar_flatness
    top, bottom = int(centre[1] - settings.bar_reach * eye_distance), int(centre[1] + settings.bar_reach * eye_distance)
    flat[: max(0, top)] = False
    flat[max(0, bottom):] = False
    count, labels, stats, _ = cv2.connectedComponentsWithStats(flat.astype(np.uint8), connectivity=4)
    best, best_area = None, 0
    for index in range(1, count):
        area = int(stats[index, cv2.CC_STAT_AREA])
        if area < 0.3 * eye_distance**2 or area <= best_area:
            continue
        points = np.argwhere(labels == index)[:, ::-1].astype(np.float32)
        (cx, cy), (w, h), angle = cv2.minAreaRect(points)
        length, height = max(w, h) + 1, min(w, h) + 1
        axis_angle = np.deg2rad(angle if w >= h else angle + 90)
        axis = np.array([np.cos(axis_angle), np.sin(axis_angle)])
        offset = np.array([cx, cy]) - centre
        if (area / (length * height) >= settings.bar_fill
                and length >= settings.bar_elongation * height
                and length >= settings.bar_min_length * eye_distance
                and abs(float(axis @ along)) > np.cos(np.deg2rad(25))
                and abs(float(offset @ along)) < settings.bar_reach * eye_distance
                and abs(float(offset[0] * along[1] - offset[1] * along[0])) < settings.bar_reach * eye_distance):
            best, best_area = ((cx, cy), (w + 2.5, h + 2.5), angle), area
    if best is None:
        return empty
    filled = np.zeros((size, size), np.uint8)
    cv2.fillPoly(filled, [np.round(cv2.boxPoints(best) * 16).astype(np.int32)], 1, shift=4)
    return filled.astype(bool)


def occlusion_in_crop(crop: np.ndarray, face: Face, settings: SegmentSettings | None = None) -> np.ndarray:
    """Union of the eye bar and the face mask found in an aligned crop; bool (S, S)."""
    bar = eye_bar_in_crop(crop, face, settings)
    return bar | face_mask_in_crop(crop, face, settings, exclude=bar)


def grow_in_crop(found: np.ndarray, face: Face, margin: float, logits: np.ndarray | None = None) -> np.ndarray:
    """Grow an occluder found in an aligned crop (bool S x S; ``face`` in crop coordinates) along its border.

    It grows by ``margin`` eye distances, and up to GROW_REACH times that where the segmenter's ``logits`` (S x S,
    when given) exceed GROW_LOGIT, but never into the eyes or the lips it does not cover, nor within KEEP_OUT eye
    distances of them (a mask pulled under the chin grows down and sideways, not over the mouth); what grows stays
    connected to what was found. Returns bool (S, S).
    """
    if margin <= 0 or not found.any():
        return found
    size = found.shape[0]
    _, eye_distance = _eye_geometry(face)
    seed = found.astype(np.uint8)
    grown = cv2.dilate(seed, disk(2 * int(round(margin * eye_distance)) + 1)).astype(bool)
    if logits is not None:
        reach = cv2.dilate(seed, disk(2 * int(round(GROW_REACH * margin * eye_distance)) + 1)).astype(bool)
        grown |= reach & (logits > GROW_LOGIT)
    features = (_hull_mask(face.landmarks[EYE_LEFT], size) | _hull_mask(face.landmarks[EYE_RIGHT], size)
                | _hull_mask(face.landmarks[MOUTH_OUTER], size))
    keep_out = cv2.dilate(features.astype(np.uint8), disk(2 * int(round(KEEP_OUT * eye_distance)) + 1)).astype(bool)
    return pieces_touching((grown & ~keep_out) | found, found)


def _centres(pixels: np.ndarray) -> np.ndarray:
    """COLOURS k-means centres (or fewer, for few pixels) of (N, 3) float32 colours, at most 4,000 of them read."""
    pixels = pixels[:: max(1, len(pixels) // 4000)]
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 0.5)
    cv2.setRNGSeed(0)
    _, _, centres = cv2.kmeans(pixels, min(COLOURS, len(pixels)), None, criteria, 2, cv2.KMEANS_PP_CENTERS)
    return centres


def _mask_coloured(image: np.ndarray, found: np.ndarray, candidate: np.ndarray, ring: int) -> np.ndarray:
    """The ``candidate`` pixels (bool (H, W)) whose Lab colour is nearer the colours of the ``found`` mask than those
    of the ``ring`` px around it (skin, neck, clothes, hair): a mask's missed part, not what lies next to it. The
    caller passes the box around them (with the ring), not a whole photo."""
    if not candidate.any():
        return candidate
    around = cv2.dilate(found.astype(np.uint8), disk(2 * ring + 1)).astype(bool) & ~found & ~candidate
    if not around.any():
        return candidate
    lab = _lab(image) * LAB_WEIGHTS
    pixels = lab[candidate]
    nearest = [np.linalg.norm(pixels[:, None] - _centres(lab[region])[None], axis=2).min(1)
               for region in (found, around)]
    vote = np.zeros(candidate.shape, np.float32)
    vote[candidate] = nearest[0] < nearest[1]
    sigma = max(1.0, ring / 4)  # a vote over the neighbourhood: a print's or a pleat's pixels go with the mask
    share = cv2.GaussianBlur(vote, (0, 0), sigma) / np.maximum(
        cv2.GaussianBlur(candidate.astype(np.float32), (0, 0), sigma), 1e-6)
    return candidate & (share > 0.5)


def _look(image: np.ndarray, face: Face, template: np.ndarray, method: str, threshold: float | None,
          settings: SegmentSettings | None, margin: float) -> tuple[np.ndarray, np.ndarray]:
    """Find the occluder on the face's crop aligned to ``template``: the find and the find grown by ``margin``, each
    bool (H, W) in the photo."""
    aligned = align_face(image, face, size=WORK_SIZE, template=template)
    crop_face = transform_face(face, aligned.matrix)
    logits = None
    if method == "learned":
        logits = segmenter_logits(aligned.image)
        found = occluder_from_logits(logits, threshold)
    else:
        found = occlusion_in_crop(aligned.image, crop_face, settings)
    grown = grow_in_crop(found, crop_face, margin, logits)
    return unwarp(found.astype(np.float32), aligned)[0] > 0.5, unwarp(grown.astype(np.float32), aligned)[0] > 0.5


def find_occlusions(image: np.ndarray, faces: list[Face] | None = None, settings: SegmentSettings | None = None,
                    method: str = "auto", threshold: float | None = None, margin: float | None = None,
                    second_pass: bool = True) -> tuple[np.ndarray, list[Face]]:
    """Find face masks and eye bars on every face of an RGB uint8 photo (H, W, 3).

    method: ``learned`` (the shipped segmenter, see ``unmask.face.occluder_net``), ``kmeans`` (seed 004's colour
    clustering, tuned by ``settings``) or ``auto`` (learned when its weights are installed, else kmeans).
    ``threshold``: the learned segmenter's logit threshold (default: the one recorded with its weights).
    ``margin``: how far the found occluder is grown (``grow_in_crop``), in eye distances; default GROW_MARGIN.
    With a margin the learned segmenter also looks at a wider crop (WIDE_ZOOM) and what it finds there joins;
    0 = the segmenter's own outline on the aligned crop, not grown. ``second_pass``: also look for small faces at
    a higher resolution (``unmask.face.detect.small_face_pass``).
    Returns the union mask, uint8 (H, W) with 1 = occluded, and the faces: the given ones, else those detected
    (down to RESCUE_SCORE for occluded faces when none reaches the detector's usual threshold).
    """
    if method == "auto":
        method = "learned" if segmenter_shipped() else "kmeans"
    if method not in DETECTION_METHODS:
        raise UnmaskError(f"unknown detection method {method!r}; choose one of auto, {', '.join(DETECTION_METHODS)}")
    margin = GROW_MARGIN if margin is None else margin
    rescue = False
    if faces is None:
        faces = detect_faces(image, small_faces=second_pass)
        if not faces:
            faces, rescue = detect_faces(image, min_score=RESCUE_SCORE, small_faces=second_pass), True
    union = np.zeros(image.shape[:2], np.uint8)
    kept, growth = [], []
    for face in faces:
        found, grown = _look(image, face, TEMPLATE_5, method, threshold, settings, margin)
        if rescue and not found.any():
            continue
        if method == "learned" and margin > 0 and found.any():  # a second, wider look (WIDE_ZOOM)
            wide, wide_grown = _look(image, face, WIDE_TEMPLATE, method, threshold, settings, margin)
            eye_distance = float(np.linalg.norm(face.keypoints[0] - face.keypoints[1]))
            ring = max(2, int(round(WIDE_RING * eye_distance)))
            rows, columns = np.nonzero(found | wide_grown)  # work in their box (and the ring), not the whole photo
            box = np.s_[max(rows.min() - ring, 0):rows.max() + ring + 1, max(columns.min() - ring, 0):
                        columns.max() + ring + 1]
            first = found[box]
            added = _mask_coloured(image[box], first, wide[box] & ~first, ring)
            added = pieces_touching(first | added, first) & ~first
            around = cv2.dilate(added.astype(np.uint8), disk(2 * int(round(margin * eye_distance)) + 1))
            found[box] |= added
            grown[box] |= found[box] | (wide_grown[box] & (around > 0))
            grown |= extend_mask(image, found, grown, face)  # and GrabCut in the photo (unmask.face.extend)
        union |= found.astype(np.uint8)
        growth.append(grown)
        kept.append(face)
    for index, grown in enumerate(growth):  # a face's growth stays out of the other faces found
        for other, face in enumerate(kept):
            if other != index:
                x0, y0, x1, y1 = np.round(face.box).astype(int)
                grown[max(y0, 0):max(y1, 0), max(x0, 0):max(x1, 0)] = False
        union |= grown.astype(np.uint8)
    return union, kept

"""``unmask demo``: the whole job on scikit-image's astronaut, offline, with no data of ours.

The aligned face gets a synthetic surgical mask, filled by each classical method for comparison; then the mask is
put back into the full photo and the product path (``Unmasker``: find the mask, fill with the default model, paste
back) removes it, written as a before/after picture.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
from skimage import data

from unmask.errors import UnmaskError
from unmask.eval.metrics import psnr
from unmask.face import align_face, detect_faces, transform_face, unwarp
from unmask.io import image_to_tensor, mask_to_tensor, save_image, tensor_to_image
from unmask.models import create_model
from unmask.occlusion import occlude
from unmask.pipeline import Unmasker
from unmask.viz import draw_faces, image_grid

CLASSICAL = ("telea", "ns", "biharmonic", "patchmatch")


def demo(out_dir: Path, size: int = 256, seed: int = 0) -> Iterator[str]:
    """Detect, occlude with a synthetic surgical mask, fill with each classical method and with the pipeline;
    yield report lines."""
    photo = data.astronaut()
    faces = detect_faces(photo)
    if not faces:
        raise UnmaskError("demo: no face found on the astronaut (the face detector is broken)")
    face = faces[0]
    yield f"found {len(faces)} face(s); score {face.score:.2f}, box {np.round(face.box).astype(int).tolist()}"
    aligned = align_face(photo, face, size=size)
    occluded, mask = occlude(aligned.image, "surgical", np.random.default_rng(seed),
                             face=transform_face(face, aligned.matrix))
    yield f"synthetic surgical mask covers {mask.mean():.1%} of the {size}x{size} aligned face"
    image, hole = image_to_tensor(occluded), mask_to_tensor(mask)
    truth = image_to_tensor(aligned.image)
    fills, scores = {}, {}
    for name in CLASSICAL:
        fills[name] = create_model(name)(image, hole)
        scores[name] = float(psnr(fills[name], truth, hole))
        yield f"{name:11s} PSNR in the hole {scores[name]:6.2f} dB"
    masked_photo = photo.copy()
    back, _ = unwarp(occluded, aligned)
    true_hole = unwarp(mask.astype(np.float32), aligned)[0] > 0.5
    masked_photo[true_hole] = back[true_hole]
    unmasker = Unmasker()
    result = unmasker(masked_photo)
    found = result.mask > 0
    iou = np.sum(found & true_hole) / max(1, np.sum(found | true_hole))
    hole_psnr = float(psnr(image_to_tensor(result.image), image_to_tensor(photo), mask_to_tensor(true_hole)))
    yield f"Unmasker (model {unmasker.model_name}): found-mask IoU {iou:.2f}, PSNR in the hole {hole_psnr:.2f} dB"
    before_after = image_grid([[masked_photo, result.mask * 255, result.image, photo]],
                              ["before", "found mask", f"after ({unmasker.model_name})", "original"], cell=256)
    yield f"before/after written to {save_image(Path(out_dir) / 'before_after.png', before_after)}"
    best = max(scores, key=scores.get)
    columns = ["detected", "aligned", "occluded", "mask", *CLASSICAL]
    row = [draw_faces(photo, faces), aligned.image, occluded, mask * 255,
           *(tensor_to_image(fills[name]) for name in CLASSICAL)]
    picture = save_image(Path(out_dir) / "demo.png", image_grid([row], columns, cell=192))
    save_image(Path(out_dir) / "best_fill.png", tensor_to_image(fills[best]))
    yield f"best classical fill: {best}; picture written to {picture}"

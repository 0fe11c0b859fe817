import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from unmask.errors import UnmaskError
from unmask.face import detect_faces
from unmask.face.align import invert_matrix, template_matrix, warp_points
from unmask.face.keypoints import covered_keypoints
from unmask.occlusion import occlude
from unmask.pipeline import Unmasker, as_hole


@pytest.fixture(scope="module")
def masked_astronaut(astronaut):
    face = detect_faces(astronaut)[0]
    return occlude(astronaut, "surgical", np.random.default_rng(0), face=face)


@pytest.fixture(scope="module")
def unmasker():
    return Unmasker("telea")


def test_auto_mask_fills_only_the_hole(unmasker, masked_astronaut, astronaut):
    occluded, truth = masked_astronaut
    result = unmasker(occluded)
    assert isinstance(result.image, np.ndarray) and result.image.shape == occluded.shape
    assert len(result.faces) == 1
    outside = result.mask == 0
    assert np.array_equal(result.image[outside], occluded[outside])
    overlap = (result.mask.astype(bool) & truth.astype(bool)).sum() / truth.sum()
    assert overlap > 0.7
    hole = truth.astype(bool)
    assert np.abs(result.image[hole].astype(int) - astronaut[hole]).mean() < np.abs(
        occluded[hole].astype(int) - astronaut[hole]).mean()


def test_crops_are_aligned_as_the_training_crops(unmasker, astronaut):
    """The crops follow the mesh landmarks' keypoints, the mean face's where the hole covers them (how near that
    comes to the training alignment: benchmarks/alignment_error.py); the faces reported keep YuNet's keypoints."""
    clean = detect_faces(astronaut)[0]
    occluded, hole = occlude(astronaut, "kn95", np.random.default_rng(1), face=clean)
    job = unmasker.prepare(occluded, hole * 255)
    face = job.faces[0]
    assert face.mesh is not None and np.array_equal(face.keypoints, detect_faces(occluded)[0].keypoints)
    assert np.allclose(job.anchors[0].keypoints, covered_keypoints(face, hole))
    assert not np.allclose(job.anchors[0].keypoints, face.keypoints)
    found = unmasker.prepare(occluded)  # a found mask's crops too
    assert np.allclose(found.anchors[0].keypoints, covered_keypoints(found.faces[0], found.hole))


def test_returns_the_type_it_was_given(unmasker, masked_astronaut):
    occluded, truth = masked_astronaut
    as_pil = unmasker(Image.fromarray(occluded), mask=truth * 255).image
    assert isinstance(as_pil, Image.Image) and as_pil.size == (512, 512)
    tensor = torch.from_numpy(occluded).permute(2, 0, 1)[None].float() / 255
    as_tensor = unmasker(tensor, mask=truth * 255).image
    assert isinstance(as_tensor, torch.Tensor) and as_tensor.shape == (1, 3, 512, 512)


def test_clear_errors(unmasker, masked_astronaut):
    occluded, truth = masked_astronaut
    with pytest.raises(UnmaskError, match="mask is"):
        unmasker(occluded, mask=truth[:100])
    with pytest.raises(UnmaskError, match="no face"):
        unmasker(np.full((64, 64, 3), 128, np.uint8))


def test_a_given_mask_is_filled_to_its_edge(unmasker, masked_astronaut):
    occluded, truth = masked_astronaut
    result = unmasker(occluded, mask=truth * 255)
    hole = truth.astype(bool)
    assert np.array_equal(result.mask.astype(bool), hole)
    edge = hole & ~np.pad(hole, 1)[2:, 1:-1] | hole & ~np.pad(hole, 1)[:-2, 1:-1]
    untouched = (result.image[edge] == occluded[edge]).all(axis=-1).mean()
    assert untouched < 0.05  # no ring of the occluder is left at the hole's edge


def _loops_and_neck(astronaut):
    """The astronaut with a surgical mask plus ear loops and a band down the neck, all outside the face's crop."""
    face = detect_faces(astronaut)[0]
    occluded, truth = occlude(astronaut, "surgical", np.random.default_rng(0), face=face)
    to_photo = invert_matrix(template_matrix(face.keypoints, 1))
    extra = np.zeros(truth.shape, np.uint8)
    for side in (0.0, 1.0):  # from the mask's edge out to the ears, past the crop's side
        line = warp_points(np.array([[0.3 + 0.4 * side, 0.62], [-0.08 + 1.16 * side, 0.42]]), to_photo)
        cv2.polylines(extra, [np.round(line).astype(np.int32)], False, 1, thickness=3)
    neck = warp_points(np.array([[0.38, 0.8], [0.62, 0.8], [0.62, 1.12], [0.38, 1.12]]), to_photo)
    cv2.fillPoly(extra, [np.round(neck).astype(np.int32)], 1)
    hole = ((truth > 0) | (extra > 0)).astype(np.uint8)
    occluded = occluded.copy()
    occluded[extra > 0] = (150, 190, 230)
    return occluded, hole


@pytest.mark.parametrize("model", ["telea", "pconv"])
def test_every_hole_pixel_is_filled_however_far_it_reaches(astronaut, model):
    occluded, hole = _loops_and_neck(astronaut)
    inside = template_matrix(detect_faces(astronaut)[0].keypoints, 128)
    crop = cv2.warpAffine(np.ones((128, 128), np.float32), invert_matrix(inside), hole.shape[::-1]) > 0.99
    assert (hole.astype(bool) & ~crop).sum() > 500  # the hole reaches well past the face's crop
    result = Unmasker(model)(occluded, mask=hole)
    changed = (result.image != occluded).any(axis=2)
    assert changed[hole > 0].mean() == 1.0
    assert np.array_equal(result.mask, hole) and not changed[hole == 0].any()
    far = hole.astype(bool) & ~crop  # filled like what is under it (error 5; the input's is 162), no ghost of
    assert np.abs(result.image[far].astype(int) - astronaut[far]).mean() < 7  # the loops (8.5 with pconv)


def test_a_given_mask_without_a_face_is_filled_with_a_note(unmasker, astronaut):
    photo = astronaut[380:, 250:].copy()  # no face: the shoulder and the flag
    hole = np.zeros(photo.shape[:2], np.uint8)
    hole[40:70, 60:120] = 1
    photo[hole > 0] = (0, 255, 0)  # what covers it
    result = unmasker(photo, mask=hole)
    assert result.faces == [] and "no face found" in result.notes[0]
    assert (result.image != photo).any(axis=2)[hole > 0].all() and np.array_equal(result.mask, hole)
    with pytest.raises(UnmaskError, match="no face"):
        unmasker(photo)  # without a mask there is nothing to go by


@pytest.mark.parametrize("form", ["uint8 0/1", "uint8 0/255", "bool", "float", "PIL L", "PIL 1", "torch",
                                  "rgb 0/1"])
def test_any_nonzero_mask_value_is_a_hole(unmasker, masked_astronaut, form):
    occluded, truth = masked_astronaut
    hole = truth > 0
    mask = {"uint8 0/1": hole.astype(np.uint8), "uint8 0/255": hole.astype(np.uint8) * 255, "bool": hole,
            "float": hole * 0.5, "PIL L": Image.fromarray(hole.astype(np.uint8)),
            "PIL 1": Image.fromarray(hole), "torch": torch.from_numpy(hole)[None, None].float(),
            "rgb 0/1": np.repeat(hole[..., None], 3, axis=2).astype(np.uint8)}[form]
    assert np.array_equal(as_hole(mask, occluded.shape), hole)
    assert np.array_equal(unmasker(occluded, mask=mask).mask, hole.astype(np.uint8))


def test_mask_image_alias_model_per_call_repr_and_grow(unmasker, masked_astronaut):
    occluded, truth = masked_astronaut
    by_alias = unmasker(occluded, mask_image=truth)
    assert np.array_equal(by_alias.image, unmasker(occluded, mask=truth).image)
    with pytest.raises(UnmaskError, match="not both"):
        unmasker(occluded, mask=truth, mask_image=truth)
    other = unmasker(occluded, mask=truth, model="ns")
    assert np.array_equal(other.image, Unmasker("ns")(occluded, mask=truth).image)
    assert not np.array_equal(other.image, by_alias.image)
    text = repr(by_alias)
    assert len(text) < 200 and "512x512" in text and "faces=1" in text
    grown = Unmasker("telea", grow=9)(occluded).mask
    assert grown.sum() > unmasker(occluded).mask.sum()
    with pytest.raises(UnmaskError, match="grow"):
        Unmasker("telea", grow=-1)


def test_a_fill_that_lands_on_the_input_value_still_changes_the_pixel(astronaut):
    from unmask.pipeline import _differ

    result, hole = astronaut.copy(), np.zeros(astronaut.shape[:2], np.uint8)
    hole[10:20, 10:20] = 1
    result[12, 12] = (200, 255, 10)
    photo = result.copy()
    result[hole > 0] = np.clip(result[hole > 0].astype(int) + 3, 0, 255)
    result[15, 15] = photo[15, 15]  # a fill equal to the input here
    result[12, 12] = photo[12, 12]  # ... and here, with green at 255
    _differ(result, photo, hole)
    assert ((result != photo).any(axis=2) == (hole > 0)).all()
    assert tuple(result[12, 12]) == (200, 254, 10)

import numpy as np
import pytest

from unmask.face import align_face, detect_faces, transform_face
from unmask.face.reference import AlignedReference, ReferenceUnusable, remap
from unmask.face.reference_blend import (
    composite,
    poisson_blend,
    refine,
    ring,
    ring_similarity,
    shading_ratio,
    similarity_map,
)

SIZE = 128


@pytest.fixture(scope="module")
def crop(astronaut):
    """The astronaut's aligned 128² crop, its landmarks and a hole over the mouth, nose and chin."""
    face = detect_faces(astronaut)[0]
    aligned = align_face(astronaut, face, size=SIZE)
    landmarks = transform_face(face, aligned.matrix).landmarks
    hole = np.zeros((SIZE, SIZE), np.uint8)
    hole[75:112, 38:92] = 1
    return aligned.image, landmarks, hole


def _psnr(first: np.ndarray, second: np.ndarray, where: np.ndarray) -> float:
    error = np.mean((first[where > 0].astype(float) - second[where > 0]) ** 2)
    return float(10 * np.log10(255**2 / max(error, 1e-9)))


def test_poisson_blend_of_the_same_picture_changes_nothing_and_takes_the_border_of_the_target(crop):
    image, _, hole = crop
    region = hole > 0
    assert np.abs(poisson_blend(image, image, region).astype(int) - image).max() <= 1
    brighter = np.clip(image.astype(int) + 40, 0, 255).astype(np.uint8)
    blended = poisson_blend(brighter, image, region)
    assert np.array_equal(blended[~region], image[~region])
    inner = np.zeros_like(region)
    inner[85:102, 50:80] = True  # far from the clipped highlights: the offset is gone, the detail kept
    assert np.abs(blended[inner].astype(int) - image[inner]).mean() < 4


def test_shading_ratio_recovers_a_smooth_light_change(crop):
    image, _, hole = crop
    ys, xs = np.mgrid[0:SIZE, 0:SIZE] / SIZE
    light = (0.8 + 0.3 * xs)[..., None]  # the reference was lit from the other side
    lit = np.clip(image * light, 0, 255).astype(np.uint8)
    ratio = shading_ratio(lit, image, (hole == 0), sigma=0.1 * SIZE)
    assert np.abs(lit * ratio - image)[hole > 0].mean() < np.abs(lit.astype(float) - image)[hole > 0].mean() / 2


def test_refine_finds_a_subpixel_shift_on_the_ring(crop):
    image, _, hole = crop
    points, shift = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]]), np.array([1.6, -2.3])
    shifted = remap(image, similarity_map(points, points + shift, (SIZE, SIZE)))  # the face moved by ``shift``
    start = similarity_map(points, points, (SIZE, SIZE))
    refined = refine(start, shifted, image, ring(hole, 14))
    assert np.abs(refined[hole > 0] - start[hole > 0] - shift).mean() < 0.3


def test_same_photo_reference_fills_the_hole_almost_exactly(crop):
    image, landmarks, hole = crop
    reference = AlignedReference(image, landmarks, np.zeros((SIZE, SIZE), np.uint8))
    grey = np.full_like(image, 128)
    made = composite(reference, image * (1 - hole[..., None]), landmarks, hole, np.where(hole[..., None], grey, image))
    assert made.agreement > 0.9 and made.share[hole > 0].mean() > 0.7
    assert _psnr(made.image, image, made.share > 0.99) > 35  # where the reference is used, it is the truth
    assert _psnr(made.image, image, hole) > _psnr(np.where(hole[..., None], grey, image), image, hole) + 3


def test_a_reference_that_does_not_line_up_is_refused(crop):
    image, landmarks, hole = crop
    noise = np.random.default_rng(0).integers(0, 256, image.shape, dtype=np.uint8)
    reference = AlignedReference(noise, landmarks, np.zeros((SIZE, SIZE), np.uint8))
    with pytest.raises(ReferenceUnusable, match="does not line up"):
        composite(reference, image * (1 - hole[..., None]), landmarks, hole, image)
    assert ring_similarity(noise, image, ring(hole, 12)) < 0.2

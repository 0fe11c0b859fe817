import numpy as np
import pytest
import torch
from PIL import Image

from unmask.errors import UnmaskError
from unmask.face import detect_faces
from unmask.occlusion import occlude
from unmask.pipeline import Unmasker


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

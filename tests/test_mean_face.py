"""The mean_face fill: a harmonic membrane that is exact where it must be, and the average face, adapted to the
visible face by its PCA basis, blended in."""

import cv2
import numpy as np
import pytest
import torch

from unmask.errors import UnmaskError
from unmask.models import create_model
from unmask.models import mean_face as mean_face_module
from unmask.models.mean_face import BASIS_SIZE, face_adaptation, face_basis, mean_face, membrane


def test_membrane_reproduces_a_linear_ramp_and_leaves_known_pixels():
    y, x = np.mgrid[0:40, 0:50]
    ramp = np.stack([2.0 * x + 3.0 * y, 100.0 - x], -1)
    hole = np.zeros((40, 50), bool)
    hole[10:30, 5:45] = True
    hole[0:5, 0:5] = True  # a hole in the corner: the image edge is a mirror, still solvable
    given = np.where(hole[..., None], 0.0, ramp)
    filled = membrane(given, hole)
    assert np.allclose(filled[~hole], ramp[~hole])
    assert np.abs(filled[10:30, 5:45] - ramp[10:30, 5:45]).max() < 1e-6  # harmonic functions are kept exactly


def test_the_average_face_is_shipped_checked_and_looks_like_a_face():
    face = mean_face()
    assert face.shape == (256, 256, 3) and face.dtype == np.uint8
    grey = face.mean(2)
    lips, cheek = grey[168:178, 118:138].mean(), grey[150:160, 80:95].mean()
    assert lips < cheek - 5  # the lips are darker than the skin beside them: a face, not a flat average


def test_fill_takes_the_average_face_gradients_and_the_photo_colour():
    model = create_model("mean_face").eval()
    face = mean_face().astype(np.float32) / 255
    photo = np.clip(face * 0.8 + np.array([0.1, 0.05, 0.0], np.float32), 0, 1)  # another light and skin tone
    hole = np.zeros((256, 256), np.float32)
    hole[140:220, 70:190] = 1
    image = torch.from_numpy(photo).permute(2, 0, 1)[None]
    mask = torch.from_numpy(hole)[None, None]
    out = model(image * (1 - mask), mask)[0].permute(1, 2, 0).numpy()
    assert np.array_equal(out[hole == 0], photo[hole == 0])
    # The photo is an affine change of the average face; Poisson blending brings the hole within a few levels of it.
    assert np.abs(out[hole > 0] - photo[hole > 0]).mean() < 0.03
    assert model.input_size == 256


def test_the_basis_is_shipped_checked_and_ordered(monkeypatch):
    components, variances, residual = face_basis()
    assert components.shape == (len(variances), BASIS_SIZE, BASIS_SIZE, 3) and len(variances) >= 30
    assert np.allclose(np.linalg.norm(components.reshape(len(variances), -1), axis=1), 1, atol=1e-2)
    assert np.all(np.diff(variances) <= 0) and variances[-1] > residual > 0
    monkeypatch.setattr(mean_face_module, "BASIS_SHA256", "0" * 64)
    with pytest.raises(UnmaskError, match="sha256"):
        face_basis.__wrapped__()


def test_the_fit_recovers_a_face_of_the_basis_inside_the_hole():
    components, variances, _ = face_basis()
    coefficients = np.random.default_rng(0).standard_normal(len(variances)) * np.sqrt(variances)
    mean = cv2.resize(mean_face(), (BASIS_SIZE, BASIS_SIZE), interpolation=cv2.INTER_AREA).astype(np.float64)
    truth = mean + np.tensordot(coefficients, components, 1)
    image = np.clip(cv2.resize(truth, (256, 256), interpolation=cv2.INTER_LINEAR) + 0.5, 0, 255).astype(np.uint8)
    hole = np.zeros((256, 256), bool)
    hole[140:220, 70:190] = True  # the lower face, as a face mask hides it
    inside = cv2.resize(hole.astype(np.float64), (BASIS_SIZE, BASIS_SIZE), interpolation=cv2.INTER_AREA) == 1
    fitted = mean + face_adaptation(np.where(hole[..., None], 0, image), hole)
    error, plain = np.abs(fitted - truth)[inside].mean(), np.abs(mean - truth)[inside].mean()
    assert error < 0.75 * plain  # the visible face says what the average face gets wrong in the hole


def test_fill_keeps_the_known_pixels_and_is_deterministic():
    model = create_model("mean_face").eval()
    rng = np.random.default_rng(1)
    photo = np.clip(mean_face().astype(np.float32) / 255 * 0.9 + rng.normal(0, 0.02, (256, 256, 3)), 0, 1)
    image = torch.from_numpy(photo.astype(np.float32)).permute(2, 0, 1)[None]
    mask = torch.zeros(1, 1, 256, 256)
    mask[..., 140:220, 70:190] = 1
    first, second = model(image * (1 - mask), mask), model(image * (1 - mask), mask)
    assert first.shape == image.shape and first.dtype == image.dtype
    assert torch.equal(first, second)
    assert torch.equal(first[(mask == 0).expand_as(first)], image[(mask == 0).expand_as(image)])

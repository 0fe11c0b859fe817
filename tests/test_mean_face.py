"""The mean_face fill: a harmonic membrane that is exact where it must be, and the average face blended in."""

import numpy as np
import torch

from unmask.models import create_model
from unmask.models.mean_face import mean_face, membrane


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

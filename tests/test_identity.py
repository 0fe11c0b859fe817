import pytest
import torch
import torch.nn as nn

from unmask.errors import UnmaskError
from unmask.face import align_face, detect_faces
from unmask.io import image_to_tensor
from unmask.losses import identity_loss
from unmask.nets.identity import FaceNetIdentity
from unmask.train import reference_module
from unmask.train.reference_module import ReferenceGAN

SIZE = 64


def stub_facenet() -> FaceNetIdentity:
    """A FaceNetIdentity whose network is a tiny random conv net (the real one is not installed in CI)."""
    torch.manual_seed(0)
    facenet = FaceNetIdentity.__new__(FaceNetIdentity)
    facenet.net = nn.Sequential(nn.Conv2d(3, 4, 8, stride=8), nn.Flatten(), nn.Linear(4 * 20 * 20, 16)).eval()
    facenet.net.requires_grad_(False)
    return facenet


def test_identity_loss_is_zero_for_the_truth_and_sends_gradients_to_the_output_only():
    facenet = stub_facenet()
    truth = torch.rand(2, 3, SIZE, SIZE)
    assert identity_loss(facenet, truth.clone(), truth).item() == pytest.approx(0.0, abs=1e-5)
    output = torch.rand(2, 3, SIZE, SIZE, requires_grad=True)
    truth.requires_grad_(True)
    loss = identity_loss(facenet, output, truth)
    loss.backward()
    assert 0 < loss.item() <= 2
    assert output.grad.abs().sum() > 0 and truth.grad is None


def test_the_identity_term_needs_facenet_and_stays_out_of_checkpoints(monkeypatch):
    generator = {"name": "reference_guided", "kwargs": {"cnum": 4, "in_size": SIZE}}
    with pytest.raises(UnmaskError, match="facenet_runner"):
        ReferenceGAN(generator=generator, losses={"identity": 1.0})
    monkeypatch.setattr(reference_module, "FaceNetIdentity", lambda runner: stub_facenet())
    module = ReferenceGAN(generator=generator, losses={"identity": 1.0, "adv": 0.0}, facenet_runner="facenet.py")
    mask = torch.zeros(1, 1, SIZE, SIZE)
    mask[..., 20:40, 20:40] = 1
    batch = (torch.rand(1, 3, SIZE, SIZE), mask, torch.rand(1, 3, SIZE, SIZE), torch.ones_like(mask))
    total, terms, _ = module.generator_loss(*batch)
    assert set(terms) == {"l1_coarse", "l1_refined", "identity"} and total > terms["identity"] > 0
    assert all(key.split(".")[0] in {"generator", "ema", "discriminator"} for key in module.state_dict())


def test_dlib_identity_distance_is_zero_for_the_same_face_and_grows_with_damage(astronaut):
    pytest.importorskip("dlib")
    pytest.importorskip("face_recognition_models")
    from unmask.nets.identity import DlibIdentity

    crop = image_to_tensor(align_face(astronaut, detect_faces(astronaut)[0], size=128).image)
    dlib = DlibIdentity()
    noisy = (crop + 0.25 * torch.randn_like(crop)).clamp(0, 1)
    blank = crop.clone()
    blank[..., 60:, 30:100] = 0.5  # the lower face gone
    same, damaged, erased = (dlib.distance(other, crop)[0] for other in (crop, noisy, blank))
    assert same == pytest.approx(0.0, abs=1e-6) and 0 < damaged and 0 < erased

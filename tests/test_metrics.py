"""Metrics against hand-computed values on tiny images; buckets and border contact."""

import math

import numpy as np
import pytest
import torch

from unmask.eval import metrics
from unmask.eval.buckets import BUCKET_LABELS, hole_bucket, hole_ratio, touches_border


def _pair() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """4x4 target of 0.5; prediction off by 0.1 in the top half (the hole) and by 0.2 in the bottom half."""
    target = torch.full((1, 3, 4, 4), 0.5)
    pred = target.clone()
    pred[..., :2, :] += 0.1
    pred[..., 2:, :] += 0.2
    mask = torch.zeros(1, 1, 4, 4)
    mask[..., :2, :] = 1
    return pred, target, mask


def test_l1_whole_and_hole() -> None:
    pred, target, mask = _pair()
    assert metrics.l1_percent(pred, target).item() == pytest.approx(15.0)
    assert metrics.l1_percent(pred, target, mask).item() == pytest.approx(10.0)


def test_psnr_known_values_and_cap() -> None:
    pred, target, mask = _pair()
    assert metrics.psnr(pred, target).item() == pytest.approx(10 * math.log10(1 / 0.025), abs=1e-4)
    assert metrics.psnr(pred, target, mask).item() == pytest.approx(20.0, abs=1e-4)
    assert metrics.psnr(target, target).item() == metrics.PSNR_CAP_DB


def test_ssim_identical_is_one_and_hole_restricted() -> None:
    image = torch.rand(2, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    mask = torch.zeros(2, 1, 4, 4)
    mask[..., :2, :] = 1
    assert torch.allclose(metrics.ssim(image, image), torch.ones(2, dtype=torch.float64))
    damaged = image.clone()
    damaged[..., :2, :] = 1 - damaged[..., :2, :]
    ssim_map = metrics.ssim_map(damaged, image)
    assert ssim_map.shape == (2, 1, 4, 4)
    expected = ssim_map[..., :2, :].double().mean(dim=(1, 2, 3))
    assert torch.allclose(metrics.ssim(damaged, image, mask), expected)
    assert (metrics.ssim(damaged, image, mask) < metrics.ssim(damaged, image)).all()


def test_gmsd_zero_for_identical_and_positive_for_blur() -> None:
    """Also: the hole variant is the spread of the GMS map over the 2x2-pooled hole."""
    image = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    blurred = torch.nn.functional.avg_pool2d(image, 3, stride=1, padding=1, count_include_pad=False)
    assert metrics.gmsd(image, image).item() == pytest.approx(0.0, abs=1e-12)
    assert metrics.gmsd(blurred, image).item() > 0.01
    mask = torch.zeros(1, 1, 16, 16)
    mask[..., 3:7, 2:9] = 1  # pooled: rows 1..3, columns 1..4
    expected = metrics.gms_map(blurred, image)[0, 0, 1:4, 1:5].double().std(unbiased=False)
    assert metrics.gmsd(blurred, image, mask).item() == pytest.approx(expected.item())


def test_hole_metric_is_nan_for_empty_hole() -> None:
    pred, target, _ = _pair()
    assert math.isnan(metrics.l1_percent(pred, target, torch.zeros(1, 1, 4, 4)).item())


def test_frechet_distance() -> None:
    rng = np.random.default_rng(0)
    features = rng.normal(size=(200, 3))
    assert metrics.frechet_distance(features, features) == pytest.approx(0.0, abs=1e-6)
    shifted = metrics.frechet_distance(features, features + np.array([2.0, 0.0, 0.0]))
    assert shifted == pytest.approx(4.0, rel=1e-6)


@pytest.mark.parametrize("count, dims", [(300, 6), (12, 40)])  # more samples than features, and fewer
def test_frechet_distance_matches_the_matrix_root_formula(count, dims) -> None:
    from scipy import linalg

    rng = np.random.default_rng(count)
    first = rng.normal(size=(count, dims)) * rng.uniform(0.2, 2.0, dims)
    second = rng.normal(size=(count + 3, dims)) * rng.uniform(0.2, 2.0, dims) + 0.5
    cov_first, cov_second = np.cov(first, rowvar=False), np.cov(second, rowvar=False)
    difference = first.mean(0) - second.mean(0)
    expected = difference @ difference + np.trace(cov_first + cov_second
                                                   - 2 * np.real(linalg.sqrtm(cov_first @ cov_second)))
    assert metrics.frechet_distance(first, second) == pytest.approx(expected, rel=1e-6)


def test_vgg_perceptual_zero_for_identical(shared_weights) -> None:
    vgg = metrics.VGGFeatures(shared_weights / "vgg16_imagenet_keras" / "vgg16_features_fp16.pth")
    image = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    maps, pooled = vgg(image)
    other_maps, _ = vgg(image.flip(-1))
    assert len(maps) == 5 and pooled.shape == (1, 512)
    assert metrics.vgg_perceptual(maps, maps).item() == pytest.approx(0.0, abs=1e-9)
    assert metrics.vgg_perceptual(maps, other_maps).item() > 0


def test_hole_ratio_buckets() -> None:
    mask = np.zeros((10, 10), np.uint8)
    mask[:1, :] = 1
    assert hole_ratio(mask) == pytest.approx(0.1)
    assert hole_bucket(0.1) == "(0.01,0.1]"
    assert hole_bucket(0.15) == "(0.1,0.2]"
    assert hole_bucket(0.6) == "(0.5,0.6]"
    assert hole_bucket(0.005) == "<=0.01"
    assert hole_bucket(0.75) == ">0.6"
    assert len(BUCKET_LABELS) == 8
    assert hole_ratio(np.full((2, 2), 0.7, np.float32)) == 1.0


def test_border_contact() -> None:
    mask = np.zeros((8, 8), np.uint8)
    mask[3:5, 3:5] = 1
    assert not touches_border(mask)
    mask[3, 7] = 1
    assert touches_border(mask)
    assert touches_border(np.pad(np.ones((2, 2)), ((6, 0), (0, 6))))


def test_identity_similarity_with_a_stand_in_graph_runner(tmp_path) -> None:
    from unmask.errors import UnmaskError
    from unmask.nets.identity import FaceNetIdentity

    runner = tmp_path / "runner.py"
    runner.write_text(  # a stand-in for the FaceNet runner: the embedding is the mean colour of the face
        "import torch\n"
        "class TFGraphNet(torch.nn.Module):\n"
        "    def __init__(self, path):\n"
        "        super().__init__()\n"
        "    def forward(self, x):\n"
        "        return x.mean((2, 3))\n"
    )
    identity = FaceNetIdentity(runner, graph=tmp_path / "unused.pb")
    red, green = torch.zeros(1, 3, 32, 32), torch.zeros(1, 3, 32, 32)
    red[:, 0, 8:24, 8:24], green[:, 1, 8:24, 8:24] = 1, 1
    embedded = identity.embed(torch.cat([red, green]))
    assert embedded.shape == (2, 3) and torch.allclose(embedded.norm(dim=1), torch.ones(2))
    similarity = identity.similarity(torch.cat([red, red]), torch.cat([red, green]))
    assert similarity[0] == pytest.approx(1.0, abs=1e-5) and similarity[1] < similarity[0]
    with pytest.raises(UnmaskError, match="no FaceNet graph runner"):
        FaceNetIdentity(tmp_path / "missing.py", graph=tmp_path / "unused.pb")

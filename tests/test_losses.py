import math
from pathlib import Path

import pytest
import torch

from unmask.losses import (
    feature_matching_loss,
    gram_matrix,
    hinge_d_loss,
    hinge_g_loss,
    masked_l1,
    perceptual_loss,
    ragan_d_loss,
    ragan_g_loss,
    style_loss,
)
from unmask.nets import VGG16Features, build_vgg16_features


def test_masked_l1_by_hand() -> None:
    pred = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
    target = torch.zeros_like(pred)
    mask = torch.tensor([[[[1.0, 0.0], [0.0, 1.0]]]])
    # (6*1 + 2 + 3 + 6*4) / 4
    assert masked_l1(pred, target, mask, hole_weight=6.0, valid_weight=1.0).item() == pytest.approx(35 / 4)
    rgb = masked_l1(pred.expand(1, 3, 2, 2), target.expand(1, 3, 2, 2), mask, 6.0, 1.0)
    assert rgb.item() == pytest.approx(35 / 4)


def test_hinge_losses_by_hand() -> None:
    real = torch.tensor([2.0, 0.5])
    fake = torch.tensor([-2.0, 0.0])
    assert hinge_d_loss(real, fake).item() == pytest.approx(0.25 + 0.5)
    assert hinge_g_loss(fake).item() == pytest.approx(1.0)


def test_ragan_losses_by_hand() -> None:
    real = torch.tensor([1.0])
    fake = torch.tensor([0.0], requires_grad=True)
    softplus = lambda v: math.log1p(math.exp(v))  # noqa: E731
    assert ragan_d_loss(real, fake).item() == pytest.approx(2 * softplus(-1.0))
    loss_g = ragan_g_loss(real.requires_grad_(), fake)
    assert loss_g.item() == pytest.approx(2 * softplus(1.0))
    loss_g.backward()
    assert real.grad is None and fake.grad is not None


def test_feature_matching_by_hand() -> None:
    real = [torch.zeros(1, 2, 2, 2), torch.ones(1, 1, 1, 1, requires_grad=True)]
    fake = [torch.ones(1, 2, 2, 2, requires_grad=True), torch.ones(1, 1, 1, 1) * 3]
    loss = feature_matching_loss(real, fake)
    assert loss.item() == pytest.approx((1.0 + 2.0) / 2)
    loss.backward()
    assert real[1].grad is None and fake[0].grad is not None


def test_gram_matrix_by_hand() -> None:
    features = torch.tensor([[[[1.0, 2.0]], [[3.0, 4.0]]]])  # (1, 2, 1, 2)
    expected = torch.tensor([[[5.0, 11.0], [11.0, 25.0]]]) / 4
    torch.testing.assert_close(gram_matrix(features), expected)


@pytest.fixture(scope="module")
def random_vgg_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("vgg") / "vgg16_random_fp16.pth"
    torch.save({k: v.half() for k, v in build_vgg16_features().state_dict().items()}, path)
    return path


def test_vgg_features_layers_and_shapes(random_vgg_path: Path) -> None:
    vgg = VGG16Features(random_vgg_path, layers=("relu1_1", "relu2_2", "relu4_3"))
    feats = vgg(torch.rand(2, 3, 32, 32))
    assert {k: tuple(v.shape) for k, v in feats.items()} == {
        "relu1_1": (2, 64, 32, 32),
        "relu2_2": (2, 128, 16, 16),
        "relu4_3": (2, 512, 4, 4),
    }
    assert len(vgg.features) == 23
    assert not any(p.requires_grad for p in vgg.parameters())
    with pytest.raises(ValueError, match="unknown VGG16 layers"):
        VGG16Features(random_vgg_path, layers=("relu6_1",))


def test_perceptual_and_style_losses(random_vgg_path: Path) -> None:
    vgg = VGG16Features(random_vgg_path)
    torch.manual_seed(1)
    target = torch.rand(1, 3, 32, 32)
    pred = target.clone().requires_grad_()
    same = vgg(target)
    assert perceptual_loss(vgg(pred), same).item() == 0
    assert style_loss(vgg(pred), same).item() == 0
    other = vgg((target + 0.2 * torch.randn_like(target)).clamp(0, 1))
    assert perceptual_loss(other, same).item() > 0
    assert style_loss(other, same).item() > 0
    weighted = perceptual_loss(other, same, {"relu1_2": 1.0, "relu2_2": 0.0, "relu3_3": 0.0, "relu4_3": 0.0})
    expected = (other["relu1_2"] - same["relu1_2"]).abs().mean()
    torch.testing.assert_close(weighted, expected)
    (perceptual_loss(vgg(pred), other) + style_loss(vgg(pred), other)).backward()
    assert pred.grad is not None and pred.grad.abs().sum() > 0


def test_real_vgg_weights_load_and_discriminate(shared_weights: Path) -> None:
    vgg = VGG16Features(shared_weights / "vgg16_imagenet_keras" / "vgg16_features_fp16.pth")
    first_bias = vgg.features[0].bias[:3]
    torch.testing.assert_close(
        first_bias, torch.tensor([0.73429835, 0.09340367, 0.06775674]), atol=1e-3, rtol=0
    )
    torch.manual_seed(0)
    image = torch.rand(1, 3, 32, 32)
    feats = vgg(image)
    assert perceptual_loss(vgg(image), feats).item() == 0
    assert perceptual_loss(vgg(image.flip(3)), feats).item() > 0

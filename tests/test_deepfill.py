import pytest
import torch

from unmask.errors import UnmaskError
from unmask.models.deepfill import DeepFillV2Generator
from unmask.models.discriminators import SNPatchGAN
from unmask.models.registry import create_model


def _inputs(batch: int = 2, size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    image = torch.rand(batch, 3, size, size)
    mask = torch.zeros(batch, 1, size, size)
    mask[:, :, size // 4 : size // 2, size // 4 : 3 * size // 4] = 1.0
    return image, mask


@pytest.fixture(scope="module")
def generator() -> DeepFillV2Generator:
    torch.manual_seed(0)
    return DeepFillV2Generator(cnum=8, in_size=32)


def test_forward_keeps_known_pixels_and_range(generator: DeepFillV2Generator) -> None:
    image, mask = _inputs()
    out = generator(image, mask)
    assert out.shape == image.shape
    assert out.min() >= 0 and out.max() <= 1
    known = (1 - mask).bool().expand_as(image)
    assert torch.equal(out[known], image[known])


def test_forward_train_returns_both_stages_with_gradients(generator: DeepFillV2Generator) -> None:
    image, mask = _inputs()
    generator.zero_grad()
    coarse, refined = generator.forward_train(image, mask)
    for stage in (coarse, refined):
        assert stage.shape == image.shape
        assert stage.min() >= 0 and stage.max() <= 1
    refined.mean().backward()
    for name in ("coarse", "refine_dilated", "refine_attention_encoder", "refine_decoder"):
        grads = [p.grad for p in getattr(generator, name).parameters()]
        assert all(g is not None for g in grads), name
        assert sum(g.abs().sum() for g in grads) > 0, name


def test_hole_content_does_not_leak_into_the_output(generator: DeepFillV2Generator) -> None:
    image, mask = _inputs(batch=1)
    other = image.clone()
    other[mask.bool().expand_as(image)] = 0.5
    torch.testing.assert_close(generator(image, mask), generator(other, mask))


def test_size_must_be_a_multiple_of_8(generator: DeepFillV2Generator) -> None:
    image, mask = _inputs(batch=1, size=36)
    with pytest.raises(UnmaskError, match="divisible by 8"):
        generator(image, mask)
    with pytest.raises(UnmaskError, match="cnum"):
        DeepFillV2Generator(cnum=6)


def test_jit_trace_at_64() -> None:
    model = create_model("deepfill", cnum=8, in_size=64).eval()
    image, mask = _inputs(batch=1, size=64)
    with torch.no_grad():
        traced = torch.jit.trace(model, (image, mask))
        torch.testing.assert_close(traced(image, mask), model(image, mask))
        image2, mask2 = _inputs(batch=1, size=64)
        mask2 = mask2.roll(10, dims=3)
        torch.testing.assert_close(traced(image2, mask2), model(image2, mask2))


def test_discriminator_shape_features_and_spectral_norm() -> None:
    disc = SNPatchGAN(in_channels=4, cnum=8).eval()  # eval: no power iteration, so calls repeat exactly
    image, mask = _inputs(batch=2, size=128)
    logits, features = disc(image, mask, return_features=True)
    assert logits.shape == (2, 32 * 2 * 2)
    assert len(features) == 6 and features[0].shape == (2, 8, 64, 64)
    torch.testing.assert_close(disc(image, mask), logits)
    convs = [m for m in disc.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 6
    assert all(torch.nn.utils.parametrize.is_parametrized(conv, "weight") for conv in convs)

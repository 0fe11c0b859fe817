"""The generic registry walk: every registered model, at tiny widths, on 64² inputs."""

import inspect

import pytest
import torch

from unmask.models import create_model, list_models

SIZE = 64
# Tiny kwargs for every learned model; a newly registered learned model must add its entry here.
TINY = {
    "deepfill": {"cnum": 8, "in_size": SIZE},
    "pconv": {"width": 1 / 16, "in_size": SIZE},
    "dmfn": {"nf": 4, "blocks": 2, "in_size": SIZE},
    "hog": {"nf": 4, "blocks": 2, "in_size": SIZE},
    "reference_guided": {"cnum": 8, "in_size": SIZE},
}
# Channels of the extra forward inputs some models take after (image, mask), by parameter name.
EXTRA_CHANNELS = {"reference": 3, "validity": 1}


def _inputs(batch: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    image = torch.rand(batch, 3, SIZE, SIZE)
    mask = torch.zeros(batch, 1, SIZE, SIZE)
    mask[0, :, 12:40, 8:56] = 1.0  # a face-mask-like block
    mask[1, :, 40:, 20:30] = 1.0  # a hole touching the border
    return image, mask


def _extra_inputs(model: torch.nn.Module, batch: int) -> list[torch.Tensor]:
    names = list(inspect.signature(model.forward).parameters)[2:]
    unknown = [name for name in names if name not in EXTRA_CHANNELS]
    assert not unknown, f"add the channels of forward input(s) {unknown} to EXTRA_CHANNELS"
    return [torch.rand(batch, EXTRA_CHANNELS[name], SIZE, SIZE) for name in names]


@pytest.mark.parametrize("name", list_models())
def test_registered_model_forward_backward_and_composite(name: str) -> None:
    torch.manual_seed(0)
    model = create_model(name, **TINY.get(name, {}))
    learned = any(True for _ in model.parameters())
    assert not learned or name in TINY, f"learned model {name!r} needs tiny kwargs in TINY"
    image, mask = _inputs()
    extra = _extra_inputs(model, len(image))
    out = model(image, mask, *extra)
    assert out.shape == image.shape and torch.isfinite(out).all()
    known = (mask < 0.5).expand_as(image)
    assert torch.equal(out[known], image[known])
    if learned:
        target = torch.rand_like(image)
        ((out - target).abs() * mask).mean().backward()
        grads = [p.grad for p in model.parameters() if p.grad is not None]
        assert grads and all(torch.isfinite(g).all() for g in grads)
        assert sum(float(g.abs().sum()) for g in grads) > 0


@pytest.mark.parametrize("name", sorted(set(TINY) & set(list_models())))
def test_hole_content_does_not_reach_the_output(name: str) -> None:
    torch.manual_seed(0)
    model = create_model(name, **TINY[name]).eval()
    image, mask = _inputs()
    extra = _extra_inputs(model, len(image))
    scribbled = torch.where(mask > 0.5, torch.rand_like(image), image)
    with torch.no_grad():
        torch.testing.assert_close(model(image, mask, *extra), model(scribbled, mask, *extra))

import pytest
import torch
from safetensors.torch import save_file

from unmask.errors import UnmaskError
from unmask.models import create_model
from unmask.models.widen import widen_deepfill
from unmask.train.run import build_module


def _trained_like(cnum: int) -> torch.nn.Module:
    """A DeepFill generator with random weights large enough to give non-trivial attention."""
    torch.manual_seed(0)
    model = create_model("deepfill", cnum=cnum, in_size=32).eval()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.normal_(0.0, 0.3)
    return model


def _image_and_hole() -> tuple[torch.Tensor, torch.Tensor]:
    image = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    mask = torch.zeros(2, 1, 32, 32)
    mask[:, :, 12:26, 6:22] = 1.0
    return image, mask


@pytest.mark.parametrize("factor", [1, 2, 3])
def test_a_widened_generator_computes_the_same_coarse_and_refined_images(factor):
    narrow = _trained_like(4)
    wide = create_model("deepfill", cnum=4 * factor, in_size=32).eval()
    wide.load_state_dict(widen_deepfill(narrow.state_dict(), wide))
    image, mask = _image_and_hole()
    with torch.no_grad():
        for before, after in zip(narrow.forward_train(image, mask), wide.forward_train(image, mask), strict=True):
            assert before.std() > 0.01  # not a constant image that any widening would keep
            torch.testing.assert_close(after, before, atol=1e-4, rtol=1e-4)


def test_the_copies_of_a_channel_read_with_different_weights_unless_the_spread_is_zero():
    narrow = _trained_like(4)
    wide = create_model("deepfill", cnum=8, in_size=32)
    name = "coarse.2.conv.weight"  # a gated conv reading cnum channels: copies j and j + cnum
    for spread, differ in ((0.1, True), (0.0, False)):
        weight = widen_deepfill(narrow.state_dict(), wide, spread=spread)[name]
        copies_differ = not torch.allclose(weight[:, :4], weight[:, 4:])
        assert copies_differ is differ
        rows = torch.tensor([0, 1, 2, 3, 0, 1, 2, 3, 4, 5, 6, 7, 4, 5, 6, 7])  # features, copies, gates, copies
        expected = narrow.state_dict()[name].index_select(0, rows)
        torch.testing.assert_close(weight[:, :4] + weight[:, 4:], expected, atol=1e-6, rtol=1e-6)


def test_widths_that_do_not_divide_are_refused():
    with pytest.raises(UnmaskError, match="do not divide"):
        widen_deepfill(_trained_like(8).state_dict(), create_model("deepfill", cnum=12, in_size=32))


def test_a_run_starts_from_widened_weights(tmp_path):
    narrow = _trained_like(4)
    weights = tmp_path / "narrow.safetensors"
    save_file(narrow.state_dict(), str(weights))
    config = {"generator": {"name": "deepfill", "kwargs": {"cnum": 8, "in_size": 32}}, "init_from": str(weights),
              "init_widen": True}
    module = build_module(config)
    image, mask = _image_and_hole()
    with torch.no_grad():
        torch.testing.assert_close(module.ema(image, mask), narrow(image, mask), atol=1e-4, rtol=1e-4)
    with pytest.raises(UnmaskError, match="needs model.init_from"):
        build_module({**config, "init_from": None})

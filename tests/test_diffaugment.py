"""DiffAugment changes what the discriminator sees, the same way for an image and its mask, and passes gradients."""

import pytest
import torch

from unmask.errors import UnmaskError
from unmask.train.diffaugment import CUTOUT, diff_augment


def test_image_and_mask_are_shifted_and_cut_out_together():
    torch.manual_seed(0)
    image = torch.rand(8, 3, 32, 32)
    mask = torch.zeros(8, 1, 32, 32)
    mask[:, :, 8:24, 8:24] = 1
    augmented, moved = diff_augment(image, mask)
    assert augmented.shape == image.shape and moved.shape == mask.shape
    assert not torch.allclose(augmented, image)
    assert set(moved.unique().tolist()) <= {0.0, 1.0}  # whole-pixel shifts keep the mask binary
    assert (moved.sum(dim=(1, 2, 3)) < mask.sum(dim=(1, 2, 3))).any()  # the cutout or the edge took part of it
    cut = (augmented == 0).all(dim=1)  # the cutout is zero in every channel of the image and in the mask
    assert cut.flatten(1).sum(1).max() >= (CUTOUT * 32 - 1) ** 2 - 2 * 32
    assert (moved[:, 0][cut] == 0).all()


def test_draws_differ_per_call_and_gradients_flow():
    image = torch.rand(4, 3, 16, 16, requires_grad=True)
    mask = torch.ones(4, 1, 16, 16)
    first, _ = diff_augment(image, mask)
    second, _ = diff_augment(image, mask)
    assert not torch.allclose(first, second)
    first.sum().backward()
    assert image.grad is not None and image.grad.abs().sum() > 0


def test_a_policy_applies_only_its_operations_and_refuses_unknown_ones():
    image, mask = torch.rand(4, 3, 16, 16), torch.ones(4, 1, 16, 16)
    coloured, same_mask = diff_augment(image, mask, ("colour",))
    assert not torch.allclose(coloured, image) and torch.equal(same_mask, mask)
    shifted, _ = diff_augment(image, mask, ("translation",))
    assert torch.isin(shifted[shifted != 0], image).all()  # only moved (and zero-padded), never recoloured
    with pytest.raises(UnmaskError, match="unknown operation"):
        diff_augment(image, mask, ("rotation",))

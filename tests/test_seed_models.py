"""Model-specific tests of the seed models: partial conv + PConv U-Net, DMFN and its discriminator, HOG-guided."""

import pytest
import torch

from unmask.errors import UnmaskError
from unmask.models import create_model
from unmask.models.discriminators import GlobalLocalDiscriminator, PatchDiscriminator, crop_boxes, hole_boxes
from unmask.models.dmfn import DenseMultiScaleFusionBlock
from unmask.models.partial_conv import PartialConv2d
from unmask.models.pconv import PConvUNet


def _hole(size: int = 16) -> torch.Tensor:
    """Validity mask (1 = valid) with a 6x6 hole."""
    valid = torch.ones(1, 1, size, size)
    valid[..., 5:11, 5:11] = 0.0
    return valid


def test_partial_conv_equals_conv_without_holes():
    torch.manual_seed(0)
    conv = PartialConv2d(3, 4, 3, padding=1, bias=True)
    x = torch.rand(1, 3, 8, 8)
    out, new_mask = conv(x, torch.ones(1, 1, 8, 8))
    inner = (slice(None), slice(None), slice(1, -1), slice(1, -1))  # zero padding counts as a hole at the border
    torch.testing.assert_close(out[inner], torch.nn.functional.conv2d(x, conv.weight, conv.bias, padding=1)[inner])
    assert torch.all(new_mask == 1)


def test_partial_conv_renormalises_and_updates_the_mask():
    conv = PartialConv2d(1, 1, 3, padding=1, bias=False)
    torch.nn.init.ones_(conv.weight)
    valid = _hole()
    out, new_mask = conv(torch.full((1, 1, 16, 16), 0.5) * valid, valid)
    # a constant image stays constant wherever one input was valid: sum(W X M) * 9 / sum(M) = 9 * 0.5
    assert torch.allclose(out[new_mask.bool()], torch.tensor(4.5))
    assert torch.all(out[~new_mask.bool()] == 0)
    assert int((1 - new_mask).sum()) == 16  # the 6x6 hole shrinks by one pixel on every side
    scribbled = torch.where(valid > 0, torch.rand(1, 1, 16, 16), torch.full((1, 1, 16, 16), 9.0))
    torch.testing.assert_close(conv(scribbled, valid)[0], conv(scribbled * valid, valid)[0])


def test_partial_conv_counts_per_channel_masks():
    conv = PartialConv2d(2, 1, 1, bias=False)
    torch.nn.init.ones_(conv.weight)
    mask = torch.stack([torch.ones(4, 4), torch.zeros(4, 4)])[None]  # second channel entirely a hole
    out, new_mask = conv(torch.ones(1, 2, 4, 4), mask)
    assert torch.all(out == 2.0) and torch.all(new_mask == 1)


def test_pconv_unet_has_the_paper_layers():
    model = PConvUNet(width=1.0)
    assert [block.conv.kernel_size[0] for block in model.encoder] == [7, 5, 5, 3, 3, 3, 3, 3]
    assert [block.conv.out_channels for block in model.encoder] == [64, 128, 256, 512, 512, 512, 512, 512]
    assert [block.conv.out_channels for block in model.decoder] == [512, 512, 512, 512, 256, 128, 64, 3]
    assert [block.conv.in_channels for block in model.decoder][-2:] == [128 + 64, 64 + 3]
    assert 32e6 < sum(p.numel() for p in model.parameters()) < 34e6  # the paper's network is about 33 M


def test_pconv_fills_every_hole_pixel_and_freezes_encoder_bn():
    torch.manual_seed(0)
    model = create_model("pconv", width=1 / 16, in_size=64)
    image, mask = torch.rand(1, 3, 64, 64), torch.zeros(1, 1, 64, 64)
    mask[..., 8:56, 8:56] = 1.0  # a hole much larger than any kernel
    raw = model.eval().forward_train(image, mask)
    assert torch.isfinite(raw).all() and raw[mask.expand_as(raw).bool()].std() > 0
    model.freeze_encoder_bn = True
    model.train()
    assert all(not block.norm.training for block in list(model.encoder)[1:])
    assert all(block.norm.training for block in list(model.decoder)[:-1])


def test_dmfb_keeps_shape_and_uses_every_dilation():
    block = DenseMultiScaleFusionBlock(16)
    assert [branch.dilation[0] for branch in block.branches] == [1, 2, 4, 8]
    x = torch.rand(2, 16, 12, 12)
    assert block(x).shape == x.shape
    with pytest.raises(UnmaskError, match="multiple of 4"):
        DenseMultiScaleFusionBlock(10)


def test_dmfn_needs_sizes_divisible_by_4():
    with pytest.raises(UnmaskError, match="divisible by 4"):
        create_model("dmfn", nf=4, blocks=1)(torch.rand(1, 3, 30, 30), torch.zeros(1, 1, 30, 30))


def test_hole_boxes_and_crops():
    mask = torch.zeros(2, 1, 64, 64)
    mask[0, :, 50:60, 2:12] = 1.0  # small hole near a corner: box grows to 16 and stays inside
    boxes = hole_boxes(mask)
    assert boxes[0].tolist() == [47.0, 0.0, 16.0]
    assert boxes[1].tolist() == [0.0, 0.0, 64.0]  # empty mask: the whole image
    image = torch.rand(2, 3, 64, 64)
    crop = crop_boxes(image, torch.tensor([[8.0, 16.0, 32.0]] * 2), 32)
    torch.testing.assert_close(crop, image[:, :, 8:40, 16:48])  # a box at scale 1 is an exact slice


def test_global_local_discriminator_outputs_and_features():
    disc = GlobalLocalDiscriminator(cnum=4).eval()
    image, mask = torch.rand(2, 3, 64, 64), torch.zeros(2, 1, 64, 64)
    mask[:, :, 10:20, 30:50] = 1.0
    (global_logits, local_logits), features = disc(image, mask, return_features=True)
    assert global_logits.shape == (2, 16) and local_logits.shape == (2, 16)
    assert len(features) == 12 and features[6].shape == (2, 4, 16, 16)
    changed = image.clone()
    changed[:, :, :5, :5] = 0.0  # outside the local crop: only the global branch sees it
    global_changed, local_changed = disc(changed, mask)
    torch.testing.assert_close(local_changed, local_logits)
    assert not torch.allclose(global_changed, global_logits)


def test_hog_guided_uses_true_hog_outside_the_hole():
    torch.manual_seed(0)
    model = create_model("hog", nf=4, blocks=1, in_size=64).eval()
    image, mask = torch.rand(1, 3, 64, 64), torch.zeros(1, 1, 64, 64)
    mask[..., 24:40, 24:40] = 1.0
    out = model.forward_train(image, mask)
    blocks = model.hog.block_mask(mask).bool().expand_as(out.hog_used)
    truth = model.hog(image)
    torch.testing.assert_close(out.hog_used[~blocks], truth[~blocks])
    torch.testing.assert_close(out.hog_used[blocks], out.hog_pred[blocks])
    assert out.hog_pred.min() >= 0 and out.hog_pred.max() <= 1 and out.image.shape == image.shape
    with pytest.raises(UnmaskError, match="divisible by 8"):
        model(torch.rand(1, 3, 60, 64), torch.zeros(1, 1, 60, 64))


def test_pconv_bilinear_upsampling_keeps_the_weights_and_smooths_the_decoder():
    torch.manual_seed(0)
    nearest = create_model("pconv", width=1 / 16, in_size=64).eval()
    bilinear = create_model("pconv", width=1 / 16, in_size=64, upsample="bilinear").eval()
    bilinear.load_state_dict(nearest.state_dict())  # same parameters: a fine-tune can start from either
    image, mask = torch.rand(1, 3, 64, 64), torch.zeros(1, 1, 64, 64)
    mask[..., 16:48, 16:48] = 1
    assert not torch.allclose(nearest(image, mask), bilinear(image, mask))
    assert torch.equal(bilinear(image, mask)[..., :16, :], image[..., :16, :])
    with pytest.raises(UnmaskError, match="upsample"):
        create_model("pconv", upsample="bicubic")


def test_patch_discriminator_sees_70px_patches_and_returns_features():
    discriminator = PatchDiscriminator(cnum=4, layers=3)
    logits, features = discriminator(torch.rand(2, 3, 128, 128), torch.zeros(2, 1, 128, 128), return_features=True)
    assert logits.shape == (2, 14 * 14) and len(features) == 4
    assert [f.shape[1] for f in features] == [4, 8, 16, 32]

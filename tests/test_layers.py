import pytest
import torch

from unmask.models.layers import ContextualAttention, GatedConv2d, GatedDeconv2d


def test_gated_conv_shapes_and_gating() -> None:
    layer = GatedConv2d(5, 8, kernel_size=3, stride=2, activation="elu")
    x = torch.rand(2, 5, 16, 16)
    assert layer(x).shape == (2, 8, 8, 8)
    assert layer.conv.out_channels == 16
    dilated = GatedConv2d(4, 4, kernel_size=3, dilation=4, activation=None)
    assert dilated(torch.rand(1, 4, 16, 16)).shape == (1, 4, 16, 16)


def test_gated_conv_equals_feature_times_sigmoid_gate() -> None:
    layer = GatedConv2d(3, 2, kernel_size=1, activation="lrelu")
    x = torch.randn(1, 3, 4, 4)
    raw = layer.conv(x)
    expected = torch.nn.functional.leaky_relu(raw[:, :2], 0.2) * torch.sigmoid(raw[:, 2:])
    torch.testing.assert_close(layer(x), expected)


@pytest.mark.parametrize("activation", ["elu", "relu", None])
@pytest.mark.parametrize("channels_last", [False, True])
def test_gated_conv_inference_path_matches_the_autograd_path(activation, channels_last) -> None:
    layer = GatedConv2d(4, 6, activation=activation)
    x = torch.randn(2, 4, 8, 8)
    if channels_last:
        layer, x = layer.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
    with torch.enable_grad():
        expected = layer(x)
    assert expected.requires_grad
    with torch.inference_mode():
        fast = layer(x)
    torch.testing.assert_close(fast, expected.detach())
    assert fast.is_contiguous(memory_format=torch.channels_last) == channels_last


def test_fuse_equals_the_identity_kernel_convolution() -> None:
    h, w = 3, 5
    scores = torch.randn(2, h * w, h * w)
    kernel = torch.eye(3).view(1, 1, 3, 3)
    x = torch.nn.functional.conv2d(scores.reshape(2, 1, h * w, h * w), kernel, padding=1)
    x = x.reshape(2, h, w, h, w).permute(0, 2, 1, 4, 3).reshape(2, 1, h * w, h * w)
    x = torch.nn.functional.conv2d(x, kernel, padding=1)
    expected = x.reshape(2, w, h, w, h).permute(0, 2, 1, 4, 3).reshape(2, h * w, h * w)
    torch.testing.assert_close(ContextualAttention()._fuse(scores, h, w), expected)


def test_gated_conv_gradient_reaches_input_and_both_halves() -> None:
    layer = GatedConv2d(3, 4)
    x = torch.randn(1, 3, 8, 8, requires_grad=True)
    layer(x).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    grad = layer.conv.weight.grad
    assert grad[:4].abs().sum() > 0 and grad[4:].abs().sum() > 0


def test_gated_deconv_doubles_resolution() -> None:
    assert GatedDeconv2d(6, 3)(torch.rand(2, 6, 8, 12)).shape == (2, 3, 16, 24)


def test_unknown_activation_is_rejected() -> None:
    with pytest.raises(ValueError, match="activation"):
        GatedConv2d(3, 3, activation="gelu")  # type: ignore[arg-type]


def _copied_feature_map() -> tuple[torch.Tensor, torch.Tensor, tuple[slice, slice]]:
    """Noise features whose hole region (and its surroundings) is an exact copy of a known region."""
    torch.manual_seed(0)
    x = torch.randn(1, 8, 40, 40)
    x[:, :, 20:36, 20:36] = x[:, :, 2:18, 2:18].clone()
    hole = (slice(24, 32), slice(24, 32))
    mask = torch.zeros(1, 1, 40, 40)
    mask[:, :, hole[0], hole[1]] = 1.0
    return x, mask, hole


def test_contextual_attention_copies_the_matching_known_patch() -> None:
    x, mask, (rows, cols) = _copied_feature_map()
    corrupted = x.clone()
    attention = ContextualAttention(rate=2, softmax_scale=100.0, fuse=False)
    out = attention(corrupted, corrupted, mask)
    assert out.shape == x.shape
    torch.testing.assert_close(out[:, :, rows, cols], x[:, :, rows, cols], rtol=1e-3, atol=1e-3)


def test_contextual_attention_with_fuse_also_copies() -> None:
    x, mask, (rows, cols) = _copied_feature_map()
    out = ContextualAttention(rate=2, softmax_scale=100.0, fuse=True)(x, x, mask)
    torch.testing.assert_close(out[:, :, rows, cols], x[:, :, rows, cols], rtol=1e-3, atol=1e-3)


def test_contextual_attention_ignores_hole_patches() -> None:
    # The hole holds a unique, very strong pattern; since hole patches are masked out, it cannot be copied.
    torch.manual_seed(1)
    x = torch.randn(1, 4, 16, 16)
    x[:, :, 4:8, 4:8] = 100.0
    mask = torch.zeros(1, 1, 16, 16)
    mask[:, :, 4:8, 4:8] = 1.0
    out = ContextualAttention()(x, x, mask)
    assert out.abs().max() < 10.0


def test_contextual_attention_is_per_sample_and_safe_without_background() -> None:
    torch.manual_seed(2)
    x = torch.randn(3, 4, 16, 16, requires_grad=True)
    mask = torch.zeros(3, 1, 16, 16)
    mask[0, :, 2:10, 4:12] = 1.0
    mask[1, :, 8:16, 0:6] = 1.0
    mask[2] = 1.0  # nothing known: no patch to borrow
    attention = ContextualAttention()
    out = attention(x, x, mask)
    for i in range(3):
        torch.testing.assert_close(out[i : i + 1], attention(x[i : i + 1], x[i : i + 1], mask[i : i + 1]))
    assert torch.isfinite(out).all()
    assert out[2].abs().max() == 0
    out.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_contextual_attention_matches_in_float32_under_bf16_autocast() -> None:
    x, mask, _ = _copied_feature_map()
    attention = ContextualAttention(rate=2, softmax_scale=10.0, fuse=True)
    expected = attention(x, x, mask)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        autocast = attention(x, x, mask)
        bf16_scores = torch.bmm(x.flatten(2).transpose(1, 2), x.flatten(2))  # what autocast does to a bmm
    assert bf16_scores.dtype == torch.bfloat16
    assert autocast.dtype == torch.float32
    torch.testing.assert_close(autocast, expected, rtol=0, atol=0)


def test_contextual_attention_rejects_odd_rate() -> None:
    with pytest.raises(ValueError, match="rate"):
        ContextualAttention(rate=3)

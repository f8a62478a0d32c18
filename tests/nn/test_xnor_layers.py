"""XNOR-Net layers (xncost.nn.xnor) against explicit formulas (paper Appendix B, Eq. 20)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from xncost.errors import XncostError
from xncost.nn.xnor import XnorConv2d, XnorLinear


def _sign(x: torch.Tensor) -> torch.Tensor:
    """sign with 0 -> -1, written independently of the implementation."""
    return torch.where(x > 0, torch.ones_like(x), -torch.ones_like(x))


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def test_xnor_linear_equals_explicit_formula() -> None:
    layer = XnorLinear(12, 5, mode="xnor")
    x = torch.randn(4, 12)
    w, b = layer.weight.detach(), layer.bias.detach()
    alpha = w.abs().sum(dim=1) / 12
    k = x.abs().sum(dim=1, keepdim=True) / 12
    expected = torch.empty(4, 5)
    for i in range(4):
        for j in range(5):
            dot = sum(float(_sign(x[i, t]) * _sign(w[j, t])) for t in range(12))
            expected[i, j] = dot * k[i, 0] * alpha[j] + b[j]
    assert torch.allclose(layer(x), expected, atol=1e-5)


def test_xnor_linear_bwn_equals_explicit_formula() -> None:
    layer = XnorLinear(7, 3, bias=False, mode="bwn")
    x = torch.randn(2, 7)
    w = layer.weight.detach()
    alpha = w.abs().mean(dim=1, keepdim=True)
    assert layer.bias is None
    assert torch.allclose(layer(x), x @ (alpha * _sign(w)).T, atol=1e-6)


def _explicit_xnor_conv(
    x: torch.Tensor, w: torch.Tensor, bias: torch.Tensor, stride: int, padding: int
) -> torch.Tensor:
    """Eq. 20 by unfolding: each window's binary dot product times K (mean |I| over the
    c x kh x kw window, zero padding included: the box filter of the channel mean) times
    alpha_W (mean |W| per filter)."""
    bsz, _, h, wd = x.shape
    out_ch, _, kh, kw = w.shape
    cols_sign = F.unfold(_sign(x), (kh, kw), padding=padding, stride=stride)
    cols_abs = F.unfold(x.abs(), (kh, kw), padding=padding, stride=stride)
    k = cols_abs.mean(dim=1)  # [B, L]
    alpha = w.abs().reshape(out_ch, -1).mean(dim=1)
    dots = torch.einsum("of,bfl->bol", _sign(w).reshape(out_ch, -1), cols_sign)
    y = dots * k[:, None, :] * alpha[None, :, None] + bias[None, :, None]
    h_out = (h + 2 * padding - kh) // stride + 1
    w_out = (wd + 2 * padding - kw) // stride + 1
    return y.reshape(bsz, out_ch, h_out, w_out)


@pytest.mark.parametrize(("kernel", "stride", "padding"), [(3, 1, 1), (3, 2, 1), (1, 1, 0)])
def test_xnor_conv_equals_explicit_formula(kernel: int, stride: int, padding: int) -> None:
    layer = XnorConv2d(4, 6, kernel, stride, padding, mode="xnor")
    x = torch.randn(2, 4, 7, 7)
    expected = _explicit_xnor_conv(x, layer.weight.detach(), layer.bias.detach(), stride, padding)
    assert torch.allclose(layer(x), expected, atol=1e-5)


def test_grouped_xnor_conv_is_per_group() -> None:
    layer = XnorConv2d(4, 6, 3, 1, 1, groups=2, mode="xnor")
    assert layer.dot_length == 2 * 3 * 3
    x = torch.randn(1, 4, 5, 5)
    w, b = layer.weight.detach(), layer.bias.detach()
    parts = [
        _explicit_xnor_conv(
            x[:, 2 * g : 2 * g + 2], w[3 * g : 3 * g + 3], b[3 * g : 3 * g + 3], 1, 1
        )
        for g in range(2)
    ]
    assert torch.allclose(layer(x), torch.cat(parts, dim=1), atol=1e-5)


def test_bwn_conv_equals_conv_with_scaled_sign_weights() -> None:
    layer = XnorConv2d(3, 5, 3, 2, 1, mode="bwn")
    x = torch.randn(2, 3, 8, 8)
    w = layer.weight.detach()
    alpha = w.abs().mean(dim=(1, 2, 3), keepdim=True)
    expected = F.conv2d(x, alpha * _sign(w), layer.bias.detach(), 2, 1)
    assert torch.allclose(layer(x), expected, atol=1e-5)


def test_xnor_leaf_sees_only_plus_minus_one_operands() -> None:
    seen: list[torch.Tensor] = []
    for layer, x in (
        (XnorConv2d(3, 4, 3, padding=1, mode="xnor"), torch.randn(2, 3, 5, 5)),
        (XnorLinear(6, 2, mode="xnor"), torch.randn(3, 6)),
    ):
        assert list(layer.xnor.children()) == []
        assert list(layer.binarize_input.children()) == []
        handle = layer.xnor.register_forward_hook(lambda m, inp, out: seen.extend(inp))
        layer(x)
        handle.remove()
    assert len(seen) == 4
    for t in seen:
        assert set(torch.unique(t).tolist()) <= {-1.0, 1.0}


def test_bwn_leaf_gets_sign_weights_and_positive_scale() -> None:
    layer = XnorConv2d(3, 4, 3, mode="bwn")
    captured: list[tuple[torch.Tensor, ...]] = []
    handle = layer.bwn.register_forward_hook(lambda m, inp, out: captured.append(inp))
    layer(torch.randn(1, 3, 6, 6))
    handle.remove()
    _, b_w, alpha, _ = captured[0]
    assert set(torch.unique(b_w).tolist()) <= {-1.0, 1.0}
    assert alpha.shape == (4,) and bool((alpha > 0).all())
    assert not hasattr(layer, "xnor") and not hasattr(layer, "binarize_input")


def test_dot_length_and_mode_attributes() -> None:
    conv = XnorConv2d(16, 8, (3, 5), mode="bwn")
    lin = XnorLinear(100, 10)
    assert (conv.mode, conv.dot_length) == ("bwn", 16 * 3 * 5)
    assert (lin.mode, lin.dot_length) == ("xnor", 100)


@pytest.mark.parametrize("mode", ["xnor", "bwn"])
def test_gradients_flow_through_binary_layers(mode: str) -> None:
    conv = XnorConv2d(3, 4, 3, padding=1, mode=mode)
    lin = XnorLinear(4 * 5 * 5, 3, mode=mode)
    x = (torch.rand(2, 3, 5, 5) - 0.5).requires_grad_()
    lin(conv(x).flatten(1)).square().sum().backward()
    for p in (conv.weight, conv.bias, lin.weight, lin.bias, x):
        assert p.grad is not None
        assert bool(p.grad.abs().sum() > 0)


def test_xnor_input_gradient_is_straight_through_hard_tanh() -> None:
    layer = XnorLinear(4, 3, mode="xnor")
    x = torch.tensor([[0.5, -2.0, 0.25, 3.0]], requires_grad=True)
    layer(x).sum().backward()
    w = layer.weight.detach()
    alpha = w.abs().mean(dim=1)
    k = x.detach().abs().mean()
    inside = (x.detach().abs() <= 1).float()
    expected = (_sign(w) * alpha[:, None]).sum(dim=0) * k * inside
    assert x.grad is not None
    assert torch.allclose(x.grad, expected, atol=1e-6)
    assert x.grad[0, 1] == 0 and x.grad[0, 3] == 0


def test_binary_layer_learns() -> None:
    layer = XnorLinear(8, 1, mode="bwn")
    x = torch.randn(64, 8)
    target = x @ torch.linspace(-1, 1, 8).unsqueeze(1)
    losses = []
    for _ in range(60):
        layer.zero_grad()
        loss = F.mse_loss(layer(x), target)
        loss.backward()
        with torch.no_grad():
            for p in layer.parameters():
                p -= 0.05 * p.grad
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_unknown_mode_is_rejected() -> None:
    with pytest.raises(XncostError):
        XnorLinear(4, 2, mode="ternary")
    with pytest.raises(XncostError):
        XnorConv2d(4, 2, 3, mode="float")

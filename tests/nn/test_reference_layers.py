"""Reference layers: binarization semantics, straight-through gradients, routing structure."""

import pytest
import torch

from xncost.core.layers import LAYERS
from xncost.nn import XnIDR, XnODR, binarize, sign_ste, squash

CAPS_CLASSES = [s.module_class() for s in LAYERS.values() if s.is_caps]
XNOR_CLASSES = [s.module_class() for s in LAYERS.values() if s.is_caps and s.speedup]


def test_sign_forward_maps_zero_to_minus_one():
    x = torch.tensor([-2.0, -1.0, -1e-6, 0.0, 1e-6, 0.5, 1.0, 3.0])
    assert sign_ste(x).tolist() == [-1, -1, -1, -1, 1, 1, 1, 1]


def test_straight_through_gradient_is_hard_tanh():
    x = torch.tensor([-3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5], requires_grad=True)
    sign_ste(x).backward(torch.arange(1.0, 8.0))
    # passes the incoming gradient where |x| <= 1, blocks it outside [-1, 1]
    assert x.grad.tolist() == [0.0, 2.0, 3.0, 4.0, 5.0, 6.0, 0.0]


def test_alpha_is_mean_abs_without_gradient():
    x = torch.randn(4, 6, requires_grad=True)
    b, alpha = binarize(x, dim=-1)
    assert torch.equal(alpha, x.detach().abs().mean(-1, keepdim=True))
    assert not alpha.requires_grad and b.requires_grad


def test_squash_norm_below_one_and_direction_kept():
    s = torch.randn(5, 3, 16) * 4
    v = squash(s)
    n = v.norm(dim=-1)
    assert (n < 1).all()
    assert torch.allclose(n, s.norm(dim=-1) ** 2 / (1 + s.norm(dim=-1) ** 2), atol=1e-5)
    cos = (v * s).sum(-1) / (v.norm(dim=-1) * s.norm(dim=-1))
    assert torch.allclose(cos, torch.ones_like(cos), atol=1e-5)


@pytest.mark.parametrize("cls", CAPS_CLASSES)
def test_layers_shapes_and_gradients(cls):
    torch.manual_seed(0)
    layer = cls(12, 4, 5, 7, 3)
    x = torch.randn(2, 12, 5, requires_grad=True)
    y = layer(x)
    assert y.shape == (2, 4, 7)
    y.norm(dim=-1).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in layer.parameters())


def test_routing_calls_steps_r_and_r_minus_1_times():
    layer = XnIDR(6, 3, 4, 5, iterations=4)
    calls = {}
    for name, mod in layer.named_modules():
        leaf = name.rsplit(".", 1)[-1]
        if leaf in ("softmax", "weighted_sum", "squash", "binarize_uhat", "xnor_agreement"):
            mod.register_forward_hook(
                lambda m, i, o, leaf=leaf: calls.__setitem__(leaf, calls.get(leaf, 0) + 1)
            )
    layer(torch.randn(2, 6, 4))
    assert calls == {
        "softmax": 4,
        "weighted_sum": 4,
        "squash": 4,
        "binarize_uhat": 3,
        "xnor_agreement": 3,
    }


def test_xnodr_equals_explicit_xnor_computation():
    torch.manual_seed(1)
    layer = XnODR(5, 3, 6, 4, iterations=1)
    x = torch.randn(2, 5, 6)
    w = layer.projector.weight.weight.detach()
    bi = torch.where(x > 0, 1.0, -1.0)
    ai = x.abs().mean(-1)
    bw = torch.where(w > 0, 1.0, -1.0)
    aw = w.abs().mean(2)
    u_hat = torch.einsum("bnd,nmde->bnme", bi, bw) * ai[:, :, None, None] * aw[None]
    assert torch.allclose(layer.projector(x), u_hat, atol=1e-6)


@pytest.mark.parametrize("cls", XNOR_CLASSES)
@pytest.mark.parametrize("shape", [(9, 4, 8, 16, 3, 2), (5, 3, 70, 130, 2, 3), (3, 2, 1, 1, 4, 1)])
def test_packed_inference_equals_float_path_bit_for_bit(cls, shape):
    from xncost.nn import use_packed

    n, m, d, e, r, b = shape
    torch.manual_seed(sum(shape))
    layer = cls(n, m, d, e, r).eval()
    x = torch.randn(b, n, d)
    with torch.no_grad():
        y_float = layer(x)
        use_packed(layer)
        y_packed = layer(x)
    assert torch.equal(y_float, y_packed)
    use_packed(layer, False)
    assert not any(getattr(mod, "packed", False) for mod in layer.modules())


def test_packed_mode_keeps_autograd_on_the_float_path():
    from xncost.nn import use_packed

    layer = use_packed(XnIDR(6, 3, 4, 5, 3))
    x = torch.randn(2, 6, 4, requires_grad=True)
    layer(x).sum().backward()
    assert x.grad is not None

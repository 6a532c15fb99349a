"""relate_ray.workers.onednn_linear: float32 linear layers through oneDNN give F.linear's outputs and
gradients (to float32 rounding), and a routed model computes what it computed before."""

import pytest
import torch
import torch.nn.functional as F

from relate_ray.workers.onednn_linear import onednn_available, onednn_linear, use_onednn_linears

pytestmark = pytest.mark.skipif(not onednn_available(), reason="this torch build has no oneDNN")


def _inputs(shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(*shape, 24, generator=g, requires_grad=True)
    w = torch.randn(40, 24, generator=g, requires_grad=True)
    b = torch.randn(40, generator=g, requires_grad=True)
    return x, w, b


@pytest.mark.parametrize("shape", [(7,), (3, 5)])
@pytest.mark.parametrize("with_bias", [True, False])
def test_onednn_linear_matches_f_linear_and_its_gradients(shape, with_bias):
    x, w, b = _inputs(shape)
    bias = b if with_bias else None
    upstream = torch.randn(*shape, 40, generator=torch.Generator().manual_seed(1))
    expected = F.linear(x.double(), w.double(), None if bias is None else bias.double())
    (expected * upstream.double()).sum().backward()
    want = [t.grad.clone() for t in (x, w, b) if t.grad is not None]
    for t in (x, w, b):
        t.grad = None
    out = onednn_linear(x, w, bias)
    assert out.shape == (*shape, 40) and out.dtype == torch.float32
    torch.testing.assert_close(out.double(), expected, rtol=1e-5, atol=1e-4)
    (out * upstream).sum().backward()
    got = [t.grad for t in (x, w, b) if t.grad is not None]
    assert len(got) == len(want) == (3 if with_bias else 2)
    for g, expected_grad in zip(got, want):
        torch.testing.assert_close(g, expected_grad, rtol=1e-5, atol=1e-4)


def test_routed_model_keeps_its_outputs_and_falls_back_outside_float32():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.SiLU(), torch.nn.Linear(32, 8, bias=False))
    x = torch.randn(4, 16)
    before = model(x)
    assert use_onednn_linears(model) == 2
    after = model(x)
    torch.testing.assert_close(after, before, rtol=1e-5, atol=1e-5)
    # bfloat16 weights take F.linear itself: bit for bit what the unrouted layer gives.
    layer = torch.nn.Linear(16, 8).to(torch.bfloat16)
    plain = layer(x.bfloat16())
    use_onednn_linears(layer)
    assert torch.equal(layer(x.bfloat16()), plain)

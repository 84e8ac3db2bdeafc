"""tune_conv_paths keeps, per CP conv, the path its clock measured fastest, and changes no output."""
import pytest
import torch
from torch import nn

from lava_vision.adapters import AdapterConfig, adapter_layers, inject
from lava_vision.adapters.autotune import tune_conv_paths
from lava_vision.adapters.conv_cp import PATHS

DT = torch.float64


def net() -> nn.Module:
    torch.manual_seed(0)
    m = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 1, stride=2),
                      nn.ConvTranspose2d(8, 4, 2, stride=2)).double()
    inject(m, AdapterConfig(rank=2, alpha=2.0, lam=0.1, targets=["type:Conv2d", "type:ConvTranspose2d"]))
    with torch.no_grad():
        for _, layer in adapter_layers(m):
            for n in layer.factor_names:
                getattr(layer, n).normal_(0, 0.3)
    return m


def fake_clock(layers, fast: str):
    """Advances 1 per call while every layer runs ``fast``, 100 per other layer otherwise."""
    t = [0.0]

    def clock():
        now = t[0]
        t[0] += 1 + 100 * sum(layer.path != fast for layer in layers)
        return now
    return clock


@pytest.mark.parametrize("fast", PATHS)
def test_tuner_keeps_the_measured_fastest_path(fast):
    m = net()
    layers = [layer for _, layer in adapter_layers(m)]
    x = torch.randn(2, 3, 8, 8, dtype=DT)
    chosen = tune_conv_paths(m, lambda: m(x), repeats=1, clock=fake_clock(layers, fast))
    assert chosen == {"0": fast, "2": fast, "3": fast}
    assert all(layer.path == fast for layer in layers)


def test_tuning_changes_no_output_and_leaves_no_grads():
    m = net()
    x = torch.randn(2, 3, 8, 8, dtype=DT)
    with torch.no_grad():
        before = m(x)
    tune_conv_paths(m, lambda: m(x), repeats=1)
    with torch.no_grad():
        assert torch.allclose(m(x), before, rtol=1e-10, atol=1e-12)
    assert all(p.grad is None for p in m.parameters())

"""Hot swap: another adapter's weights copied into a loaded adapter in place. A torch.compile'd model
(a backend that counts its compilations) compiles once and never again, and its outputs after
the swap equal a fresh load of the new adapter in an uncompiled model; adapters of another
structure are refused with the model unchanged."""
import copy

import pytest
import torch
from torch import nn

from lava_vision.adapters import (
    AdapterConfig,
    AdapterFileError,
    adapter_layers,
    hotswap_adapter,
    inject,
    load_adapter,
    save_adapter,
    set_adapter,
)
from lava_vision.adapters.io import adapter_state_dict

torch.set_num_threads(1)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 8, 3, stride=2)
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        return self.fc(torch.relu(self.conv2(torch.relu(self.conv1(x)))).mean((2, 3)))


CFG = AdapterConfig(rank=2, alpha=4.0, targets=["conv1", "conv2"], modules_to_save=["fc"])


def trained(base: nn.Module, seed: int, folder, cfg: AdapterConfig = CFG):
    """Save an adapter with random (trained-like) factors and head into ``folder``."""
    model = copy.deepcopy(base)
    inject(model, cfg)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for t in adapter_state_dict(model).values():
            t.add_(0.3 * torch.randn(t.shape, generator=g))
    save_adapter(model, folder)
    return folder


def test_hotswap_under_compile_recompiles_zero_times_and_matches_a_fresh_load(tmp_path):
    torch.manual_seed(0)
    base = Net().eval()
    a, b = trained(base, 1, tmp_path / "a"), trained(base, 2, tmp_path / "b")
    x = torch.randn(2, 3, 12, 12)
    model = copy.deepcopy(base)
    load_adapter(model, a)
    compiles = []

    def counting_backend(gm, example_inputs):
        compiles.append(gm)
        return gm.forward

    torch._dynamo.reset()
    compiled = torch.compile(model, backend=counting_backend)
    ptrs = {k: v.data_ptr() for k, v in adapter_state_dict(model).items()}
    with torch.no_grad():
        y_a = compiled(x)
        assert len(compiles) == 1
        hotswap_adapter(model, b)
        y_b = compiled(x)
        hotswap_adapter(model, adapter_state_dict(load_adapter(copy.deepcopy(base), a)))  # a state dict works too
        y_a2 = compiled(x)
    assert len(compiles) == 1  # no recompilation after two swaps
    assert {k: v.data_ptr() for k, v in adapter_state_dict(model).items()} == ptrs  # the same tensors, new values
    fresh = load_adapter(copy.deepcopy(base), b)
    with torch.no_grad():
        want_b = fresh(x)
    assert not torch.allclose(y_a, want_b, atol=1e-3)
    assert torch.allclose(y_b, want_b, rtol=0, atol=1e-6)
    assert torch.equal(y_a2, y_a)


def test_hotswap_into_a_named_adapter_of_a_mix(tmp_path):
    torch.manual_seed(0)
    base = Net().double().eval()
    cfg = AdapterConfig(rank=2, alpha=4.0, targets=["conv1", "conv2"])
    a, b, c = (trained(base, s, tmp_path / n, cfg) for s, n in ((1, "a"), (2, "b"), (3, "c")))
    x = torch.randn(2, 3, 12, 12, dtype=torch.float64)
    model = copy.deepcopy(base)
    load_adapter(model, a, name="a")
    load_adapter(model, b, name="b")
    set_adapter(model, {"a": 0.5, "b": 2.0})
    hotswap_adapter(model, c, name="b")
    want = copy.deepcopy(base)
    load_adapter(want, a, name="a")
    load_adapter(want, c, name="b")
    set_adapter(want, {"a": 0.5, "b": 2.0})
    with torch.no_grad():
        assert torch.equal(model(x), want(x))


def test_hotswap_refuses_another_structure_and_leaves_the_model_unchanged(tmp_path):
    torch.manual_seed(0)
    base = Net().eval()
    a = trained(base, 1, tmp_path / "a")
    other_scale = trained(base, 2, tmp_path / "s", AdapterConfig(rank=2, alpha=2.0, targets=["conv1", "conv2"],
                                                                modules_to_save=["fc"]))
    other_rank = trained(base, 3, tmp_path / "r", AdapterConfig(rank=3, alpha=4.0, targets=["conv1", "conv2"],
                                                               modules_to_save=["fc"]))
    model = load_adapter(copy.deepcopy(base), a)
    before = {k: v.clone() for k, v in adapter_state_dict(model).items()}
    with pytest.raises(AdapterFileError, match=r"adapter.alpha is 2.0 there and 4.0 here.*recompile"):
        hotswap_adapter(model, other_scale)
    with pytest.raises(AdapterFileError, match="adapter.rank is 3 there and 2 here"):
        hotswap_adapter(model, other_rank)
    bad = {k: v.clone() for k, v in before.items()}
    bad["conv1.U"] = torch.zeros(8, 3)
    with pytest.raises(AdapterFileError, match=r"tensor 'conv1.U' has shape \[8, 3\]"):
        hotswap_adapter(model, bad)
    assert all(torch.equal(v, before[k]) for k, v in adapter_state_dict(model).items())
    assert [n for n, _ in adapter_layers(model)] == ["conv1", "conv2"]

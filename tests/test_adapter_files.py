"""save_adapter / load_adapter: round trip, and every refusal names its culprit and changes nothing."""
import json

import pytest
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from lava_vision.adapters import AdapterConfig, AdapterFileError, AdapterLayer, inject, load_adapter, save_adapter


class Net(nn.Module):
    def __init__(self, width=8):
        super().__init__()
        self.conv = nn.Conv2d(3, width, 3, padding=1)
        self.fc = nn.Linear(width, 4)

    def forward(self, x):
        return self.fc(self.conv(x).mean((2, 3)))


CFG = AdapterConfig(rank=2, targets=["conv"], modules_to_save=["fc"])


def trained(tmp_path):
    torch.manual_seed(0)
    m = Net()
    inject(m, CFG)
    for p in m.parameters():
        if p.requires_grad:
            p.data.normal_()
    save_adapter(m, tmp_path / "ad", metadata={"base": "toy"})
    return m


def test_round_trip_reproduces_outputs(tmp_path):
    m = trained(tmp_path)
    x = torch.randn(2, 3, 5, 5)
    torch.manual_seed(1)
    fresh = Net()
    fresh.conv.load_state_dict(m.conv.base_layer.state_dict())
    load_adapter(fresh, tmp_path / "ad")
    assert torch.allclose(fresh(x), m(x), atol=1e-6)
    doc = json.loads((tmp_path / "ad" / "adapter_config.json").read_text())
    assert doc["fingerprint"]["adapted"]["conv"]["shape"] == [8, 3, 3, 3]
    assert doc["metadata"] == {"base": "toy"}
    assert set(load_file(tmp_path / "ad" / "adapter.safetensors")) == {"conv.U", "conv.V", "conv.K1", "conv.K2",
                                                                       "fc.weight", "fc.bias"}


def unchanged(m):
    return not any(isinstance(x, AdapterLayer) for x in m.modules()) and not hasattr(m, "_lava_state")


def test_wrong_base_is_refused_naming_layer(tmp_path):
    trained(tmp_path)
    other = Net(width=6)
    with pytest.raises(AdapterFileError, match="'conv'.*\\[8, 3, 3, 3\\].*\\[6, 3, 3, 3\\]"):
        load_adapter(other, tmp_path / "ad")
    assert unchanged(other)


@pytest.mark.parametrize("edit,msg", [
    (lambda t: t.pop("conv.V"), "missing tensor 'conv.V'"),
    (lambda t: t.update(extra=torch.zeros(1)), "unexpected tensor 'extra'"),
    (lambda t: t.update({"conv.U": torch.zeros(8, 3)}), "'conv.U' has shape \\[8, 3\\]"),
    (lambda t: t["conv.K1"].fill_(float("nan")), "'conv.K1' has non-finite"),
])
def test_bad_tensors_refused(tmp_path, edit, msg):
    trained(tmp_path)
    path = tmp_path / "ad" / "adapter.safetensors"
    tensors = load_file(path)
    edit(tensors)
    save_file(tensors, path)
    m = Net()
    with pytest.raises(AdapterFileError, match=msg):
        load_adapter(m, tmp_path / "ad")
    assert unchanged(m) and all(p.requires_grad for p in m.parameters())


def test_truncated_and_missing_files(tmp_path):
    trained(tmp_path)
    path = tmp_path / "ad" / "adapter.safetensors"
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(AdapterFileError, match="truncated"):
        load_adapter(Net(), tmp_path / "ad")
    with pytest.raises(AdapterFileError, match="no adapter config"):
        load_adapter(Net(), tmp_path / "nowhere")


def test_pickle_file_is_never_unpickled(tmp_path):
    trained(tmp_path)
    path = tmp_path / "ad" / "adapter.safetensors"
    torch.save({"conv.U": torch.zeros(8, 2)}, path)  # a pickle under the safetensors name
    with pytest.raises(AdapterFileError, match="unreadable or truncated"):
        load_adapter(Net(), tmp_path / "ad")


def test_save_is_atomic_and_keeps_previous_on_failure(tmp_path, monkeypatch):
    m = trained(tmp_path)
    before = (tmp_path / "ad" / "adapter.safetensors").read_bytes()
    import lava_vision.adapters.io as io

    def boom(*a, **k):
        raise OSError("disk full")
    monkeypatch.setattr(io, "save", boom)
    with pytest.raises(OSError):
        save_adapter(m, tmp_path / "ad")
    assert (tmp_path / "ad" / "adapter.safetensors").read_bytes() == before
    assert sorted(p.name for p in (tmp_path / "ad").iterdir()) == ["adapter.safetensors", "adapter_config.json"]

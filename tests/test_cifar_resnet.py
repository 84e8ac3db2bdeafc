"""The CIFAR ResNets: architecture against a float64 forward written from He et al.'s description,
the published checkpoint format (DataParallel ``module.`` keys under ``state_dict``) loaded strictly,
and the shipped ResNet-20 weights."""
import hashlib

import pytest
import torch
import torch.nn.functional as F
from safetensors import safe_open

from lava_vision.tasks.classification.cifar_resnet import ASSETS, build_cifar_resnet, load_cifar_resnet
from lava_vision.tasks.classification.config import ClassificationModelConfig
from lava_vision.tasks.classification.models import build_classifier


def _reference_forward(state: dict, x: torch.Tensor, blocks: int) -> torch.Tensor:
    """conv-BN-ReLU, 3 stages of basic blocks (16/32/64 channels, stride 2 entering stages 2 and 3,
    option-A shortcut: x[:, :, ::2, ::2] zero-padded by planes/4 channels each side), pool, linear."""
    s = {k: v.double() for k, v in state.items()}

    def bn(name, h):
        mean, var = s[f"{name}.running_mean"][:, None, None], s[f"{name}.running_var"][:, None, None]
        weight, bias = s[f"{name}.weight"][:, None, None], s[f"{name}.bias"][:, None, None]
        return (h - mean) / torch.sqrt(var + 1e-5) * weight + bias

    h = torch.relu(bn("bn1", F.conv2d(x, s["conv1.weight"], padding=1)))
    for stage, planes in enumerate((16, 32, 64), start=1):
        for j in range(blocks):
            p = f"layer{stage}.{j}"
            stride = 2 if stage > 1 and j == 0 else 1
            out = torch.relu(bn(f"{p}.bn1", F.conv2d(h, s[f"{p}.conv1.weight"], stride=stride, padding=1)))
            out = bn(f"{p}.bn2", F.conv2d(out, s[f"{p}.conv2.weight"], padding=1))
            if stride == 2:
                short = torch.zeros(h.shape[0], planes, h.shape[2] // 2, h.shape[3] // 2, dtype=h.dtype)
                short[:, planes // 4: planes // 4 + h.shape[1]] = h[:, :, ::2, ::2]
            else:
                short = h
            h = torch.relu(out + short)
    return h.mean(dim=(2, 3)) @ s["linear.weight"].T + s["linear.bias"]


def _randomised(name: str) -> torch.nn.Module:
    torch.manual_seed(0)
    model = build_cifar_resnet(name)
    for m in model.modules():  # non-trivial BN statistics, so a wrong BN wiring shows
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    return model.eval()


@pytest.mark.parametrize("name,blocks", [("cifar_resnet20", 3), ("cifar_resnet32", 5)])
def test_architecture_matches_the_description(name, blocks):
    model = _randomised(name)
    x = torch.randn(2, 3, 32, 32, dtype=torch.float64)
    with torch.no_grad():
        got = model.double()(x)
    assert torch.allclose(got, _reference_forward(model.state_dict(), x, blocks), rtol=1e-9, atol=1e-9)
    n_params = sum(p.numel() for p in model.parameters())
    # by hand: stem conv + BN; per stage, 2n 3x3 convs (the first of stages 2, 3 from half the channels)
    # and 2n BNs (2 parameters per channel); the 64 -> 10 head. 269,722 and 464,154: "0.27 M", "0.46 M"
    convs = sum(9 * c * c * (2 * blocks) - (9 * c * c // 2 if c > 16 else 0) for c in (16, 32, 64))
    assert n_params == 3 * 16 * 9 + 2 * 16 + convs + sum(2 * c * 2 * blocks for c in (16, 32, 64)) + 650


def _published(model: torch.nn.Module, drop=(), extra=None) -> dict:
    """The akamaster file layout: DataParallel keys, no num_batches_tracked (pre-0.4.1 PyTorch)."""
    sd = {f"module.{k}": v.clone() for k, v in model.state_dict().items()
          if not k.endswith("num_batches_tracked") and k not in drop}
    sd.update(extra or {})
    return {"state_dict": sd, "best_prec1": 91.73}


def test_published_th_format_loads_strictly(tmp_path):
    model = _randomised("cifar_resnet20")
    path = tmp_path / "resnet20-test.th"
    torch.save(_published(model), path)
    loaded = load_cifar_resnet("cifar_resnet20", path)
    for k, v in model.state_dict().items():
        if not k.endswith("num_batches_tracked"):
            assert torch.equal(loaded.state_dict()[k], v), k
    torch.save(_published(model, drop=("layer2.1.bn2.running_var",)), path)
    with pytest.raises(ValueError, match=r"missing keys \['layer2.1.bn2.running_var'\]"):
        load_cifar_resnet("cifar_resnet20", path)
    torch.save(_published(model, extra={"module.fc.weight": torch.zeros(10, 64)}), path)
    with pytest.raises(ValueError, match=r"unexpected keys \['fc.weight'\]"):
        load_cifar_resnet("cifar_resnet20", path)
    with pytest.raises(ValueError, match=r"missing keys \['layer1.3.conv1.weight'"):  # a ResNet-20 file as 32
        torch.save(_published(model), path)
        load_cifar_resnet("cifar_resnet32", path)
    bad = _published(model)
    bad["state_dict"]["module.layer3.0.conv1.weight"] = torch.zeros(64, 16, 3, 3)
    torch.save(bad, path)
    with pytest.raises(ValueError, match=r"'layer3.0.conv1.weight' has shape \(64, 16, 3, 3\)"):
        load_cifar_resnet("cifar_resnet20", path)


def test_pickled_code_is_refused(tmp_path):
    path = tmp_path / "evil.th"
    torch.save({"state_dict": {"module.conv1.weight": torch.zeros(1)}, "hook": print}, path)
    with pytest.raises(ValueError, match="weights_only"):
        load_cifar_resnet("cifar_resnet20", path)


def test_shipped_resnet20_weights():
    path = ASSETS["cifar_resnet20"]
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
    # converted from the published file whose name carries the first 8 hex digits of its SHA-256
    assert meta["source"] == "resnet20-12fca82f.th" and meta["source_sha256"].startswith("12fca82f")
    assert (path.parent / "cifar_resnet20.LICENSE").read_text().startswith("Copyright (c) 2018, Yerlan Idelbayev")
    model = build_classifier(ClassificationModelConfig(name="cifar_resnet20", library="lava_vision", pretrained="hub",
                                                       num_classes=10, input_size=32))
    assert hashlib.sha256(model.conv1.weight.detach().numpy().tobytes()).hexdigest() != \
        hashlib.sha256(build_cifar_resnet("cifar_resnet20").conv1.weight.detach().numpy().tobytes()).hexdigest()
    three = build_classifier(ClassificationModelConfig(name="cifar_resnet20", library="lava_vision", num_classes=3,
                                                       input_size=32))
    assert three.linear.out_features == 3 and torch.equal(three.conv1.weight, model.conv1.weight)
    with pytest.raises(FileNotFoundError, match="ships weights only for"):
        build_classifier(ClassificationModelConfig(name="cifar_resnet32", library="lava_vision", input_size=32))
    with pytest.raises(ValueError, match="cifar_resnet56"):
        build_classifier(ClassificationModelConfig(name="cifar_resnet99", library="lava_vision", input_size=32))

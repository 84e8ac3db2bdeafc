"""The CIFAR ResNets of He et al. (2016, section 4.2): ResNet-20/32/44/56, and a strict loader for
the published checkpoints (akamaster/pytorch_resnet_cifar10: ``torch.save({"state_dict":
{"module.conv1.weight": ...}, "best_prec1": ...})``).

``conv1`` 3x3 (3 -> 16), BN, ReLU; three stages of n basic blocks (16, 32, 64 channels; the first
block of stages 2 and 3 strides by 2); global average pooling; ``linear`` 64 -> classes. Depth =
6n + 2. Where a block changes shape its shortcut has no parameters ("option A": every second
pixel, channels zero-padded by planes/4 on each side), so the checkpoints hold no shortcut keys.

The package ships ResNet-20's CIFAR-10 weights as ``lava_vision/assets/cifar_resnet20.safetensors``
(converted from ``resnet20-12fca82f.th`` by ``tools/convert_cifar_resnet.py``; BSD-2-Clause
notice in ``lava_vision/assets/cifar_resnet20.LICENSE``).
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .weights import read_state_dict

DEPTHS = {"cifar_resnet20": 3, "cifar_resnet32": 5, "cifar_resnet44": 7, "cifar_resnet56": 9}
# CIFAR-10's classes in label order (= the sorted class-folder names), what the published heads predict
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
ASSETS = {"cifar_resnet20": Path(__file__).resolve().parents[2] / "assets" / "cifar_resnet20.safetensors"}


class BasicBlock(nn.Module):
    """conv3x3 -> BN -> ReLU -> conv3x3 -> BN, plus the (option A) shortcut, then ReLU."""

    def __init__(self, c_in: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.pad = planes // 4 if (stride != 1 or c_in != planes) else 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        shortcut = F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad, self.pad)) if self.pad else x
        return F.relu(out + shortcut)


class CifarResNet(nn.Module):
    """``B x 3 x 32 x 32`` (normalised) -> logits ``B x num_classes``; ``blocks`` = n per stage."""

    def __init__(self, blocks: int = 3, num_classes: int = 10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        c = 16
        for i, planes in enumerate((16, 32, 64)):
            stage = []
            for j in range(blocks):
                stage.append(BasicBlock(c, planes, 2 if (i > 0 and j == 0) else 1))
                c = planes
            setattr(self, f"layer{i + 1}", nn.Sequential(*stage))
        self.linear = nn.Linear(64, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.linear(F.adaptive_avg_pool2d(x, 1).flatten(1))


def build_cifar_resnet(name: str, num_classes: int = 10) -> CifarResNet:
    """An untrained ``cifar_resnet20`` / ``32`` / ``44`` / ``56``."""
    if name not in DEPTHS:
        raise ValueError(f"model.name={name!r}: expected one of {sorted(DEPTHS)}")
    return CifarResNet(DEPTHS[name], num_classes)


def read_published_state(path: str | Path) -> dict[str, torch.Tensor]:
    """The state dict of ``path``: safetensors, or a ``torch.save`` file read with
    ``weights_only=True`` whose tensors may sit under ``"state_dict"`` and carry DataParallel's
    ``module.`` prefix (both removed)."""
    state = read_state_dict(Path(path))
    return {k.removeprefix("module."): v for k, v in state.items()}


def load_cifar_resnet(name: str, path: str | Path) -> CifarResNet:
    """``name`` with the weights of ``path``, strictly: every key of the network must be in the file
    (BatchNorm's ``num_batches_tracked`` counters excepted: the published files predate them) and
    every key of the file in the network, shapes equal; otherwise a ValueError names the key."""
    state = read_published_state(path)
    head = state.get("linear.weight")
    model = build_cifar_resnet(name, head.shape[0] if isinstance(head, torch.Tensor) and head.ndim == 2 else 10)
    expected = model.state_dict()
    # files saved before PyTorch 0.4.1 have no BatchNorm step counter (unused: momentum is set)
    missing = [k for k in expected if k not in state and not k.endswith(".num_batches_tracked")]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        raise ValueError(f"{path}: does not fit {name}: missing keys {missing[:5]}"
                         f"{' ...' if len(missing) > 5 else ''}, unexpected keys {unexpected[:5]}"
                         f"{' ...' if len(unexpected) > 5 else ''}")
    for k, v in expected.items():
        if k in state and state[k].shape != v.shape:
            raise ValueError(f"{path}: key {k!r} has shape {tuple(state[k].shape)}, {name} expects {tuple(v.shape)}")
    model.load_state_dict({**expected, **state}, strict=True)
    return model

"""QuickNet: the small CNN of the offline quickstart, and its bundled pretrained weights.

The weights in ``lava_vision/assets/quicknet_shapes.safetensors`` were trained by
``tools/pretrain_quickstart_base.py`` on the ``source`` domain of
``lava_vision.data.procedural`` (the command is in that script's docstring and in the file's
metadata). The file's metadata holds the architecture, so the loader rebuilds exactly the
network the weights belong to.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file
from torch import nn

from ...json_types import parse_json

ASSET = Path(__file__).resolve().parents[2] / "assets" / "quicknet_shapes.safetensors"


def _block(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out),
                         nn.ReLU(inplace=True))


class QuickNet(nn.Module):
    """Five 3x3 conv-BN-ReLU blocks (two with stride 2), global average pooling, linear head.

    Input ``B x 3 x H x W`` (H = W = 32 in the quickstart) -> logits ``B x num_classes``.
    """

    def __init__(self, num_classes: int = 10, width: int = 16):
        super().__init__()
        c = width
        self.features = nn.Sequential(_block(3, c), _block(c, 2 * c, 2), _block(2 * c, 2 * c),
                                      _block(2 * c, 4 * c, 2), _block(4 * c, 4 * c))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(4 * c, num_classes)
        self.config = {"num_classes": num_classes, "width": width}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(self.features(x)).flatten(1))


def save_quicknet(model: QuickNet, path: str | Path, metadata: dict[str, str] | None = None) -> None:
    """Write the weights and the architecture (``config`` metadata) as safetensors."""
    from safetensors.torch import save_file

    meta = {"arch": "quicknet", "config": json.dumps(model.config), **(metadata or {})}
    save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, str(path),
              metadata=meta)


def load_quicknet(path: str | Path) -> QuickNet:
    """The QuickNet stored in ``path`` (a file written by ``save_quicknet``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model.pretrained: QuickNet weights file {path} does not exist")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        state = load_file(str(path))
    except (SafetensorError, OSError) as e:
        raise ValueError(f"{path}: unreadable safetensors file ({e})") from e
    if meta.get("arch") != "quicknet" or "config" not in meta:
        raise ValueError(f"{path}: not a QuickNet file (metadata 'arch'={meta.get('arch')!r})")
    config = parse_json(meta["config"], f"{path}: metadata 'config'")
    try:
        model = QuickNet(**config) if isinstance(config, dict) else None
    except (TypeError, ValueError) as e:
        raise ValueError(f"{path}: metadata 'config' does not build a QuickNet ({e})") from e
    if model is None:
        raise ValueError(f"{path}: metadata 'config': expected a JSON object of QuickNet arguments")
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(f"{path}: weights do not fit QuickNet{model.config}: missing {missing[:3]}, "
                         f"unexpected {unexpected[:3]}")
    return model

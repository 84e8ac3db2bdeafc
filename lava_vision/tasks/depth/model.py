"""Depth-Anything (transformers) with a metric head: where it comes from and how it is loaded.

The model the trainer sees is ``DepthAnythingForDepthEstimation`` itself (its ``forward`` takes
``pixel_values`` ``B x 3 x H x W`` with H, W multiples of 14 and returns ``predicted_depth``
``B x H x W`` in metres), so the ``depth_anything`` adapter preset's names apply unchanged.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from torch import nn

SIZES = ("small", "base", "large")
SCENES = ("indoor", "outdoor")
# DINOv2 backbone and DPT sizes of the released Depth-Anything V2 checkpoints.
ARCH = {
    "small": dict(hidden_size=384, num_hidden_layers=12, num_attention_heads=6, out_indices=[3, 6, 9, 12],
                  neck_hidden_sizes=[48, 96, 192, 384], fusion_hidden_size=64),
    "base": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, out_indices=[3, 6, 9, 12],
                 neck_hidden_sizes=[96, 192, 384, 768], fusion_hidden_size=128),
    "large": dict(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, out_indices=[5, 12, 18, 24],
                  neck_hidden_sizes=[256, 512, 1024, 1024], fusion_hidden_size=256),
}
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                "pytorch_model.bin.index.json")


@dataclass
class DepthModelConfig:
    """Which Depth-Anything to fine-tune.

    checkpoint: a hub id or a local ``save_pretrained`` directory; empty = the official
        Depth-Anything V2 metric checkpoint for ``size`` / ``scene``.
    size: small | base | large (used when ``checkpoint`` is empty).
    scene: indoor (Hypersim-trained, max depth 20 m) | outdoor (Virtual KITTI, 80 m).
    max_depth: metres at the sigmoid head's top; 0 keeps the checkpoint's value.
    """

    checkpoint: str = ""
    size: str = "large"
    scene: str = "indoor"
    max_depth: float = 0.0


def hub_id(size: str, scene: str = "indoor") -> str:
    """The official Depth-Anything V2 metric checkpoint, e.g. ``hub_id("large")``."""
    if size not in SIZES:
        raise ValueError(f"model.size={size!r}: expected one of {SIZES}")
    if scene not in SCENES:
        raise ValueError(f"model.scene={scene!r}: expected one of {SCENES}")
    return f"depth-anything/Depth-Anything-V2-Metric-{scene.capitalize()}-{size.capitalize()}-hf"


def architecture_config(size: str, max_depth: int = 20):
    """A ``DepthAnythingConfig`` with the released architecture of ``size`` (no weights), for
    counting parameters or building on the meta device."""
    from transformers import DepthAnythingConfig, Dinov2Config

    if size not in SIZES:
        raise ValueError(f"size={size!r}: expected one of {SIZES}")
    a = ARCH[size]
    backbone = Dinov2Config(hidden_size=a["hidden_size"], num_hidden_layers=a["num_hidden_layers"],
                            num_attention_heads=a["num_attention_heads"], out_indices=a["out_indices"],
                            patch_size=14, image_size=518, layerscale_value=1.0, reshape_hidden_states=False)
    return DepthAnythingConfig(backbone_config=backbone, reassemble_hidden_size=a["hidden_size"],
                               neck_hidden_sizes=a["neck_hidden_sizes"],
                               fusion_hidden_size=a["fusion_hidden_size"], depth_estimation_type="metric",
                               max_depth=max_depth)


def _looks_like_path(s: str) -> bool:
    return s.startswith(("/", ".", "~")) or s.count("/") != 1 or Path(s).expanduser().exists()


def set_max_depth(model: nn.Module, max_depth: float) -> None:
    """Set the metric head's scale. transformers 5.x types ``config.max_depth`` as int, so the
    config keeps the value only when it is integral; the head always gets the exact float."""
    if not max_depth > 0:
        raise ValueError(f"model.max_depth={max_depth}: must be > 0")
    model.head.max_depth = float(max_depth)
    model.config.max_depth = int(max_depth) if float(max_depth).is_integer() else float(max_depth)


def load_depth_anything(cfg: DepthModelConfig) -> nn.Module:
    """``DepthAnythingForDepthEstimation`` with every weight from ``cfg.checkpoint`` (or the
    official hub id), metric head. A missing directory, missing weights, a non-Depth-Anything
    checkpoint, weights absent from the file, or no network and no cache: a clear error."""
    from transformers import DepthAnythingForDepthEstimation

    source = cfg.checkpoint or hub_id(cfg.size, cfg.scene)
    if _looks_like_path(source):
        path = Path(source).expanduser()
        if not path.is_dir():
            raise FileNotFoundError(f"model.checkpoint: local directory {str(path)!r} does not exist")
        if not (path / "config.json").is_file():
            raise FileNotFoundError(f"model.checkpoint: {str(path)!r} has no config.json "
                                    "(expected a save_pretrained directory)")
        if not any((path / f).is_file() for f in WEIGHT_FILES):
            raise FileNotFoundError(f"model.checkpoint: {str(path)!r} holds no weights (none of {WEIGHT_FILES})")
        source = str(path)
    try:
        model, info = DepthAnythingForDepthEstimation.from_pretrained(source, output_loading_info=True)
    except OSError as e:
        raise FileNotFoundError(
            f"model.checkpoint: could not load {source!r} from the Hugging Face hub or its local cache "
            f"({type(e).__name__}: {' '.join(str(e).split())}). Download it while online "
            f"(`hf download {source}`) or set model.checkpoint to a local save_pretrained directory.") from e
    if model.config.model_type != "depth_anything":
        raise ValueError(f"model.checkpoint {source!r} is a {model.config.model_type!r} model, not depth_anything")
    if info.get("missing_keys"):
        raise RuntimeError(f"model.checkpoint {source!r} lacks weights for {sorted(info['missing_keys'])[:8]} "
                           "(they would be randomly initialised)")
    if model.config.depth_estimation_type != "metric":
        raise ValueError(f"model.checkpoint {source!r} has a {model.config.depth_estimation_type!r} head; "
                         "fine-tuning here needs a metric checkpoint (depth_estimation_type='metric')")
    if cfg.max_depth:
        set_max_depth(model, cfg.max_depth)
    return model

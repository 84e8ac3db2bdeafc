"""Config sections of the segmentation task (data only: they round-trip through JSON)."""
from __future__ import annotations

from dataclasses import dataclass, field

from ...train.validate import check_image_side


@dataclass
class SamArchConfig:
    """Sizes of a SAM built from segment-anything's classes when ``model.arch == "custom"``
    (defaults: vit_b). The official vit_b/l/h sizes come from ``sam_model_registry`` instead."""

    image_size: int = 1024
    patch_size: int = 16
    embed_dim: int = 768
    depth: int = 12
    num_heads: int = 12
    global_attn_indexes: tuple[int, ...] = (2, 5, 8, 11)
    window_size: int = 14
    prompt_dim: int = 256  # encoder out_chans = prompt / decoder width
    decoder_depth: int = 2
    decoder_mlp_dim: int = 2048
    decoder_heads: int = 8
    iou_head_hidden_dim: int = 256
    mask_in_chans: int = 16


# The ~90k-parameter offline stand-in for sam_vit_b (64 px input, 32x32 logits; tiny.py writes it)
TINY = SamArchConfig(image_size=64, patch_size=8, embed_dim=32, depth=2, num_heads=2, global_attn_indexes=(1,),
                     window_size=4, prompt_dim=32, decoder_depth=2, decoder_mlp_dim=64, decoder_heads=2,
                     iou_head_hidden_dim=32, mask_in_chans=16)


@dataclass
class SamModelConfig:
    """arch: ``vit_b`` | ``vit_l`` | ``vit_h`` (official, 1024 px) or ``custom`` (sizes in ``custom``).
    checkpoint: path to a SAM state dict in the official format (``sam_vit_b_01ec64.pth`` ...);
    required: there is no random-weight fallback."""

    arch: str = "vit_b"
    checkpoint: str = ""
    custom: SamArchConfig = field(default_factory=SamArchConfig)


@dataclass
class SegDataConfig:
    """root: dataset folder. splits: split name -> a folder under ``root`` holding ``images/`` and
    ``masks/`` (matched by file stem) or a ``.csv`` file with ``image,label`` columns of paths
    relative to the CSV's folder. Without a ``val`` entry (the dataset has no official validation
    split), "val" is a seeded ``val_fraction`` of the train list (``val_seed``, fixed) and "train"
    the rest; a ``val`` entry equal to the ``test`` entry is refused. Images and masks are resized
    to ``image_size`` (square); masks are binarised at ``> mask_threshold`` of 255 (128, as
    PySODMetrics; a {0, 1} mask file is read as binary). ``eval_resolution``: ``native`` (default)
    scores every prediction at its ground truth's own size (probabilities upsampled bilinearly, as
    the SOD / COD / polyp literature reports); ``model`` scores at ``image_size`` squares (faster,
    not comparable to published numbers; named so in the evaluation's output). ``hflip`` /
    ``vflip`` are training-time flip probabilities. ``synthetic`` > 0 generates that many
    synthetic images per split into ``root`` first (shapes on textured backgrounds; for offline
    runs). ``wfm_beta2`` is the weighted F-measure's beta^2 the dataset's papers report."""

    root: str = ""
    splits: dict[str, str] = field(default_factory=lambda: {"train": "train", "val": "val", "test": "test"})
    image_size: int = 1024
    mask_threshold: int = 128
    val_fraction: float = 0.1
    val_seed: int = 0
    eval_resolution: str = "native"
    hflip: float = 0.5
    vflip: float = 0.0
    synthetic: int = 0
    wfm_beta2: float = 1.0

    def validate(self) -> None:
        """Image sides in range (``train.validate.check_config`` calls it)."""
        check_image_side("data.image_size", self.image_size)


@dataclass
class SegLossConfig:
    """name: ``structure`` (weighted BCE + weighted IoU; polyp, skin, COD, leaf) or ``balanced_bce``
    (shadows). ``kernel`` / ``boundary_weight``: the structure loss's 31 and 5."""

    name: str = "structure"
    kernel: int = 31
    boundary_weight: float = 5.0

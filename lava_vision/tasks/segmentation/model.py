"""Prompt-free SAM: build a segment-anything model, load an official-format checkpoint safely,
and wrap encoder -> no-prompt decoder in one ``forward`` (so DDP hooks see every call).

SAM's own ``Sam.forward`` and ``SamPredictor`` run under ``torch.no_grad``; training therefore
calls ``image_encoder``, ``prompt_encoder`` and ``mask_decoder`` directly. The wrapper keeps
SAM's attribute names (``image_encoder.``, ``prompt_encoder.``, ``mask_decoder.``), so the
``sam`` adapter preset and official state-dict keys apply to it unchanged.
"""
from __future__ import annotations

from functools import partial
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .config import TINY, SamArchConfig, SamModelConfig

OFFICIAL = {"vit_b": "sam_vit_b_01ec64.pth", "vit_l": "sam_vit_l_0b3195.pth", "vit_h": "sam_vit_h_4b8939.pth"}
DOWNLOAD = "https://dl.fbaipublicfiles.com/segment_anything/"


class PromptFreeSam(nn.Module):
    """SAM with the prompt encoder's no-prompt embeddings for every image and one mask token.

    forward: images ``B x 3 x H x W`` RGB in [0, 1] -> mask logits ``B x 1 x H x W``. Images are
    scaled to 0-255 and normalised with SAM's pixel mean/std, resized to the encoder's input size
    when they differ, and the low-resolution logits (``img_size / 4``) are upsampled bilinearly
    to ``H x W``.
    """

    def __init__(self, sam: nn.Module) -> None:
        super().__init__()
        self.image_encoder = sam.image_encoder
        self.prompt_encoder = sam.prompt_encoder
        self.mask_decoder = sam.mask_decoder
        self.register_buffer("pixel_mean", sam.pixel_mean.detach().clone().view(1, 3, 1, 1), persistent=False)
        self.register_buffer("pixel_std", sam.pixel_std.detach().clone().view(1, 3, 1, 1), persistent=False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"PromptFreeSam expects B x 3 x H x W images, got {tuple(images.shape)}")
        h, w = images.shape[-2:]
        x = (images * 255 - self.pixel_mean) / self.pixel_std
        size = self.image_encoder.img_size
        if (h, w) != (size, size):
            x = F.interpolate(x, (size, size), mode="bilinear", align_corners=False)
        embeddings = self.image_encoder(x)
        # batch-1 prompt embeddings broadcast over the B images inside the decoder
        sparse, dense = self.prompt_encoder(points=None, boxes=None, masks=None)
        low_res, _ = self.mask_decoder(image_embeddings=embeddings, image_pe=self.prompt_encoder.get_dense_pe(),
                                       sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense,
                                       multimask_output=False)
        return F.interpolate(low_res, (h, w), mode="bilinear", align_corners=False)


def build_sam(arch: str, custom: SamArchConfig | None = None) -> nn.Module:
    """A randomly initialised ``segment_anything.modeling.Sam`` of the named architecture."""
    from segment_anything import sam_model_registry
    from segment_anything.modeling import ImageEncoderViT, MaskDecoder, PromptEncoder, Sam, TwoWayTransformer

    if arch in OFFICIAL:
        return sam_model_registry[arch](checkpoint=None)  # never checkpoint=: it unpickles
    if arch != "custom":
        raise ValueError(f"model.arch={arch!r}: expected one of {sorted(OFFICIAL)} or 'custom'")
    c = custom or SamArchConfig()
    if c.image_size % c.patch_size:
        raise ValueError(f"model.custom: image_size {c.image_size} is not a multiple of patch_size {c.patch_size}")
    grid = c.image_size // c.patch_size
    return Sam(
        image_encoder=ImageEncoderViT(
            img_size=c.image_size, patch_size=c.patch_size, embed_dim=c.embed_dim, depth=c.depth,
            num_heads=c.num_heads, mlp_ratio=4, norm_layer=partial(nn.LayerNorm, eps=1e-6), qkv_bias=True,
            use_rel_pos=True, global_attn_indexes=tuple(c.global_attn_indexes), window_size=c.window_size,
            out_chans=c.prompt_dim),
        prompt_encoder=PromptEncoder(embed_dim=c.prompt_dim, image_embedding_size=(grid, grid),
                                     input_image_size=(c.image_size, c.image_size), mask_in_chans=c.mask_in_chans),
        mask_decoder=MaskDecoder(
            num_multimask_outputs=3,
            transformer=TwoWayTransformer(depth=c.decoder_depth, embedding_dim=c.prompt_dim,
                                          mlp_dim=c.decoder_mlp_dim, num_heads=c.decoder_heads),
            transformer_dim=c.prompt_dim, iou_head_depth=3, iou_head_hidden_dim=c.iou_head_hidden_dim),
        pixel_mean=[123.675, 116.28, 103.53], pixel_std=[58.395, 57.12, 57.375])


def load_sam_checkpoint(sam: nn.Module, path: str | Path) -> None:
    """Load an official-format SAM state dict (flat ``image_encoder.* / prompt_encoder.* /
    mask_decoder.*`` tensors) with ``torch.load(weights_only=True)``, strictly."""
    path = Path(path)
    if not str(path) or not path.is_file():
        hint = ", ".join(f"{a}: {DOWNLOAD}{f}" for a, f in OFFICIAL.items())
        raise FileNotFoundError(f"SAM checkpoint not found: {str(path)!r} "
                                f"(set model.checkpoint; official files: {hint})")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise ValueError(f"{path}: not a readable SAM state dict ({type(err).__name__}: {err})") from err
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path}: expected a flat state dict of tensors (the official SAM format)")
    own = sam.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        raise ValueError(f"{path} does not match this SAM architecture: {len(missing)} missing keys "
                         f"{missing[:5]}, {len(unexpected)} unexpected keys {unexpected[:5]} (check model.arch)")
    wrong = [f"{k}: file {tuple(v.shape)} vs model {tuple(own[k].shape)}" for k, v in state.items()
             if v.shape != own[k].shape]
    if wrong:
        raise ValueError(f"{path} has {len(wrong)} tensors of the wrong shape for model.arch, e.g. {wrong[:3]}")
    sam.load_state_dict(state, strict=True)


def build_prompt_free_sam(cfg: SamModelConfig) -> PromptFreeSam:
    """The configured SAM with its checkpoint loaded, wrapped for prompt-free training."""
    sam = build_sam(cfg.arch, cfg.custom)
    if not cfg.checkpoint or not Path(cfg.checkpoint).is_file():
        raise FileNotFoundError(f"model.checkpoint={cfg.checkpoint!r}: SAM checkpoint not found; "
                                + missing_checkpoint_hint(cfg))
    load_sam_checkpoint(sam, cfg.checkpoint)
    return PromptFreeSam(sam).eval()


def missing_checkpoint_hint(cfg: SamModelConfig) -> str:
    """How to get the checkpoint ``cfg`` needs: the official file's URL, or the command that writes
    the tiny offline model."""
    if cfg.arch in OFFICIAL:
        return f"download the official {cfg.arch} file {DOWNLOAD}{OFFICIAL[cfg.arch]} and set model.checkpoint to it"
    if cfg.custom == TINY:
        target = cfg.checkpoint or "runs/tiny_sam.pth"
        return (f"this is the tiny offline SAM: create it with `python -m lava_vision.tasks.segmentation.tiny "
                f"{target}`" + ("" if cfg.checkpoint else f" and set model.checkpoint={target}"))
    return "model.arch='custom' needs a checkpoint of that architecture (model.custom) trained by you"

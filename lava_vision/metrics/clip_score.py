"""CLIP score (Hessel et al. 2021): 100 * max(cos(image embedding, text embedding), 0), averaged.

Written on transformers' ``CLIPModel`` because torchmetrics 1.9.0's ``CLIPScore`` breaks with
transformers >= 5. The metric key names the CLIP network: scores from different CLIPs differ.
"""
from __future__ import annotations

import re
from pathlib import Path

import torch
from torch import nn
from torchmetrics import Metric


def network_slug(name: str) -> str:
    """A short key-safe name of a model folder or hub id: ``openai/clip-vit-large-patch14`` ->
    ``clip-vit-large-patch14``."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", Path(str(name).rstrip("/")).name) or "model"


def load_clip(name_or_path: str) -> tuple[nn.Module, object]:
    """(CLIPModel in eval mode, CLIPProcessor) from a local folder or hub id; clear error if absent."""
    from transformers import CLIPModel, CLIPProcessor

    if (name_or_path.startswith((".", "/", "~")) or Path(name_or_path).exists()) and \
            not (Path(name_or_path).expanduser() / "config.json").is_file():
        raise FileNotFoundError(f"CLIP model {name_or_path!r}: no config.json there (expected a transformers "
                                "CLIPModel folder with its processor files)")
    try:
        model = CLIPModel.from_pretrained(name_or_path).eval().requires_grad_(False)
        processor = CLIPProcessor.from_pretrained(name_or_path)
    except OSError as e:
        raise FileNotFoundError(f"cannot load CLIP model {name_or_path!r}: {e}") from e
    return model, processor


def clip_pixel_values(processor, images: torch.Tensor) -> torch.Tensor:
    """``B x 3 x H x W`` floats in [0, 1] -> the CLIP-normalised, resized ``B x 3 x S x S`` input."""
    proc = processor.image_processor if hasattr(processor, "image_processor") else processor
    out = proc(images=list(images.float().cpu()), return_tensors="pt", do_rescale=False)
    return out["pixel_values"].to(images.device)


class CLIPScore(Metric):
    """Mean of 100 * max(cos, 0) over (image, prompt) pairs; ``key`` is ``clip_score_<network>``."""

    higher_is_better = True
    full_state_update = False

    def __init__(self, clip_model: str, **kwargs):
        super().__init__(**kwargs)
        self.model, self.processor = load_clip(clip_model)
        self.key = f"clip_score_{network_slug(clip_model)}"
        self.add_state("score_sum", torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", torch.zeros((), dtype=torch.long), dist_reduce_fx="sum")

    def scores(self, images: torch.Tensor, prompts: list[str]) -> torch.Tensor:
        """Per-pair scores, ``B``: images ``B x 3 x H x W`` in [0, 1], one prompt each."""
        if len(prompts) != images.shape[0]:
            raise ValueError(f"CLIPScore: {images.shape[0]} images but {len(prompts)} prompts")
        tok = self.processor.tokenizer(list(prompts), padding=True, truncation=True, return_tensors="pt")
        dev = next(self.model.parameters()).device
        with torch.no_grad():
            out = self.model(input_ids=tok["input_ids"].to(dev), attention_mask=tok["attention_mask"].to(dev),
                             pixel_values=clip_pixel_values(self.processor, images).to(dev))
        img = out.image_embeds.double()
        txt = out.text_embeds.double()
        cos = (img * txt).sum(-1) / (img.norm(dim=-1) * txt.norm(dim=-1))
        return 100.0 * cos.clamp_min(0)

    def update(self, images: torch.Tensor, prompts: list[str]) -> None:
        s = self.scores(images, prompts)
        self.score_sum += s.sum().to(self.score_sum.device)
        self.count += s.numel()

    def compute(self) -> torch.Tensor:
        if self.count == 0:
            raise RuntimeError("CLIPScore: no samples")
        return (self.score_sum / self.count).float()

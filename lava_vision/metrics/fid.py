"""Fréchet distance between feature distributions of real and generated images (Heusel et al. 2017),
on torchmetrics' ``FrechetInceptionDistance``, with the feature network named in the metric key:

* ``fid_inception2048``: the standard FID, InceptionV3 pool3 features of torch-fidelity's
  ``weights-inception-2015-12-05-6726825d.pth`` (give its local path to stay offline);
* ``fid_clip_<network>``: projected image embeddings of a local CLIP model (FID_CLIP, Kynkäänniemi
  et al. 2023), when the Inception weights are unavailable.

Numbers from different networks are not comparable; neither is a FID over a few dozen images to one
over 50k (it is strongly biased upward at small sample sizes).
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from torchmetrics.image.fid import FrechetInceptionDistance

from .clip_score import clip_pixel_values, load_clip, network_slug

FIDELITY_WEIGHTS = "weights-inception-2015-12-05-6726825d.pth"


class CLIPImageFeatures(nn.Module):
    """``B x 3 x H x W`` images in [0, 1] -> ``B x P`` CLIP image embeddings (before normalisation)."""

    def __init__(self, clip_model: str):
        super().__init__()
        self.model, self.processor = load_clip(clip_model)
        self.num_features = int(self.model.config.projection_dim)

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        dev = next(self.model.parameters()).device
        pooled = self.model.vision_model(pixel_values=clip_pixel_values(self.processor, images).to(dev)).pooler_output
        return self.model.visual_projection(pooled)


def build_fid(features: str, inception_weights: str = "", clip_model: str = "") -> tuple[str, FrechetInceptionDistance]:
    """(metric key, metric). ``update(images, real=...)`` takes ``B x 3 x H x W`` floats in [0, 1].

    features: ``inception`` (needs torch-fidelity; ``inception_weights`` = local weights file, or
    empty to let torch-fidelity download it) or ``clip`` (needs ``clip_model``)."""
    if features == "inception":
        if inception_weights and not Path(inception_weights).is_file():
            raise FileNotFoundError(f"metrics.inception_weights={inception_weights!r}: file not found "
                                    f"(torch-fidelity's {FIDELITY_WEIGHTS})")
        try:
            metric = FrechetInceptionDistance(feature=2048, normalize=True,
                                              feature_extractor_weights_path=inception_weights or None)
        except ModuleNotFoundError as e:
            raise ModuleNotFoundError("fid_features='inception' needs torch-fidelity (pip install torch-fidelity); "
                                      "or set metrics.fid_features='clip' with a local CLIP model") from e
        return "fid_inception2048", metric
    if features == "clip":
        if not clip_model:
            raise ValueError("metrics.fid_features='clip' needs metrics.clip_model (a CLIPModel folder or hub id)")
        return (f"fid_clip_{network_slug(clip_model)}",
                FrechetInceptionDistance(feature=CLIPImageFeatures(clip_model), normalize=True))
    raise ValueError(f"metrics.fid_features={features!r}: expected inception, clip or none")

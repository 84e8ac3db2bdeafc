"""The text2image Task: SDXL fine-tuning on captioned images, validated by rendering prompts x seeds
(adapted and, side by side, base model with the same seeds) and scoring FID and CLIP score."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset, default_collate

from ...adapters import disable_adapters
from ...data.captions import CaptionedImages, PromptSeeds, read_captions
from ...train.config import RunConfig
from .components import load_components, load_tokenizers
from .config import T2IDataConfig, T2ILossConfig, T2IModelConfig
from .training_module import SDXLDiffusion
from .visualize import save_panel


class TextToImageTask:
    name = "text2image"
    model_config_cls = T2IModelConfig
    data_config_cls = T2IDataConfig
    loss_config_cls = T2ILossConfig

    def __init__(self, cfg: RunConfig) -> None:
        self.cfg = cfg
        self.model_cfg: T2IModelConfig = cfg.model
        self.data_cfg: T2IDataConfig = cfg.data
        self.loss_cfg: T2ILossConfig = cfg.loss or T2ILossConfig()
        d = self.data_cfg
        if d.cache_latents and not d.center_crop:
            raise ValueError("data.cache_latents=True needs data.center_crop=True (random crops never repeat)")
        if d.resolution % 8:
            raise ValueError(f"data.resolution={d.resolution}: must be a multiple of 8 (VAE and UNet downsampling)")
        if not d.val_seeds:
            raise ValueError("data.val_seeds is empty: give at least one seed")
        if self.model_cfg.metrics.fid_features not in ("inception", "clip", "none"):
            raise ValueError(f"model.metrics.fid_features={self.model_cfg.metrics.fid_features!r}: "
                             "expected inception, clip or none")

    # -- model ---------------------------------------------------------------------------------
    def build_model(self) -> SDXLDiffusion:
        parts = load_components(self.model_cfg)
        return SDXLDiffusion(parts, self.loss_cfg, vae_in_fp32=not self.model_cfg.vae,
                             cache_latents=self.data_cfg.cache_latents)

    def enable_gradient_checkpointing(self, model: SDXLDiffusion) -> None:
        model.unet.enable_gradient_checkpointing()
        if self.model_cfg.train_text_encoders:
            model.text_encoder.gradient_checkpointing_enable()
            model.text_encoder_2.gradient_checkpointing_enable()

    # -- data ----------------------------------------------------------------------------------
    def build_dataset(self, split: str) -> Dataset:
        d = self.data_cfg
        if split == "train":
            if not d.root:
                raise ValueError("data.root is empty: set the training image folder")
            pairs = read_captions(d.root, d.caption_key, d.instance_prompt)
            return CaptionedImages(pairs, d.resolution, list(load_tokenizers(self.model_cfg)), d.center_crop,
                                   d.random_flip)
        if split not in ("val", "test"):
            raise ValueError(f"unknown split {split!r}: expected train, val or test")
        if d.val_prompts:
            return PromptSeeds([(None, p) for p in d.val_prompts], list(d.val_seeds), d.resolution)
        root = d.val_root or d.root
        return PromptSeeds(read_captions(root, d.caption_key, d.instance_prompt), list(d.val_seeds), d.resolution)

    def collate(self, samples: list[dict]) -> dict:
        """Tensors stacked; strings (captions, prompts, ids, cache keys) kept as lists."""
        return default_collate(samples)

    # -- steps ---------------------------------------------------------------------------------
    def training_step(self, model: nn.Module, batch: dict) -> dict[str, torch.Tensor]:
        keys = ("pixel_values", "input_ids_one", "input_ids_two", "time_ids", "cache_key")
        return model(mode="loss", **{k: batch[k] for k in keys})

    def predict(self, model: nn.Module, batch: dict) -> dict[str, Any]:
        """{"images": B x 3 x R x R in [0, 1], "base_images" (same seeds, adapters off) when
        ``model.val_compare_base``, "prompts"}."""
        m = self.model_cfg
        kw = dict(prompts=list(batch["prompt"]), seeds=[int(s) for s in batch["seed"]],
                  height=self.data_cfg.resolution, width=self.data_cfg.resolution, steps=m.inference_steps,
                  guidance_scale=m.guidance_scale)
        preds = {"images": model(mode="generate", **kw), "prompts": kw["prompts"]}
        if m.val_compare_base:
            with disable_adapters(model):
                preds["base_images"] = model(mode="generate", **kw)
        return preds

    # -- metrics -------------------------------------------------------------------------------
    def metric_names(self) -> list[str]:
        """The keys ``build_metrics`` gives its metrics, without loading a feature network."""
        from ...metrics.clip_score import network_slug

        mc, names = self.model_cfg.metrics, []
        if mc.fid_features != "none" and not self.data_cfg.val_prompts:
            inception = mc.fid_features == "inception"
            names.append("fid_inception2048" if inception else f"fid_clip_{network_slug(mc.clip_model)}")
        if mc.clip_model:
            names.append(f"clip_score_{network_slug(mc.clip_model)}")
        return names

    def build_metrics(self) -> Any:
        """FID (when validation has real images) and CLIP score (when a CLIP model is set), each
        keyed by its feature network."""
        from torchmetrics import MetricCollection

        from ...metrics.clip_score import CLIPScore
        from ...metrics.fid import build_fid

        mc, metrics = self.model_cfg.metrics, {}
        if mc.fid_features != "none" and not self.data_cfg.val_prompts:
            key, fid = build_fid(mc.fid_features, mc.inception_weights, mc.clip_model)
            metrics[key] = fid
        if mc.clip_model:
            clip = CLIPScore(mc.clip_model)
            metrics[clip.key] = clip
        if not metrics:
            raise ValueError("no text2image metric is configured: set model.metrics.clip_model and/or "
                             "fid_features with real validation images")
        return MetricCollection(metrics, compute_groups=False)

    def update_metrics(self, metrics: Any, preds: dict, batch: dict) -> None:
        for key, metric in metrics.items():
            if key.startswith("fid_"):
                metric.update(batch["image"].float(), real=True)
                metric.update(preds["images"], real=False)
            else:
                metric.update(preds["images"], preds["prompts"])

    def per_sample_metrics(self, preds: dict, batch: dict) -> list[dict[str, float]]:
        """CLIP score per generated image (FID has no per-image value)."""
        if not self.model_cfg.metrics.clip_model:
            return [{"id": i} for i in batch["id"]]
        from ...metrics.clip_score import CLIPScore

        if not hasattr(self, "_clip"):
            self._clip = CLIPScore(self.model_cfg.metrics.clip_model).to(preds["images"].device)
        scores = self._clip.scores(preds["images"], preds["prompts"])
        return [{"id": i, self._clip.key: float(s)} for i, s in zip(batch["id"], scores)]

    def visualize(self, batch: dict, preds: dict, out_dir: Path, start_index: int) -> list[Path]:
        """One PNG per sample: [base | adapted | real], titled with the prompt and seed."""
        paths = []
        for j, prompt in enumerate(preds["prompts"]):
            tiles = {"adapted": preds["images"][j]}
            if "base_images" in preds:
                tiles = {"base": preds["base_images"][j], **tiles}
            if "image" in batch:
                tiles["real"] = batch["image"][j]
            name = f"{start_index + j:04d}_{batch['id'][j]}.png"
            paths.append(save_panel(tiles, f"{prompt} (seed {int(batch['seed'][j])})", Path(out_dir) / name))
        return paths

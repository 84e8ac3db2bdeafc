"""Prompt-free binary segmentation with Segment Anything (paper section 5.3 / appendix A.7,
Conv-LoRA's setting): polyp, skin lesion, camouflaged object, shadow and leaf disease masks."""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from torch.utils.data import Dataset, default_collate

from ...data.segmentation import BinarySegmentationDataset, build_transform, pairs_from_csv, pairs_from_folders
from ...metrics.segmentation import ber_counts, ber_from_counts, iou_dice, segmentation_metrics
from ...metrics.sod import e_measure_curve, mae, s_measure
from ...train.config import RunConfig
from .config import SamModelConfig, SegDataConfig, SegLossConfig
from .losses import balanced_bce, structure_loss
from .model import build_prompt_free_sam
from .visualize import write_panels


class SegmentationTask:
    """Batches: ``image`` B x 3 x H x W in [0, 1], ``mask`` B x 1 x H x W {0, 1}, ``id``, ``path``.
    Predictions: sigmoid probabilities B x 1 x H x W."""

    name = "segmentation"
    model_config_cls = SamModelConfig
    data_config_cls = SegDataConfig
    loss_config_cls = SegLossConfig

    def __init__(self, cfg: RunConfig) -> None:
        self.cfg = cfg
        loss = cfg.loss or SegLossConfig()
        if loss.name not in ("structure", "balanced_bce"):
            raise ValueError(f"loss.name={loss.name!r}: expected 'structure' or 'balanced_bce'")
        self.loss_cfg = loss

    def build_model(self) -> nn.Module:
        return build_prompt_free_sam(self.cfg.model)

    def preprocessing(self) -> dict:
        """The evaluation transform as data (see ``lava_vision.zoo.Preprocess``): square resize to
        0..1; the model applies SAM's pixel normalisation itself."""
        return {"resize": "square", "size": self.cfg.data.image_size, "mean": [0.0, 0.0, 0.0],
                "std": [1.0, 1.0, 1.0], "interpolation": "linear"}

    def build_dataset(self, split: str) -> Dataset:
        d: SegDataConfig = self.cfg.data
        if split not in d.splits:
            raise KeyError(f"data.splits has no {split!r} entry (known: {sorted(d.splits)})")
        if not d.root:
            raise ValueError("data.root is empty: set it to the dataset folder")
        if d.synthetic > 0:
            from ...data.synthetic_segmentation import write_synthetic_segmentation

            write_synthetic_segmentation(d.root, {s: d.synthetic for s in d.splits.values()},
                                         size=d.image_size, seed=self.cfg.train.seed)
        spec = Path(d.root) / d.splits[split]
        pairs = pairs_from_csv(spec) if spec.suffix.lower() == ".csv" else pairs_from_folders(spec)
        transform = build_transform(d.image_size, split == "train", d.hflip, d.vflip)
        return BinarySegmentationDataset(pairs, transform, d.mask_threshold)

    def collate(self, samples: list[dict]) -> dict:
        return default_collate(samples)

    def training_step(self, model: nn.Module, batch: dict) -> dict[str, torch.Tensor]:
        logits = model(batch["image"]).float()  # loss sums in fp32 even under bf16/fp16 autocast
        mask = batch["mask"].to(logits.device)
        if self.loss_cfg.name == "structure":
            loss = structure_loss(logits, mask, self.loss_cfg.kernel, self.loss_cfg.boundary_weight)
        else:
            loss = balanced_bce(logits, mask)
        return {"loss": loss}

    @torch.no_grad()
    def predict(self, model: nn.Module, batch: dict) -> torch.Tensor:
        return torch.sigmoid(model(batch["image"]).float())

    def metric_names(self) -> list[str]:
        """The keys of ``build_metrics().compute()`` (checked against eval.main_metric before training)."""
        return ["sm", "em_mean", "em_max", "em_adp", "wfm", "mae", "iou", "dice", "ber", "ber_per_image"]

    def build_metrics(self):
        return segmentation_metrics(beta2=self.cfg.data.wfm_beta2)

    def update_metrics(self, metrics, preds: torch.Tensor, batch: dict) -> None:
        metrics.update(preds, batch["mask"].to(preds.device))

    def per_sample_metrics(self, preds: torch.Tensor, batch: dict) -> list[dict[str, float]]:
        mask = batch["mask"].to(preds.device)
        iou, dice = iou_dice(preds, mask)
        cols = {"sm": s_measure(preds, mask), "em_mean": e_measure_curve(preds, mask).mean(1), "iou": iou,
                "dice": dice, "mae": mae(preds, mask), "ber": ber_from_counts(ber_counts(preds, mask))}
        cols = {k: v.double().cpu().tolist() for k, v in cols.items()}
        return [{"id": batch["id"][i], **{k: v[i] for k, v in cols.items()}} for i in range(preds.shape[0])]

    def visualize(self, batch: dict, preds: torch.Tensor, out_dir: Path, start_index: int,
                  base_preds: torch.Tensor | None = None) -> list[Path]:
        """One panel per sample; ``base_preds`` (the base model's predictions of the same batch)
        adds a base column. Each prediction is titled with its S-measure and IoU."""
        base = {} if base_preds is None else {"base_probs": base_preds,
                                              "base_scores": self.per_sample_metrics(base_preds, batch)}
        return write_panels(batch, preds, out_dir, start_index, self.per_sample_metrics(preds, batch), **base)

"""Metric depth estimation with Depth-Anything (the ``depth`` task of the Task protocol)."""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from torch.utils.data import Dataset, default_collate
from torchmetrics import MetricCollection

from ...data.depth_transforms import IMAGENET_MEAN, IMAGENET_STD, to_image
from ...metrics.depth import METRIC_NAMES, DepthMetrics, eval_mask, replace_nonfinite, upsample_to
from ...metrics.resize import ASPECT_TOL
from ...train.config import RunConfig
from .config import DepthDataConfig, DepthLossConfig
from .data import DepthSamples, build_raw
from .loss import silog_loss
from .model import DepthModelConfig, load_depth_anything
from .visualize import depth_panel


def _device_of(model: nn.Module) -> torch.device:
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


class DepthTask:
    """Batches: ``image`` B x 3 x h x w (ImageNet-normalised, h, w multiples of 14), ``depth``
    B x H x W metres (0 = invalid), ``id`` list of str. Predictions: B x H x W metres at the
    ground truth's size, as the model gave them (not clamped, non-finite values kept): the
    metrics apply the evaluation protocol (``DepthMetrics``) and count what they replace."""

    name = "depth"
    model_config_cls = DepthModelConfig
    data_config_cls = DepthDataConfig
    loss_config_cls = DepthLossConfig

    def __init__(self, cfg: RunConfig) -> None:
        self.cfg = cfg
        self.data: DepthDataConfig = cfg.data
        self.loss_cfg: DepthLossConfig = cfg.loss or DepthLossConfig()
        if self.loss_cfg.kind not in ("silog", "zoe"):
            raise ValueError(f"loss.kind={self.loss_cfg.kind!r}: expected 'silog' or 'zoe'")
        if not 0 < self.data.min_depth < self.data.max_depth:
            raise ValueError(f"data.min_depth={self.data.min_depth} / data.max_depth={self.data.max_depth}: "
                             "need 0 < min_depth < max_depth")

    def build_model(self) -> nn.Module:
        return load_depth_anything(self.cfg.model)

    def preprocessing(self) -> dict:
        """The evaluation transform as data (see ``lava_vision.zoo.Preprocess``): shorter side to
        ``input_size`` in multiples of 14 (bicubic), ImageNet normalisation."""
        return {"resize": "shorter_side", "size": self.data.input_size, "multiple": 14,
                "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD), "interpolation": "cubic"}

    def build_dataset(self, split: str) -> Dataset:
        return DepthSamples(build_raw(self.data, split, seed=self.cfg.train.seed), split == "train", self.data)

    def collate(self, samples: list[dict]) -> dict:
        return default_collate(samples)

    def _forward(self, model: nn.Module, image: torch.Tensor) -> torch.Tensor:
        return model(pixel_values=image).predicted_depth

    def training_step(self, model: nn.Module, batch: dict) -> dict[str, torch.Tensor]:
        device = _device_of(model)
        image, gt = batch["image"].to(device), batch["depth"].to(device)
        pred = self._forward(model, image)
        valid = (gt > self.data.min_depth) & (gt < self.data.max_depth)
        loss = silog_loss(pred, gt, valid, self.loss_cfg.kind, self.loss_cfg.lam)
        return {"loss": loss, "valid_fraction": valid.float().mean().detach()}

    @torch.no_grad()
    def predict(self, model: nn.Module, batch: dict) -> torch.Tensor:
        device = _device_of(model)
        image, gt = batch["image"].to(device), batch["depth"]
        pred = self._forward(model, image)
        if self.data.flip_eval:
            pred = 0.5 * (pred + self._forward(model, image.flip(-1)).flip(-1))
        # the input kept the image's aspect up to rounding each side to a multiple of 14
        tol = max(ASPECT_TOL, 14 / min(pred.shape[-2:]))
        ids = batch["id"]
        what = "depth predictions for " + ", ".join(map(repr, ids[:3])) + (" ..." if len(ids) > 3 else "")
        return upsample_to(pred.float(), tuple(gt.shape[-2:]), what, tol)

    def metric_names(self) -> list[str]:
        """The keys of ``build_metrics().compute()`` (checked against eval.main_metric before training)."""
        return [*METRIC_NAMES, "n_images", "n_skipped", "n_nonfinite"]

    def build_metrics(self) -> MetricCollection:
        return MetricCollection({"depth": self._metric()})

    def _metric(self) -> DepthMetrics:
        return DepthMetrics(self.data.min_depth, self.data.max_depth, self.data.eigen_crop)

    def update_metrics(self, metrics: MetricCollection, preds: torch.Tensor, batch: dict) -> None:
        metrics.update(preds, batch["depth"].to(preds.device))

    def per_sample_metrics(self, preds: torch.Tensor, batch: dict) -> list[dict[str, float]]:
        """Metrics per image with its id; an image without a valid pixel gets NaN metrics and
        ``valid_pixels`` 0 (it is skipped, and counted, by the averaged metrics);
        ``nonfinite_pixels`` counts the prediction's replaced NaN / inf pixels."""
        gt = batch["depth"].to(preds.device)
        replaced = (~torch.isfinite(preds)).flatten(1).sum(1).tolist()
        rows = []
        for sample_id, vals, n, bad in zip(batch["id"], self._metric().per_image(preds, gt),
                                           eval_mask(gt, self.data.min_depth, self.data.max_depth,
                                                     self.data.eigen_crop).flatten(1).sum(1).tolist(), replaced):
            row = {"id": sample_id, "valid_pixels": int(n), "nonfinite_pixels": int(bad)}
            row.update(vals if vals is not None else {k: float("nan") for k in METRIC_NAMES})
            rows.append(row)
        return rows

    def visualize(self, batch: dict, preds: torch.Tensor, out_dir: Path, start_index: int,
                  base_preds: torch.Tensor | None = None) -> list[Path]:
        """One panel per sample; ``base_preds`` (the base model's predictions of the same batch)
        adds a base column. Each prediction is titled with its AbsRel and δ1."""
        out_dir = Path(out_dir)
        gt_all = batch["depth"].to(preds.device)
        lo, hi = self.data.min_depth, self.data.max_depth

        def as_scored(p: torch.Tensor) -> torch.Tensor:
            return replace_nonfinite(p.to(gt_all.device).float(), lo, hi)[0].clamp(lo, hi)

        preds = as_scored(preds)
        base_preds = as_scored(base_preds) if base_preds is not None else None
        valid_all = eval_mask(gt_all, lo, hi, self.data.eigen_crop)
        scores = self._metric().per_image(preds, gt_all)
        base_scores = self._metric().per_image(base_preds, gt_all) if base_preds is not None else None
        paths = []
        for i in range(preds.shape[0]):
            gt = gt_all[i]
            image = nn.functional.interpolate(batch["image"][i : i + 1].float(), size=tuple(gt.shape),
                                              mode="bilinear", align_corners=False)[0]
            safe_id = "".join(c if c.isalnum() or c in "-_" else "_" for c in str(batch["id"][i]))
            base = {} if base_preds is None else {"base": base_preds[i].float().cpu().numpy(),
                                                   "base_scores": base_scores[i]}
            paths.append(depth_panel(to_image(image), gt.cpu().numpy(), preds[i].float().cpu().numpy(),
                                     valid_all[i].cpu().numpy(), out_dir / f"{start_index + i:05d}_{safe_id}.png",
                                     title=str(batch["id"][i]), scores=scores[i], **base))
        return paths

"""Prompt-free binary segmentation with Segment Anything (paper section 5.3 / appendix A.7,
Conv-LoRA's setting): polyp, skin lesion, camouflaged object, shadow and leaf disease masks."""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from torch.utils.data import Dataset, default_collate

from ...data.segmentation import BinarySegmentationDataset, build_transform, holdout, pairs_from_csv, pairs_from_folders
from ...metrics.segmentation import ber_counts, ber_from_counts, iou_dice, resize_probabilities, segmentation_metrics
from ...metrics.sod import e_measure_curve, mae, s_measure
from ...train.config import RunConfig
from .config import SamModelConfig, SegDataConfig, SegLossConfig
from .losses import balanced_bce, structure_loss
from .model import build_prompt_free_sam
from .visualize import write_panels

EVAL_RESOLUTIONS = ("native", "model")


class SegmentationTask:
    """Batches: ``image`` B x 3 x H x W in [0, 1], ``mask`` B x 1 x H x W {0, 1}, ``id``, ``path``;
    evaluation batches scored at native size also carry ``mask_native``, a list of {0, 1} uint8
    H_i x W_i masks at each file's own size. Predictions: sigmoid probabilities B x 1 x H x W at
    the model's size; metrics, per-image rows and pictures resize them to ``mask_native``
    (``data.eval_resolution``)."""

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
        d: SegDataConfig = cfg.data
        if d.eval_resolution not in EVAL_RESOLUTIONS:
            raise ValueError(f"data.eval_resolution={d.eval_resolution!r}: expected one of {EVAL_RESOLUTIONS}")
        if "val" in d.splits and d.splits["val"] == d.splits.get("test"):
            raise ValueError(f"data.splits: 'val' and 'test' both read {d.splits['val']!r}, so a checkpoint selected "
                             "on val is selected on the test set; drop the 'val' entry to hold out "
                             f"data.val_fraction={d.val_fraction} of the train list instead")
        self.native = d.eval_resolution == "native"

    def scoring(self) -> str:
        """How predictions are scored, for the evaluation's output."""
        s = self.cfg.data.image_size
        if self.native:
            return (f"scored at each ground truth's native size (probabilities upsampled bilinearly from the "
                    f"model's {s}x{s}; data.eval_resolution=native)")
        return (f"scored at the model's {s}x{s} input size (data.eval_resolution=model), NOT at native size: "
                "not comparable to published numbers")

    def build_model(self) -> nn.Module:
        return build_prompt_free_sam(self.cfg.model)

    def preprocessing(self) -> dict:
        """The evaluation transform as data (see ``lava_vision.zoo.Preprocess``): square resize to
        0..1; the model applies SAM's pixel normalisation itself."""
        return {"resize": "square", "size": self.cfg.data.image_size, "mean": [0.0, 0.0, 0.0],
                "std": [1.0, 1.0, 1.0], "interpolation": "linear"}

    def build_dataset(self, split: str) -> Dataset:
        """``split`` from ``data.splits``; "val" without a ``val`` entry (and "train" then) from the
        seeded hold-out of the train list (``SegDataConfig``)."""
        d: SegDataConfig = self.cfg.data
        held_out = "val" not in d.splits and "train" in d.splits
        if split not in d.splits and not (split == "val" and held_out):
            raise KeyError(f"data.splits has no {split!r} entry (known: {sorted(d.splits)})")
        if not d.root:
            raise ValueError("data.root is empty: set it to the dataset folder")
        if d.synthetic > 0:
            from ...data.synthetic_segmentation import write_synthetic_segmentation

            write_synthetic_segmentation(d.root, {s: d.synthetic for s in d.splits.values()},
                                         size=d.image_size, seed=self.cfg.train.seed)
        spec = Path(d.root) / d.splits["train" if split == "val" and held_out else split]
        pairs = pairs_from_csv(spec) if spec.suffix.lower() == ".csv" else pairs_from_folders(spec)
        if held_out and split in ("train", "val"):
            pairs = holdout(pairs, d.val_fraction, d.val_seed)[split == "val"]
        transform = build_transform(d.image_size, split == "train", d.hflip, d.vflip)
        return BinarySegmentationDataset(pairs, transform, d.mask_threshold, native=split != "train" and self.native)

    def collate(self, samples: list[dict]) -> dict:
        """Default collation; native-size masks (different sizes) stay a list."""
        if "mask_native" not in samples[0]:
            return default_collate(samples)
        batch = default_collate([{k: v for k, v in s.items() if k != "mask_native"} for s in samples])
        batch["mask_native"] = [s["mask_native"] for s in samples]
        return batch

    def _scored(self, preds: torch.Tensor, batch: dict) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """``(prediction, ground truth)`` pairs at the scoring resolution: one B x 1 x S x S pair at
        model size, or one 1 x 1 x H_i x W_i pair per image at native size. A non-finite prediction
        is an error naming its sample."""
        ids = batch.get("id") or [str(i) for i in range(preds.shape[0])]
        if preds.is_floating_point():
            bad = (~torch.isfinite(preds)).flatten(1).sum(1)
            if bool(bad.any()):
                i = int(torch.nonzero(bad)[0, 0])
                raise ValueError(f"segmentation prediction for sample {ids[i]!r} holds {int(bad[i])} non-finite "
                                 "value(s) (NaN/inf); refusing to score it")
        if not self.native:
            return [(preds, batch["mask"].to(preds.device))]
        if "mask_native" not in batch:
            raise KeyError("the batch has no 'mask_native' for native-size scoring (data.eval_resolution=native); "
                           "build it with task.build_dataset and task.collate")
        return [(resize_probabilities(preds[i], tuple(gt.shape[-2:]), f"segmentation prediction for {ids[i]!r}",
                                      square_input=True)[None], gt.to(preds.device)[None, None])
                for i, gt in enumerate(batch["mask_native"])]

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
        for pred, gt in self._scored(preds, batch):
            metrics.update(pred, gt)

    def per_sample_metrics(self, preds: torch.Tensor, batch: dict) -> list[dict[str, float]]:
        """One row per image, scored as the dataset metrics are (``data.eval_resolution``)."""
        values: list[dict[str, float]] = []
        for pred, mask in self._scored(preds, batch):
            iou, dice = iou_dice(pred, mask)
            cols = {"sm": s_measure(pred, mask), "em_mean": e_measure_curve(pred, mask).mean(1), "iou": iou,
                    "dice": dice, "mae": mae(pred, mask), "ber": ber_from_counts(ber_counts(pred, mask))}
            cols = {k: v.double().cpu().tolist() for k, v in cols.items()}
            values += [{k: v[i] for k, v in cols.items()} for i in range(pred.shape[0])]
        return [{"id": batch["id"][i], **row} for i, row in enumerate(values)]

    def visualize(self, batch: dict, preds: torch.Tensor, out_dir: Path, start_index: int,
                  base_preds: torch.Tensor | None = None) -> list[Path]:
        """One panel per sample at the scoring resolution (at native size the image is read again
        from its file); ``base_preds`` (the base model's predictions of the same batch) adds a base
        column. Each prediction is titled with its S-measure and IoU."""
        rows = self.per_sample_metrics(preds, batch)
        base_rows = None if base_preds is None else self.per_sample_metrics(base_preds, batch)
        if not self.native:
            base = {} if base_preds is None else {"base_probs": base_preds, "base_scores": base_rows}
            return write_panels(batch, preds, out_dir, start_index, rows, **base)
        base_scored = None if base_preds is None else self._scored(base_preds, batch)
        paths = []
        for i, (pred, gt) in enumerate(self._scored(preds, batch)):
            image = _native_image(batch["path"][i], tuple(gt.shape[-2:])) if "path" in batch else \
                nn.functional.interpolate(batch["image"][i:i + 1].float(), size=tuple(gt.shape[-2:]),
                                          mode="bilinear", align_corners=False)[0].cpu()
            one = {"image": image[None], "mask": gt[0].float().cpu()[None], "id": [batch["id"][i]]}
            base = {} if base_scored is None else {"base_probs": base_scored[i][0].cpu(), "base_scores": [base_rows[i]]}
            paths += write_panels(one, pred.cpu(), out_dir, start_index + i, [rows[i]], **base)
        return paths


def _native_image(path: str, size: tuple[int, int]) -> torch.Tensor:
    """The image file as 3 x H x W float in [0, 1] (its own size, which ``size`` must be)."""
    from ...data.images import read_rgb

    rgb = read_rgb(path)  # a truncated / unreadable file raises, naming it
    if rgb.shape[:2] != tuple(size):
        raise ValueError(f"image {path} is {rgb.shape[1]}x{rgb.shape[0]} but its mask is {size[1]}x{size[0]} (W x H)")
    return torch.from_numpy(rgb.copy()).permute(2, 0, 1).float() / 255

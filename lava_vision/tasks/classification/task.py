"""ClassificationTask: the Task protocol for image classification (timm / torchvision / QuickNet
models; CIFAR, ImageFolder or procedural data)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from ...train.config import RunConfig
from .config import ClassificationDataConfig, ClassificationLossConfig, ClassificationModelConfig
from .data import build_dataset, class_names, collate
from .models import build_classifier, packaged_weights, pretrained_class_names
from .visualize import plot_confusion_matrix, sample_panels


def _to(batch: dict, device: torch.device) -> dict:
    return {k: v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v
            for k, v in batch.items()}


class ClassificationTask:
    """Batches: ``{"image": B x 3 x S x S, "label": B, "id": list[str]}``.
    Predictions: ``{"logits": B x C, "probs": B x C, "pred": B}``."""

    name = "classification"
    model_config_cls = ClassificationModelConfig
    data_config_cls = ClassificationDataConfig
    loss_config_cls = ClassificationLossConfig

    def __init__(self, cfg: RunConfig) -> None:
        self.cfg = cfg
        self.loss_cfg = cfg.loss or ClassificationLossConfig()
        self.classes: list[str] = class_names(cfg.data, cfg.model.num_classes, pretrained_class_names(cfg.model))

    def build_model(self) -> nn.Module:
        return build_classifier(self.cfg.model)

    def describe_weights(self) -> str | None:
        """``packaged (lava_vision/assets/<file>)`` when ``pretrained='hub'`` loads weights shipped in
        the package (a zoo card must not suggest a download); None otherwise."""
        path = packaged_weights(self.cfg.model)
        if path is None:
            return None
        return f"packaged ({path.relative_to(Path(__file__).resolve().parents[3]).as_posix()})"  # lava_vision/...

    def preprocessing(self) -> dict:
        """The evaluation transform as data (see ``lava_vision.zoo.Preprocess``): square resize, normalise."""
        m = self.cfg.model
        return {"resize": "square", "size": m.input_size, "mean": list(m.mean), "std": list(m.std),
                "interpolation": "linear"}

    def build_dataset(self, split: str) -> Dataset:
        ds = build_dataset(self.cfg.data, self.cfg.model, split)
        if len(ds.classes) != self.cfg.model.num_classes:
            raise ValueError(f"model.num_classes={self.cfg.model.num_classes} but data.source="
                             f"{self.cfg.data.source!r} ({split}) has {len(ds.classes)} classes")
        self.classes = list(ds.classes)
        return ds

    def collate(self, samples: list[dict]) -> dict:
        return collate(samples)

    def training_step(self, model: nn.Module, batch: dict) -> dict[str, torch.Tensor]:
        batch = _to(batch, next(model.parameters()).device)
        logits = model(batch["image"])
        loss = F.cross_entropy(logits.float(), batch["label"],
                               label_smoothing=self.loss_cfg.label_smoothing)
        acc = (logits.argmax(dim=1) == batch["label"]).float().mean()
        return {"loss": loss, "train_acc": acc.detach()}

    @torch.no_grad()
    def predict(self, model: nn.Module, batch: dict) -> dict[str, torch.Tensor]:
        batch = _to(batch, next(model.parameters()).device)
        logits = model(batch["image"]).float()
        return {"logits": logits, "probs": logits.softmax(dim=1), "pred": logits.argmax(dim=1)}

    def metric_names(self) -> list[str]:
        """The keys of ``build_metrics().compute()`` (checked against eval.main_metric before training)."""
        n = len(self.classes)
        return ["top1", *(["top5"] if n > 5 else []), *(f"acc_class/{c}" for c in self.classes), "mean_class_acc"]

    def build_metrics(self) -> Any:
        from .metrics import build_classification_metrics  # torchmetrics: seconds to import, only when scoring

        return build_classification_metrics(self.classes)

    def update_metrics(self, metrics: Any, preds: dict, batch: dict) -> None:
        probs = preds["probs"]
        metrics.to(probs.device)
        metrics.update(probs, batch["label"].to(probs.device))

    def per_sample_metrics(self, preds: dict, batch: dict) -> list[dict[str, float]]:
        labels = batch["label"].to(preds["probs"].device)
        p_true = preds["probs"].gather(1, labels[:, None])[:, 0]
        nll = -p_true.clamp(min=1e-12).log()
        return [{"id": batch["id"][i], "top1": float(preds["pred"][i] == labels[i]),
                 "p_true": float(p_true[i]), "nll": float(nll[i]), "label": int(labels[i]),
                 "pred": int(preds["pred"][i])} for i in range(len(labels))]

    def visualize(self, batch: dict, preds: dict, out_dir: Path, start_index: int) -> list[Path]:
        return sample_panels(batch["image"], batch["label"], preds["probs"], batch["id"], self.classes,
                             self.cfg.model.mean, self.cfg.model.std, Path(out_dir), start_index)

    def summarize(self, metrics: Any, out_dir: Path) -> list[Path]:
        """Pictures of a whole evaluation (call after ``metrics.compute()``): the confusion matrix."""
        matrix = metrics["confusion"].matrix
        if matrix is None:
            raise RuntimeError("summarize: call metrics.compute() first")
        return [plot_confusion_matrix(matrix, self.classes, Path(out_dir) / "confusion_matrix.png")]

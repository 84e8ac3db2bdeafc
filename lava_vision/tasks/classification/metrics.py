"""Classification metrics as torchmetrics (they sync across processes): top-1, top-5,
per-class accuracy and a confusion matrix whose last computed value feeds the picture."""
from __future__ import annotations

import torch
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassConfusionMatrix


class PerClassAccuracy(MulticlassAccuracy):
    """Recall of every class, returned as ``{"acc_class/<name>": value}`` (flat scalars)."""

    def __init__(self, class_names: list[str]):
        super().__init__(num_classes=len(class_names), average=None)
        self.class_names = list(class_names)

    def compute(self) -> dict[str, torch.Tensor]:
        acc = super().compute()
        return {f"acc_class/{n}": acc[i] for i, n in enumerate(self.class_names)}


class ConfusionMatrix(MulticlassConfusionMatrix):
    """Counts ``C x C`` (row = true class, column = predicted). ``compute`` returns the mean
    per-class accuracy over classes present in the targets and keeps the synced matrix in
    ``self.matrix`` for ``plot_confusion_matrix``."""

    def __init__(self, num_classes: int):
        super().__init__(num_classes=num_classes, normalize=None)
        self.matrix: torch.Tensor | None = None

    def compute(self) -> dict[str, torch.Tensor]:
        counts = super().compute()
        self.matrix = counts.detach().cpu().clone()
        # not MulticlassAccuracy(average="macro"): it also averages in a class that is predicted but
        # absent from the targets (recall 0), unlike balanced accuracy (sklearn), which this is
        support = counts.sum(dim=1)
        present = support > 0
        recall = counts.diagonal()[present].float() / support[present].float()
        return {"mean_class_acc": recall.mean() if present.any() else torch.tensor(0.0)}


def build_classification_metrics(class_names: list[str]) -> MetricCollection:
    """top1, top5 (when there are more than 5 classes), per-class accuracy, confusion matrix."""
    n = len(class_names)
    metrics = {"top1": MulticlassAccuracy(num_classes=n, top_k=1, average="micro")}
    if n > 5:
        metrics["top5"] = MulticlassAccuracy(num_classes=n, top_k=5, average="micro")
    metrics["per_class"] = PerClassAccuracy(class_names)
    metrics["confusion"] = ConfusionMatrix(n)
    return MetricCollection(metrics, compute_groups=False)

"""Binary segmentation metrics as torchmetrics ``Metric`` subclasses with summed states, so they
run batched on any device and sync across processes.

Predictions are sigmoid probabilities ``B x 1 x H x W`` (or ``B x H x W``); targets are {0, 1}
masks of the same shape. Threshold metrics (IoU, Dice, BER) binarise the prediction at ``> 0.5``
(logit > 0, SAM's mask threshold). Every metric reads predictions and ground truth by the rules of
``sod.py``: uint8 predictions / 255, non-finite or other-integer predictions refused; ground truth
``> 0.5`` (float) or ``> 128`` (uint8, a {0, 1} mask read as binary). The SOD metrics (S, E, F^w,
MAE) follow the PySODMetrics conventions described there.

Units: S, E, F^w, MAE, IoU, Dice in [0, 1]; BER in percent, as shadow papers report it.
"""
from __future__ import annotations

from collections.abc import Callable
from functools import partial

import torch
from torchmetrics import Metric, MetricCollection

from .resize import check_aspect, resize_bilinear
from .sod import binarize_gt, check_prediction, e_measure_adaptive, e_measure_curve, mae, s_measure, weighted_f_measure


def _binary(pred: torch.Tensor, gt: torch.Tensor, threshold: float = 0.5) -> tuple[torch.Tensor, torch.Tensor]:
    if pred.dim() == 4:
        pred, gt = pred.squeeze(1), gt.squeeze(1)
    if pred.shape != gt.shape or pred.dim() != 3:
        raise ValueError(f"pred {tuple(pred.shape)} and gt {tuple(gt.shape)} must both be B x [1 x] H x W")
    return check_prediction(pred) > threshold, binarize_gt(gt)


def resize_probabilities(prob: torch.Tensor, size: tuple[int, int], what: str = "prediction",
                         square_input: bool = False) -> torch.Tensor:
    """Probabilities ``... x h x w`` (float, uint8 or bool: ``check_prediction``) resized bilinearly
    to the ground truth's native ``size`` (H, W), the field's scoring protocol. A prediction whose
    aspect ratio differs from ``size``'s is refused naming ``what``, except a square prediction of
    a model that saw the image squashed to a square (``square_input``): stretching it back is the
    inverse of that resize."""
    h, w = prob.shape[-2:]
    if not (square_input and h == w):
        check_aspect((h, w), tuple(size), what)
    return resize_bilinear(check_prediction(prob), tuple(size))


def iou_dice(pred: torch.Tensor, gt: torch.Tensor, threshold: float = 0.5) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image IoU (Jaccard) and Dice of ``pred > threshold``; an image whose prediction and
    ground truth are both empty scores 1 (nothing to find, nothing found). Returns (B, B)."""
    # kept by hand: torchmetrics.functional.segmentation.mean_iou / dice_score give NaN for an image
    # with empty prediction and ground truth (this field's convention scores it 1) and count in float32
    p, g = _binary(pred, gt, threshold)
    inter = (p & g).sum(dim=(1, 2)).double()
    union = (p | g).sum(dim=(1, 2)).double()
    total = (p.sum(dim=(1, 2)) + g.sum(dim=(1, 2))).double()
    empty = union == 0
    iou = torch.where(empty, torch.ones_like(inter), inter / union.clamp_min(1))
    dice = torch.where(empty, torch.ones_like(inter), 2 * inter / total.clamp_min(1))
    return iou, dice


def ber_counts(pred: torch.Tensor, gt: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """Per-image (TP, TN, N_pos, N_neg) as a B x 4 float64 tensor."""
    p, g = _binary(pred, gt, threshold)
    return torch.stack([(p & g).sum(dim=(1, 2)), (~p & ~g).sum(dim=(1, 2)),
                        g.sum(dim=(1, 2)), (~g).sum(dim=(1, 2))], dim=1).double()


def ber_from_counts(c: torch.Tensor) -> torch.Tensor:
    """BER = 100 * (1 - (TP / N_pos + TN / N_neg) / 2) over the last axis (TP, TN, N_pos, N_neg).
    A class absent from the ground truth drops out: the BER is then the error rate of the other."""
    tp, tn, npos, nneg = c.unbind(-1)
    tpr = tp / npos.clamp_min(1)
    tnr = tn / nneg.clamp_min(1)
    tpr = torch.where(npos > 0, tpr, tnr)
    tnr = torch.where(nneg > 0, tnr, tpr)
    return 100 * (1 - (tpr + tnr) / 2)


class _MeanOverImages(Metric):
    """Average of a per-image score: states ``total`` and ``count``, both summed across processes."""

    full_state_update = False

    def __init__(self, per_image: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], **kwargs) -> None:
        super().__init__(**kwargs)
        self.per_image = per_image  # (pred, gt) -> B scores
        self.add_state("total", torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, pred: torch.Tensor, gt: torch.Tensor) -> None:
        scores = self.per_image(pred.detach(), gt)
        self.total += scores.double().sum()
        self.count += scores.numel()

    def compute(self) -> torch.Tensor:
        return self.total / self.count.clamp_min(1)


class SMeasure(_MeanOverImages):
    """Structure measure S_alpha (Fan et al. 2017), alpha = 0.5 by default."""

    higher_is_better = True

    def __init__(self, alpha: float = 0.5, **kwargs) -> None:
        super().__init__(partial(s_measure, alpha=alpha), **kwargs)


class WeightedFMeasure(_MeanOverImages):
    """Weighted F-measure F^w_beta (Margolin et al. 2014); ``beta2`` is beta^2 (default 1)."""

    higher_is_better = True

    def __init__(self, beta2: float = 1.0, **kwargs) -> None:
        super().__init__(partial(weighted_f_measure, beta2=beta2), **kwargs)


class SODMeanAbsoluteError(_MeanOverImages):
    """MAE of the min-max normalised prediction (PySODMetrics convention)."""

    higher_is_better = False

    def __init__(self, **kwargs) -> None:
        super().__init__(mae, **kwargs)


class EMeasure(Metric):
    """Enhanced-alignment measure E_phi (Fan et al. 2018). ``compute`` returns ``em_mean`` (mean
    over the 256 thresholds of the image-averaged curve, the number papers report), ``em_max`` and
    ``em_adp`` (adaptive threshold)."""

    full_state_update = False
    higher_is_better = True

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.add_state("curve", torch.zeros(256, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("adaptive", torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, pred: torch.Tensor, gt: torch.Tensor) -> None:
        pred = pred.detach()
        self.curve += e_measure_curve(pred, gt).double().sum(0)
        self.adaptive += e_measure_adaptive(pred, gt).double().sum()
        self.count += pred.shape[0]

    def compute(self) -> dict[str, torch.Tensor]:
        curve = self.curve / self.count.clamp_min(1)
        return {"em_mean": curve.mean(), "em_max": curve.max(), "em_adp": self.adaptive / self.count.clamp_min(1)}


class IoUDice(Metric):
    """Per-image IoU (Jaccard) and Dice at threshold 0.5, averaged over images: ``iou``, ``dice``."""

    full_state_update = False
    higher_is_better = True

    def __init__(self, threshold: float = 0.5, **kwargs) -> None:
        super().__init__(**kwargs)
        self.threshold = threshold
        for name in ("iou", "dice", "count"):
            self.add_state(name, torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, pred: torch.Tensor, gt: torch.Tensor) -> None:
        iou, dice = iou_dice(pred.detach(), gt, self.threshold)
        self.iou += iou.sum()
        self.dice += dice.sum()
        self.count += iou.numel()

    def compute(self) -> dict[str, torch.Tensor]:
        n = self.count.clamp_min(1)
        return {"iou": self.iou / n, "dice": self.dice / n}


class BalancedErrorRate(Metric):
    """Balanced error rate in percent: ``ber`` from TP, TN, N_pos, N_neg summed over the whole
    dataset (as shadow-detection papers report), and ``ber_per_image``, the mean of per-image BERs."""

    full_state_update = False
    higher_is_better = False

    def __init__(self, threshold: float = 0.5, **kwargs) -> None:
        super().__init__(**kwargs)
        self.threshold = threshold
        self.add_state("counts", torch.zeros(4, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("per_image", torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, pred: torch.Tensor, gt: torch.Tensor) -> None:
        c = ber_counts(pred.detach(), gt, self.threshold)
        self.counts += c.sum(0)
        self.per_image += ber_from_counts(c).sum()
        self.count += c.shape[0]

    def compute(self) -> dict[str, torch.Tensor]:
        return {"ber": ber_from_counts(self.counts), "ber_per_image": self.per_image / self.count.clamp_min(1)}


def segmentation_metrics(beta2: float = 1.0) -> MetricCollection:
    """Every metric of this module; ``compute()`` gives the flat dict
    ``sm, em_mean, em_max, em_adp, wfm, mae, iou, dice, ber, ber_per_image``."""
    return MetricCollection({"sm": SMeasure(), "em": EMeasure(), "wfm": WeightedFMeasure(beta2),
                             "mae": SODMeanAbsoluteError(), "overlap": IoUDice(), "ber": BalancedErrorRate()},
                            compute_groups=False)

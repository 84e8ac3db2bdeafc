"""A minuscule regression task for the engine tests: y = tanh(x W1) W2 + noise on random tensors.

Its base weights are a fixed function of a private seed (the "pretrained" model), its data a fixed
function of the split, so every run and every process sees the same numbers. Metrics accumulate in
float64: sums of float32-derived absolute errors are then exact, hence independent of the order
in which processes add them (the multi-process test compares them with ==).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torchmetrics
from PIL import Image
from torch import nn
from torch.utils.data import default_collate

from lava_vision.train.config import RunConfig

SPLIT_SEEDS = {"train": 11, "val": 12, "test": 13}


@dataclass
class ToyModelConfig:
    in_dim: int = 6
    hidden: int = 8
    out_dim: int = 2


@dataclass
class ToyDataConfig:
    root: str = ""  # when set, must be an existing folder (tests the missing-dataset error)
    num_train: int = 16
    num_eval: int = 10


@dataclass
class ToyLossConfig:
    poison_step: int = 0  # > 0: the loss of that training_step call (1-based) is NaN


class ToyNet(nn.Module):
    def __init__(self, c: ToyModelConfig) -> None:
        super().__init__()
        self.fc1 = nn.Linear(c.in_dim, c.hidden)
        self.fc2 = nn.Linear(c.hidden, c.out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """B x in_dim -> B x out_dim"""
        return self.fc2(torch.tanh(self.fc1(x)))


class ToyTask:
    name = "toy"
    model_config_cls = ToyModelConfig
    data_config_cls = ToyDataConfig
    loss_config_cls = ToyLossConfig

    def __init__(self, cfg: RunConfig) -> None:
        self.cfg = cfg
        self.calls = 0

    def build_model(self) -> nn.Module:
        model = ToyNet(self.cfg.model)
        g = torch.Generator().manual_seed(1234)
        with torch.no_grad():
            for p in model.parameters():
                p.copy_(torch.randn(p.shape, generator=g) * 0.5)
        return model

    def build_dataset(self, split: str) -> list[dict]:
        d, m = self.cfg.data, self.cfg.model
        if d.root and not Path(d.root).is_dir():
            raise FileNotFoundError(f"{d.root}: toy dataset folder not found")
        g = torch.Generator().manual_seed(SPLIT_SEEDS[split])
        n = d.num_train if split == "train" else d.num_eval
        x = torch.randn(n, m.in_dim, generator=g)
        w = torch.randn(m.in_dim, m.out_dim, generator=g)
        y = torch.sin(x @ w)
        return [{"x": x[i], "y": y[i], "id": f"{split}_{i:03d}"} for i in range(n)]

    def collate(self, samples: list[dict]) -> dict:
        return default_collate(samples)

    def training_step(self, model: nn.Module, batch: dict) -> dict[str, torch.Tensor]:
        self.calls += 1
        pred = model(batch["x"])
        loss = (pred - batch["y"]).square().mean()
        if self.calls == self.cfg.loss.poison_step:
            loss = loss * float("nan")
        return {"loss": loss, "abs_err": (pred - batch["y"]).abs().mean().detach()}

    def predict(self, model: nn.Module, batch: dict) -> torch.Tensor:
        return model(batch["x"])

    def metric_names(self) -> list[str]:
        return ["mae", "sign_acc"]

    def build_metrics(self) -> torchmetrics.MetricCollection:
        metrics = torchmetrics.MetricCollection({"mae": torchmetrics.MeanAbsoluteError(),
                                                 "sign_acc": torchmetrics.MeanMetric()})
        return metrics.set_dtype(torch.float64)

    def update_metrics(self, metrics: torchmetrics.MetricCollection, preds: torch.Tensor, batch: dict) -> None:
        p, y = preds.double(), batch["y"].double()
        metrics["mae"].update(p, y)
        metrics["sign_acc"].update((torch.sign(p) == torch.sign(y)).double().mean(dim=1))

    def per_sample_metrics(self, preds: torch.Tensor, batch: dict) -> list[dict[str, float]]:
        err = (preds - batch["y"]).abs().mean(dim=1)
        return [{"id": i, "mae": float(e)} for i, e in zip(batch["id"], err)]

    def visualize(self, batch: dict, preds: torch.Tensor, out_dir: Path, start_index: int) -> list[Path]:
        paths = []
        for i in range(preds.shape[0]):
            img = np.zeros((8, 8 * preds.shape[1], 3), dtype=np.uint8)
            img[..., 0] = 128  # the panel content does not matter to the engine
            path = Path(out_dir) / f"{start_index + i:04d}_{batch['id'][i]}.png"
            Image.fromarray(img).save(path)
            paths.append(path)
        return paths


RECIPE = Path(__file__).resolve().parent / "toy_recipe.py"


def toy_config(root: Path, *overrides: str) -> RunConfig:
    """The toy recipe (registers the "toy" task) with its run folder under ``root``."""
    from lava_vision.train import apply_overrides, load_recipe

    return apply_overrides(load_recipe(RECIPE), [f"output.root={root}", *overrides])

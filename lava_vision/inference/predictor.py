"""One input at a time through a trained (or base) model, as the task evaluates it, with the
output at the input's own size.

    from lava_vision.inference import load_run
    p = load_run("runs/quickstart")            # config.json + best/ (else last/) of a run folder
    p.predict("photo.png").as_dict()           # {class name: probability}
    zoo.load("depth_synthetic").predict(rgb)   # the same on a zoo entry -> DepthMap (metres)

Each built-in task has one prediction function here (``PREDICTORS``, by task name); they reuse the
task's own ``predict`` and ``preprocessing()``, so a prediction equals what evaluation scores.
A task of one's own predicts through its optional ``predict_image(model, rgb)`` member (the Task
protocol, ``lava_vision/train/task.py``; docs/custom-tasks.md).
"""
from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .. import tasks  # noqa: F401  (registers the packaged task names a run's config.json uses)
from ..adapters import train_mode
from ..data.images import read_rgb, rgb_pixels
from ..data.preprocess import task_preprocess
from ..train.build import autocast, build_base, load_trained
from ..train.config import RunConfig
from ..train.recipe import load_recipe
from ..train.run_folder import read_run_config
from .results import BinaryMask, ClassProbabilities, DepthMap, GeneratedImage


class Predictor:
    """A task and its model (eval mode) ready to predict one image (or, for text2image, one prompt).

    ``predict(image)`` takes an ``H x W x 3`` uint8 RGB array, a PIL image or an image path and
    returns a ``ClassProbabilities``, ``DepthMap`` or ``BinaryMask`` at the image's size;
    ``predict(prompt, seed=0)`` returns a ``GeneratedImage``. ``classes`` is the class-name list of
    a classification task (None for other tasks)."""

    def __init__(self, task: Any, model: nn.Module, config: RunConfig, precision: str = "fp32") -> None:
        # a task's own predict_image wins; else the built-in function of the registered task name
        self.kind = CUSTOM if callable(getattr(task, "predict_image", None)) else config.task
        if self.kind not in PREDICTORS:
            raise ValueError(f"task {config.task!r} has no single-input prediction: give its Task class a "
                             "predict_image(model, rgb) member (lava_vision/train/task.py, docs/custom-tasks.md); "
                             f"built in for {sorted(k for k in PREDICTORS if k != CUSTOM)}")
        self.task, self.model, self.config, self.precision = task, model.eval(), config, precision
        self.preprocess = task_preprocess(task)

    @property
    def classes(self) -> list[str] | None:
        return list(self.task.classes) if hasattr(self.task, "classes") else None

    @property
    def device(self) -> torch.device:
        p = next(self.model.parameters(), None)
        return p.device if p is not None else torch.device("cpu")

    def predict(self, item: Any, seed: int = 0) -> ClassProbabilities | DepthMap | BinaryMask | GeneratedImage:
        if self.kind != "text2image":
            item = as_rgb(item)
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.no_grad(), autocast(self.precision, self.device):
                return PREDICTORS[self.kind](self, item, seed)
        finally:
            if was_training:
                train_mode(self.model)  # frozen norms stay in eval, as the trainer keeps them

    def model_input(self, rgb: np.ndarray) -> torch.Tensor:
        """``1 x 3 x h x w`` on the model's device, as the task's evaluation transform makes it."""
        return self.preprocess(rgb).to(self.device)


def as_rgb(item: Any) -> np.ndarray:
    """An image path, PIL image or array -> ``H x W x 3`` uint8 RGB (paths and PIL images by
    ``data.images.read_rgb``'s colour rule)."""
    if isinstance(item, (str, os.PathLike)):
        return read_rgb(item)
    if hasattr(item, "convert") and hasattr(item, "size"):  # PIL.Image: the colour rule of read_rgb
        item = rgb_pixels(item, f"the given {type(item).__name__} (mode {item.mode})")
    item = np.asarray(item)
    if item.ndim != 3 or item.shape[2] != 3 or item.dtype != np.uint8:
        raise ValueError(f"predict: expected an H x W x 3 uint8 RGB image, got shape {item.shape} {item.dtype}")
    return item


def _classification(p: Predictor, rgb: np.ndarray, seed: int) -> ClassProbabilities:
    probs = p.task.predict(p.model, {"image": p.model_input(rgb)})["probs"][0]
    return ClassProbabilities(p.classes, probs.float().cpu().numpy())


def to_native_size(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``B x 1 x h x w`` -> ``B x 1 x H x W``, bilinear (align_corners=False, as evaluation upsamples);
    a square model input is stretched back to the image's aspect (the inverse of the squashing resize)."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=False)


def _depth(p: Predictor, rgb: np.ndarray, seed: int) -> DepthMap:
    # DepthTask.predict resizes to the ground truth's size; with no ground truth, a zero-stride
    # placeholder of the image's size asks for the prediction at the image's own size.
    size_only = torch.zeros(()).expand(1, *rgb.shape[:2])
    depth = p.task.predict(p.model, {"image": p.model_input(rgb), "depth": size_only, "id": ["input"]})[0]
    d = p.task.data  # clamped as evaluation scores it
    return DepthMap(depth.float().clamp(d.min_depth, d.max_depth).cpu().numpy())


def _segmentation(p: Predictor, rgb: np.ndarray, seed: int) -> BinaryMask:
    prob = p.task.predict(p.model, {"image": p.model_input(rgb)})  # 1 x 1 x s x s at the model's input size
    return BinaryMask(to_native_size(prob.float(), tuple(rgb.shape[:2]))[0, 0].cpu().numpy())


def _text2image(p: Predictor, prompt: Any, seed: int) -> GeneratedImage:
    if not isinstance(prompt, str):
        raise ValueError(f"predict: text2image takes a prompt string, got {type(prompt).__name__}")
    m, size = p.task.model_cfg, p.task.data_cfg.resolution
    image = p.model(mode="generate", prompts=[prompt], seeds=[int(seed)], height=size, width=size,
                    steps=m.inference_steps, guidance_scale=m.guidance_scale)[0]
    rgb = (image.float().clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255).round().astype(np.uint8)
    return GeneratedImage(rgb, prompt, int(seed))


def _custom(p: Predictor, rgb: np.ndarray, seed: int) -> Any:
    return p.task.predict_image(p.model, rgb)


CUSTOM = "custom"  # Predictor.kind of a task with its own predict_image
PREDICTORS: dict[str, Callable[[Predictor, Any, int], Any]] = {
    "classification": _classification, "depth": _depth, "segmentation": _segmentation, "text2image": _text2image,
    CUSTOM: _custom}


def load_run(run: str | os.PathLike | None = None, recipe: str | os.PathLike | RunConfig | None = None,
             device: str | torch.device = "cpu", precision: str = "fp32") -> Predictor:
    """A Predictor for a trained run (``run``: a run folder -> best/, else last/; or an adapter
    folder), built from ``recipe`` (a recipe file or RunConfig) or else the run folder's
    ``config.json``. ``run=None`` gives the base model of ``recipe`` without adapter."""
    if isinstance(recipe, RunConfig):
        cfg = recipe
    elif recipe is not None:
        cfg = load_recipe(recipe)
    elif run is not None:
        cfg = read_run_config(run)  # config.json of the run folder (or of the run holding this best/, last/)
    else:
        raise ValueError("load_run: give a run folder, a recipe, or both")
    task, model = load_trained(cfg, run) if run is not None else build_base(cfg)
    return Predictor(task, model.to(device), cfg, precision)

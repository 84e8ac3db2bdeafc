"""Task registry: a task name -> "module:Class", imported only when asked for, so
``import lava_vision`` stays light and a user of one task need not install the others."""
from __future__ import annotations

import importlib

TASKS: dict[str, str] = {
    "classification": "lava_vision.tasks.classification.task:ClassificationTask",
    "depth": "lava_vision.tasks.depth.task:DepthTask",
    "segmentation": "lava_vision.tasks.segmentation.task:SegmentationTask",
    "text2image": "lava_vision.tasks.text2image.task:TextToImageTask",
}


def get_task(name: str) -> type:
    """The task class registered under ``name``."""
    if name not in TASKS:
        raise KeyError(f"unknown task {name!r}; known tasks: {sorted(TASKS)}")
    module, _, cls = TASKS[name].partition(":")
    return getattr(importlib.import_module(module), cls)

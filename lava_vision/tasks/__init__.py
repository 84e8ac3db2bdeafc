"""The packaged tasks, registered by name into the engine's task registry
(``lava_vision.train.task``): a name -> "module:Class", imported only when asked for, so a
user of one task need not install the others' libraries.

A recipe names a packaged task (``task="depth"``) or a Task class of its own as
``task="package.module:Class"`` (importable: an installed package, or its folder on PYTHONPATH);
either way the class is checked against the Task protocol (``lava_vision/train/task.py``).
"""
from __future__ import annotations

from ..train.task import TASKS, get_task, register_task

register_task("classification", "lava_vision.tasks.classification.task:ClassificationTask")
register_task("depth", "lava_vision.tasks.depth.task:DepthTask")
register_task("segmentation", "lava_vision.tasks.segmentation.task:SegmentationTask")
register_task("text2image", "lava_vision.tasks.text2image.task:TextToImageTask")

__all__ = ["TASKS", "get_task", "register_task"]

"""Task registry: a task name -> "module:Class", imported only when asked for, so
``import lava_vision`` stays light and a user of one task need not install the others.

A recipe names a packaged task (``task="depth"``) or a Task class of its own as
``task="package.module:Class"`` (importable: an installed package, or its folder on PYTHONPATH);
either way the class is checked against the Task protocol (``lava_vision/train/task.py``).
"""
from __future__ import annotations

import importlib

TASKS: dict[str, str] = {
    "classification": "lava_vision.tasks.classification.task:ClassificationTask",
    "depth": "lava_vision.tasks.depth.task:DepthTask",
    "segmentation": "lava_vision.tasks.segmentation.task:SegmentationTask",
    "text2image": "lava_vision.tasks.text2image.task:TextToImageTask",
}


def get_task(name: str) -> type:
    """The task class registered under ``name``, or the class ``name`` points at as ``"module:Class"``."""
    from ..train.task import TaskError, check_task_class

    target = TASKS.get(name)
    if target is None:
        if ":" not in name:
            raise KeyError(f"unknown task {name!r}; known tasks: {sorted(TASKS)}, or a Task class of your own "
                           "as task='package.module:Class'")
        target = name
    module_name, _, cls_name = target.partition(":")
    if not module_name or not cls_name.isidentifier():
        raise TaskError(f"task={name!r}: expected 'package.module:Class'")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name is None or not (module_name == e.name or module_name.startswith(e.name + ".")):
            raise  # the module exists but imports something missing: its own traceback says what
        raise TaskError(f"task={name!r}: no module named {module_name!r}; install its package or put the "
                        "folder holding it on PYTHONPATH (e.g. PYTHONPATH=. python tools/train.py ...)") from e
    cls = getattr(module, cls_name, None)
    if cls is None:
        raise TaskError(f"task={name!r}: module {module_name!r} ({module.__file__}) has no {cls_name!r}")
    check_task_class(cls, f"task={name!r}")
    return cls

"""Scalars of a run to TensorBoard (``tb/``) and to a JSON-lines file (``log.jsonl``), main process only."""
from __future__ import annotations

import json
import time
from pathlib import Path


class RunLog:
    """``log(step, {"loss": ...}, kind="train")`` writes one JSON line and one TB scalar per value."""

    def __init__(self, run_dir: Path, enabled: bool = True) -> None:
        self.enabled = enabled
        self.writer = None
        if enabled:
            from torch.utils.tensorboard import SummaryWriter  # imported here: slow, main process only

            self.writer = SummaryWriter(str(run_dir / "tb"))
            self.path = run_dir / "log.jsonl"

    def log(self, step: int, values: dict[str, float], kind: str = "train", **extra: object) -> None:
        if not self.enabled:
            return
        record = {"kind": kind, "step": step, "time": round(time.time(), 3), **extra,
                  **{k: float(v) for k, v in values.items()}}
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")
        for k, v in values.items():
            self.writer.add_scalar(f"{kind}/{k}", float(v), step)
        self.writer.flush()

    def log_images(self, step: int, paths: list[Path], tag: str = "pictures") -> None:
        """The evaluation's PNG panels as TensorBoard images (``tag/<file stem>``)."""
        if not self.enabled or not paths:
            return
        import numpy as np
        from PIL import Image

        for p in paths:
            with Image.open(p) as im:
                self.writer.add_image(f"{tag}/{p.stem}", np.asarray(im.convert("RGB")), step, dataformats="HWC")
        self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


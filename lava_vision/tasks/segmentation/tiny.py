"""A ~90k-parameter SAM from segment-anything's own classes (64 px input, 32x32 logits), saved
as an official-format state dict: the offline stand-in for sam_vit_b in tests and the synthetic
recipe.  ``python -m lava_vision.tasks.segmentation.tiny runs/tiny_sam.pth``"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from .config import TINY
from .model import build_sam

__all__ = ["TINY", "save_tiny_sam"]


def save_tiny_sam(path: str | Path, seed: int = 0) -> Path:
    """Write a randomly initialised tiny SAM's state dict to ``path`` (as ``torch.save`` of the
    official checkpoints) and return the path."""
    torch.manual_seed(seed)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(build_sam("custom", TINY).state_dict(), path)
    return path


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    print(save_tiny_sam(parser.parse_args().out, parser.parse_args().seed))

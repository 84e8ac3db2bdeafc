"""A ~90k-parameter SAM from segment-anything's own classes (64 px input, 32x32 logits), saved
as an official-format state dict: the offline stand-in for sam_vit_b in tests and the synthetic
recipe.  ``python -m lava_vision.tasks.segmentation.tiny runs/tiny_sam.pth``"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from .config import SamArchConfig

TINY = SamArchConfig(image_size=64, patch_size=8, embed_dim=32, depth=2, num_heads=2, global_attn_indexes=(1,),
                     window_size=4, prompt_dim=32, decoder_depth=2, decoder_mlp_dim=64, decoder_heads=2,
                     iou_head_hidden_dim=32, mask_in_chans=16)


def save_tiny_sam(path: str | Path, seed: int = 0) -> Path:
    """Write a randomly initialised tiny SAM's state dict to ``path`` (as ``torch.save`` of the
    official checkpoints) and return the path."""
    from .model import build_sam

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

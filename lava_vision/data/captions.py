"""Captioned image folders for text-to-image fine-tuning.

Two layouts, both flat folders of images:
  * Hugging Face imagefolder: ``metadata.jsonl`` with one ``{"file_name": ..., "text": ...}``
    object per line (the caption key is configurable);
  * DreamBooth: no metadata needed, one ``instance_prompt`` for every image.

Training transforms follow diffusers' SDXL LoRA script: resize the short side to ``resolution``
(bilinear), centre or random crop to ``resolution x resolution``, optional horizontal flip. SDXL
is conditioned on the original size and the crop's top-left corner, so both are returned.
"""
from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from ..jsonl import read_jsonl
from .images import open_rgb

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".webp", ".bmp")


def read_captions(root: str | Path, caption_key: str = "text", instance_prompt: str = "") -> list[tuple[Path, str]]:
    """(image path, caption) pairs of a folder, sorted by file name.

    With ``instance_prompt`` every image in ``root`` gets that caption; otherwise ``metadata.jsonl``
    must list each image's ``file_name`` and ``caption_key``. Errors name the file and line.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"image folder {root} does not exist: set data.root (data.val_root for validation "
                                "images); datasets/text2image/README.md says how to get and lay out a dataset")
    if instance_prompt:
        files = sorted(p for p in root.iterdir() if p.suffix.lower() in IMAGE_EXTS)
        if not files:
            raise FileNotFoundError(f"{root}: no images ({', '.join(IMAGE_EXTS)})")
        return [(p, instance_prompt) for p in files]
    meta = root / "metadata.jsonl"
    if not meta.is_file():
        raise FileNotFoundError(f"{meta} is missing: write one line {{\"file_name\": ..., \"{caption_key}\": ...}} "
                                "per image, or set data.instance_prompt for DreamBooth-style training")
    pairs = []
    for lineno, row in read_jsonl(meta):
        for key in ("file_name", caption_key):
            if key not in row:
                raise ValueError(f"{meta}:{lineno}: missing key {key!r} (has {sorted(row)})")
        caption = row[caption_key]
        if isinstance(caption, list):  # several captions: the first is the canonical one
            caption = caption[0] if caption else ""
        path = root / row["file_name"]
        if not path.is_file():
            raise FileNotFoundError(f"{meta}:{lineno}: image {path} does not exist")
        pairs.append((path, str(caption)))
    if not pairs:
        raise ValueError(f"{meta}: no entries")
    return sorted(pairs, key=lambda p: p[0].name)


def resize_crop_flip(image: Image.Image, resolution: int, center_crop: bool, flip: bool,
                     rng: random.Random) -> tuple[Image.Image, tuple[int, int], tuple[int, int]]:
    """Resize the short side to ``resolution``, crop a square, maybe flip.

    Returns (image, original (height, width), crop top-left (top, left) in resized pixels). After a
    flip the recorded left edge is the mirrored one, ``resized_width - left - resolution``, so it
    still says where the visible content sat in the resized image.
    """
    original = (image.height, image.width)
    scale = resolution / min(image.height, image.width)
    new_w, new_h = max(resolution, round(image.width * scale)), max(resolution, round(image.height * scale))
    image = image.resize((new_w, new_h), Image.BILINEAR)
    if center_crop:
        top, left = (new_h - resolution) // 2, (new_w - resolution) // 2
    else:
        top, left = rng.randint(0, new_h - resolution), rng.randint(0, new_w - resolution)
    image = image.crop((left, top, left + resolution, top + resolution))
    if flip:
        image = image.transpose(Image.FLIP_LEFT_RIGHT)
        left = new_w - left - resolution
    return image, original, (top, left)


def to_tensor(image: Image.Image) -> torch.Tensor:
    """PIL RGB -> ``3 x H x W`` float in [0, 1]."""
    return torch.from_numpy(np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0).permute(2, 0, 1)


class CaptionedImages(Dataset):
    """Training samples: ``pixel_values`` (3 x R x R in [-1, 1]), ``input_ids_one`` / ``input_ids_two``
    (L, from the two tokenizers), ``time_ids`` (6: original h, w, crop top, left, target h, w),
    ``caption`` and ``cache_key`` (names the exact crop/flip, for latent caching).

    ``tokenizers`` are transformers tokenizers (none: no ``input_ids``). Crop and flip draws come
    from torch's RNG, which the trainer seeds and the DataLoader reseeds per worker.
    """

    def __init__(self, pairs: list[tuple[Path, str]], resolution: int, tokenizers: list | None = None,
                 center_crop: bool = False, random_flip: bool = False):
        self.pairs = pairs
        self.resolution = resolution
        self.tokenizers = tokenizers or []
        self.center_crop = center_crop
        self.random_flip = random_flip

    def __len__(self) -> int:
        return len(self.pairs)

    def tokenize(self, caption: str) -> list[torch.Tensor]:
        return [tok(caption, padding="max_length", max_length=tok.model_max_length, truncation=True,
                    return_tensors="pt").input_ids[0] for tok in self.tokenizers]

    def __getitem__(self, index: int) -> dict:
        path, caption = self.pairs[index]
        image = open_rgb(path)  # a truncated or unreadable file raises naming it
        rng = random.Random(int(torch.randint(0, 2**31 - 1, ()).item()))
        flip = self.random_flip and rng.random() < 0.5
        image, original, (top, left) = resize_crop_flip(image, self.resolution, self.center_crop, flip, rng)
        sample = {
            "pixel_values": to_tensor(image) * 2.0 - 1.0,
            "time_ids": torch.tensor([*original, top, left, self.resolution, self.resolution], dtype=torch.float32),
            "caption": caption,
            "cache_key": f"{path.name}|{top},{left}|{int(flip)}",
        }
        for i, ids in enumerate(self.tokenize(caption)):
            sample[("input_ids_one", "input_ids_two")[i]] = ids
        return sample


class PromptSeeds(Dataset):
    """Validation samples: every (caption, seed) pair, with the real image (3 x R x R in [0, 1],
    centre-cropped) when the caption came from an image; ``id`` names both."""

    def __init__(self, pairs: list[tuple[Path | None, str]], seeds: list[int], resolution: int):
        self.items = [(p, c, s) for p, c in pairs for s in seeds]
        self.resolution = resolution
        self.has_images = all(p is not None for p, _ in pairs)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict:
        path, caption, seed = self.items[index]
        sample = {"prompt": caption, "seed": seed,
                  "id": f"{path.stem if path else 'prompt'}_{index:04d}_seed{seed}"}
        if self.has_images:
            image, _, _ = resize_crop_flip(open_rgb(path), self.resolution, True, False,
                                           random.Random(0))
            sample["image"] = to_tensor(image)
        return sample

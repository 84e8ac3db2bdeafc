"""Generated captioned images for offline tests and the tiny recipe: coloured shapes on a
plain background, saved as an imagefolder with ``metadata.jsonl`` captions."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

COLOURS = {"red": (220, 40, 40), "green": (40, 180, 60), "blue": (40, 80, 220), "yellow": (230, 210, 40)}
SHAPES = ("square", "circle")


def write_captioned_images(root: str | Path, count: int = 8, size: int = 32, seed: int = 0) -> Path:
    """Write ``count`` PNGs of ``size x size`` and their ``metadata.jsonl`` into ``root`` (kept if
    already complete). Caption: "a 3d icon of a <colour> <shape>". Sizes vary a little (w != h for
    odd indices) so the resize/crop path and original-size time ids get exercised."""
    root = Path(root)
    meta = root / "metadata.jsonl"
    if meta.is_file() and len(meta.read_text().splitlines()) == count:
        return root
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    lines = []
    for i in range(count):
        colour = list(COLOURS)[i % len(COLOURS)]
        shape = SHAPES[(i // len(COLOURS)) % len(SHAPES)]
        w, h = (size + (size // 4) * (i % 2), size)
        bg = tuple(int(v) for v in rng.integers(200, 256, 3))
        img = Image.new("RGB", (w, h), bg)
        draw = ImageDraw.Draw(img)
        m = size // 5
        box = (m + (w - size) // 2, m, w - m - (w - size) // 2, h - m)
        (draw.rectangle if shape == "square" else draw.ellipse)(box, fill=COLOURS[colour])
        name = f"{i:03d}.png"
        img.save(root / name)
        lines.append(json.dumps({"file_name": name, "text": f"a 3d icon of a {colour} {shape}"}))
    meta.write_text("\n".join(lines) + "\n")
    return root

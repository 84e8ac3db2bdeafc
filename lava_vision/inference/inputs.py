"""Reading a user's inputs: images (a file or a folder of them) and prompt files."""
from __future__ import annotations

import os
from pathlib import Path

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def list_images(file_or_folder: str | os.PathLike) -> list[Path]:
    """One image file, or the image files directly inside a folder (sorted by name). Raises when
    nothing is found or when two files would write the same outputs (same name, other suffix)."""
    path = Path(file_or_folder)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise FileNotFoundError(f"--input {path}: no such file or folder")
    files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise FileNotFoundError(f"--input {path}: no image files ({', '.join(IMAGE_SUFFIXES)}) in this folder")
    seen: dict[str, Path] = {}
    for f in files:
        if f.stem in seen:
            raise ValueError(f"--input {path}: {seen[f.stem].name} and {f.name} would write the same output "
                             "files; rename one")
        seen[f.stem] = f
    return files


def read_prompts(path: str | os.PathLike) -> list[str]:
    """A text file with one prompt per line (blank lines skipped)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"--input {path}: no such prompt file (text, one prompt per line)")
    prompts = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not prompts:
        raise ValueError(f"--input {path}: no prompt in this file (one prompt per line)")
    return prompts

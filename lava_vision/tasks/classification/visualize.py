"""Pictures for classification: one panel per sample (image, true vs predicted label, top-5
probabilities) and the confusion matrix of a whole evaluation."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch


def _figure(*args, **kwargs):
    import matplotlib

    matplotlib.use("Agg")  # files only; never needs a display
    import matplotlib.pyplot as plt

    return plt, plt.subplots(*args, **kwargs)


def denormalize(image: torch.Tensor, mean: tuple, std: tuple) -> np.ndarray:
    """``3 x H x W`` normalised tensor -> ``H x W x 3`` float image in [0, 1]."""
    m = torch.tensor(mean, dtype=image.dtype, device=image.device)[:, None, None]
    s = torch.tensor(std, dtype=image.dtype, device=image.device)[:, None, None]
    return (image * s + m).clamp(0, 1).permute(1, 2, 0).float().cpu().numpy()


def safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)[:80]


def sample_panels(images: torch.Tensor, labels: torch.Tensor, probs: torch.Tensor, ids: list[str],
                  class_names: list[str], mean: tuple, std: tuple, out_dir: Path,
                  start_index: int) -> list[Path]:
    """``images`` B x 3 x H x W (normalised), ``labels`` B, ``probs`` B x C -> one PNG each."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    k = min(5, probs.shape[1])
    for i in range(images.shape[0]):
        top_p, top_c = probs[i].float().topk(k)
        true, pred = int(labels[i]), int(top_c[0])
        plt, (fig, (ax_img, ax_bar)) = _figure(1, 2, figsize=(6, 3), gridspec_kw={"width_ratios": [1, 1.3]})
        ax_img.imshow(denormalize(images[i], mean, std), interpolation="nearest")
        ax_img.set_title(f"true: {class_names[true]}\npred: {class_names[pred]}",
                         color="green" if true == pred else "red", fontsize=9)
        ax_img.axis("off")
        colors = ["green" if int(c) == true else "grey" for c in top_c]
        ax_bar.barh(range(k)[::-1], top_p.cpu().numpy(), color=colors)
        ax_bar.set_yticks(range(k)[::-1], [class_names[int(c)] for c in top_c], fontsize=8)
        ax_bar.set_xlim(0, 1)
        ax_bar.set_xlabel("probability", fontsize=8)
        fig.tight_layout()
        path = out_dir / f"{start_index + i:05d}_{safe_name(ids[i])}.png"
        fig.savefig(path, dpi=80, bbox_inches="tight")
        plt.close(fig)
        paths.append(path)
    return paths


def plot_confusion_matrix(counts: torch.Tensor, class_names: list[str], path: Path,
                          title: str = "") -> Path:
    """Row-normalised confusion matrix (true class per row), with counts printed when small."""
    counts = counts.cpu().double()
    rows = counts.sum(dim=1, keepdim=True).clamp(min=1)
    frac = (counts / rows).numpy()
    n = len(class_names)
    side = min(max(4.0, 0.45 * n + 2), 24.0)
    plt, (fig, ax) = _figure(figsize=(side, side))
    im = ax.imshow(frac, cmap="Blues", vmin=0, vmax=1)
    if n <= 20:
        ax.set_xticks(range(n), class_names, rotation=90, fontsize=8)
        ax.set_yticks(range(n), class_names, fontsize=8)
        for t in range(n):
            for p in range(n):
                if counts[t, p] > 0:
                    ax.text(p, t, int(counts[t, p]), ha="center", va="center", fontsize=7,
                            color="white" if frac[t, p] > 0.5 else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    acc = float(counts.diagonal().sum() / counts.sum().clamp(min=1))
    ax.set_title(f"{title} accuracy {100 * acc:.1f}%".strip())
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path

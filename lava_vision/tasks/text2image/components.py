"""Load SDXL's components from a hub id or a local diffusers folder, with an optional separate VAE.

A local folder is checked up front, so a missing component is reported by name instead of as a
deep library error; nothing ever falls back to random weights.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import T2IModelConfig

COMPONENTS = ("unet", "vae", "text_encoder", "text_encoder_2", "tokenizer", "tokenizer_2", "scheduler")


@dataclass
class SDXLComponents:
    unet: Any  # UNet2DConditionModel
    vae: Any  # AutoencoderKL
    text_encoder: Any  # CLIPTextModel
    text_encoder_2: Any  # CLIPTextModelWithProjection
    tokenizer: Any  # CLIPTokenizer
    tokenizer_2: Any  # CLIPTokenizer
    noise_scheduler: Any  # DDPMScheduler, for training
    sampler: Any  # the folder's own scheduler class (Euler for SDXL base), for generation


def _is_local(name: str) -> bool:
    return Path(name).exists() or name.startswith((".", "/", "~")) or name.count("/") > 1


def check_folder(pretrained: str, vae: str = "") -> None:
    """Raise FileNotFoundError naming the missing folder or component of a local model."""
    if _is_local(pretrained):
        root = Path(pretrained).expanduser()
        if not root.is_dir():
            raise FileNotFoundError(f"model.pretrained={pretrained!r}: folder does not exist")
        needed = [c for c in COMPONENTS if not (c == "vae" and vae)]
        missing = [c for c in needed if not (root / c).is_dir()]
        if missing:
            raise FileNotFoundError(f"model.pretrained={pretrained!r}: missing component folder(s) {missing}; "
                                    f"an SDXL diffusers folder holds {list(COMPONENTS)}")
    if vae and _is_local(vae) and not (Path(vae).expanduser() / "config.json").is_file():
        raise FileNotFoundError(f"model.vae={vae!r}: no config.json there (expected an AutoencoderKL folder)")


def _load(what: str, fn, source: str, key: str = "model.pretrained", **kwargs):
    """``fn(source, **kwargs)``; a failure names ``key``, and for a hub id says how to get it offline."""
    try:
        return fn(source, **kwargs)
    except (OSError, ValueError) as e:
        detail = f"{type(e).__name__}: {' '.join(str(e).split())}"
        if _is_local(source):
            raise FileNotFoundError(f"{key}={source!r}: cannot load the SDXL {what} ({detail})") from e
        folder = "an AutoencoderKL folder" if key == "model.vae" else "a diffusers folder"
        raise FileNotFoundError(
            f"{key}: could not load {source!r} (SDXL {what}) from the Hugging Face hub or its local cache "
            f"({detail}). Download it while online (`hf download {source}`) or set {key} to {folder} "
            "on disk.") from e


def load_tokenizers(cfg: T2IModelConfig) -> tuple[Any, Any]:
    """The two CLIP tokenizers (light: no weights)."""
    from transformers import CLIPTokenizer

    check_folder(cfg.pretrained, cfg.vae)
    return (_load("tokenizer", CLIPTokenizer.from_pretrained, cfg.pretrained, subfolder="tokenizer"),
            _load("tokenizer_2", CLIPTokenizer.from_pretrained, cfg.pretrained, subfolder="tokenizer_2"))


def load_components(cfg: T2IModelConfig) -> SDXLComponents:
    """Every SDXL component, in float32 on the CPU (the trainer moves and autocasts them)."""
    import diffusers
    from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    check_folder(cfg.pretrained, cfg.vae)
    variant = {"variant": cfg.variant} if cfg.variant else {}
    root = cfg.pretrained
    unet = _load("unet", UNet2DConditionModel.from_pretrained, root, subfolder="unet", **variant)
    if unet.config.addition_embed_type != "text_time":
        raise ValueError(f"{root}/unet: addition_embed_type={unet.config.addition_embed_type!r}, an SDXL UNet "
                         "has 'text_time' (is this an SD 1.x/2.x model?)")
    if cfg.vae:
        vae = _load("vae", AutoencoderKL.from_pretrained, cfg.vae, key="model.vae")
    else:
        vae = _load("vae", AutoencoderKL.from_pretrained, root, subfolder="vae", **variant)
    te1 = _load("text_encoder", CLIPTextModel.from_pretrained, root, subfolder="text_encoder", **variant)
    te2 = _load("text_encoder_2", CLIPTextModelWithProjection.from_pretrained, root, subfolder="text_encoder_2",
                **variant)
    tok1, tok2 = load_tokenizers(cfg)
    noise_scheduler = _load("scheduler", DDPMScheduler.from_pretrained, root, subfolder="scheduler")
    raw = DDPMScheduler.load_config(root, subfolder="scheduler")  # keeps the file's own _class_name
    sampler_cls = getattr(diffusers, raw.get("_class_name", ""), None)
    if sampler_cls is None:
        raise ValueError(f"{root}/scheduler: unknown scheduler class {raw.get('_class_name')!r}")
    sampler = _load("scheduler", sampler_cls.from_pretrained, root, subfolder="scheduler")
    for m in (unet, vae, te1, te2):
        m.requires_grad_(False)
    return SDXLComponents(unet, vae, te1, te2, tok1, tok2, noise_scheduler, sampler)

"""The text2image task's config sections (data only: they round-trip through JSON)."""
from __future__ import annotations

from dataclasses import dataclass, field

from ...train.validate import check_image_side


@dataclass
class T2IMetricsConfig:
    """Evaluation networks. FIDs from different feature networks are not comparable, so each metric
    key names its network (``fid_inception2048``, ``fid_clip``, ``clip_score``).

    fid_features: ``inception`` (torchmetrics / torch-fidelity InceptionV3 pool features, the
        standard FID; needs ``inception_weights`` = a local torch-fidelity
        ``weights-inception-2015-12-05-6726825d.pth``, or torch-fidelity's own download), ``clip``
        (the image embeddings of ``clip_model``) or ``none``.
    clip_model: local folder or hub id of a transformers ``CLIPModel`` + ``CLIPProcessor``, for CLIP
        score (and ``fid_features="clip"``); empty: no CLIP score.
    """

    fid_features: str = "inception"
    inception_weights: str = ""
    clip_model: str = ""


@dataclass
class T2IModelConfig:
    """SDXL components and generation settings.

    pretrained: hub id or local diffusers folder with unet/, vae/, text_encoder(_2)/, tokenizer(_2)/,
        scheduler/. vae: optional separate VAE (hub id or folder holding the VAE's config.json),
        e.g. the fp16-fixed ``madebyollin/sdxl-vae-fp16-fix``; with it the VAE runs in the mixed
        precision dtype, without it in float32 (SDXL's own VAE overflows in fp16).
    variant: weight file variant (``fp16``) or empty.
    """

    pretrained: str = "stabilityai/stable-diffusion-xl-base-1.0"
    vae: str = ""
    variant: str = ""
    train_text_encoders: bool = False  # True when the adapter targets text encoder layers
    inference_steps: int = 25
    guidance_scale: float = 5.0
    val_compare_base: bool = True  # validation also renders the base model with the same seeds
    metrics: T2IMetricsConfig = field(default_factory=T2IMetricsConfig)


@dataclass
class T2IDataConfig:
    """root: imagefolder with ``metadata.jsonl`` (or any images with ``instance_prompt``).
    val_root: images whose captions drive validation and serve as FID reals (empty: ``root``).
    val_prompts: fixed validation prompts instead (no real images, so no FID).
    val_seeds: every validation prompt is rendered once per seed.
    cache_latents: encode each (image, crop, flip) once; needs ``center_crop`` (random crops never repeat).
    """

    root: str = ""
    caption_key: str = "text"
    instance_prompt: str = ""
    resolution: int = 1024
    center_crop: bool = False
    random_flip: bool = False
    cache_latents: bool = False
    val_root: str = ""
    val_prompts: list[str] = field(default_factory=list)
    val_seeds: list[int] = field(default_factory=lambda: [0])

    def validate(self) -> None:
        """Image sides in range (``train.validate.check_config`` calls it)."""
        check_image_side("data.resolution", self.resolution)


@dataclass
class T2ILossConfig:
    """prediction_type: ``epsilon`` / ``v_prediction``, empty = the scheduler's own.
    snr_gamma: Min-SNR-gamma loss weighting (Hang et al. 2023), 0 = plain MSE.
    noise_offset: std of a per-channel constant added to the noise (crosslabs' offset noise)."""

    prediction_type: str = ""
    snr_gamma: float = 0.0
    noise_offset: float = 0.0

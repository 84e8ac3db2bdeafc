"""One ``nn.Module`` holding SDXL's networks, whose ``forward`` runs a whole training step's
denoiser prediction and loss (so DDP sees every adapter parameter in one forward) or, with
``mode="generate"``, a full ``StableDiffusionXLPipeline`` sampling run.

The training step follows diffusers' ``train_text_to_image_lora_sdxl.py``: VAE latents times the
scaling factor, optional offset noise, uniform timesteps, ``time_ids`` = (original h, w, crop top,
left, target h, w), prompt embeddings = penultimate hidden states of both text encoders
concatenated, pooled embedding = text_encoder_2's projection, epsilon / v MSE with optional
Min-SNR-gamma weights.
"""
from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from torch import nn

from .components import SDXLComponents
from .config import T2ILossConfig


class SDXLDiffusion(nn.Module):
    """SDXL for fine-tuning. Submodules: ``unet``, ``vae``, ``text_encoder``, ``text_encoder_2``
    (adapter patterns see them with these prefixes, e.g. ``unet.down_blocks.1...``)."""

    def __init__(self, parts: SDXLComponents, loss: T2ILossConfig, vae_in_fp32: bool = True,
                 cache_latents: bool = False):
        super().__init__()
        self.unet = parts.unet
        self.vae = parts.vae
        self.text_encoder = parts.text_encoder
        self.text_encoder_2 = parts.text_encoder_2
        # plain attributes: not modules, so DDP / state_dict / adapter patterns never see them
        self.tokenizer, self.tokenizer_2 = parts.tokenizer, parts.tokenizer_2
        self.noise_scheduler, self.sampler = parts.noise_scheduler, parts.sampler
        self.loss_cfg = loss
        self.prediction_type = loss.prediction_type or parts.noise_scheduler.config.prediction_type
        if self.prediction_type not in ("epsilon", "v_prediction"):
            raise ValueError(f"loss.prediction_type={self.prediction_type!r}: expected epsilon or v_prediction")
        self.vae_in_fp32 = vae_in_fp32
        self.cache_latents = cache_latents
        self._latent_cache: dict[str, torch.Tensor] = {}

    # -- conditioning --------------------------------------------------------------------------
    def encode_prompt(self, input_ids_one: torch.Tensor,
                      input_ids_two: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``B x L`` token ids of each tokenizer -> (``B x L x (D1 + D2)`` penultimate hidden
        states of both encoders, ``B x P`` pooled projection of text_encoder_2)."""
        out1 = self.text_encoder(input_ids_one, output_hidden_states=True)
        out2 = self.text_encoder_2(input_ids_two, output_hidden_states=True)
        embeds = torch.cat([out1.hidden_states[-2], out2.hidden_states[-2]], dim=-1)
        return embeds, out2.text_embeds

    @torch.no_grad()
    def encode_images(self, pixel_values: torch.Tensor, keys: list[str] | None = None) -> torch.Tensor:
        """``B x 3 x H x W`` in [-1, 1] -> ``B x 4 x H/f x W/f`` latents times the scaling factor.
        With ``cache_latents`` each key is encoded (and its posterior sampled) once."""
        if self.cache_latents and keys is not None and all(k in self._latent_cache for k in keys):
            return torch.stack([self._latent_cache[k] for k in keys]).to(pixel_values.device)
        dev = pixel_values.device.type
        ctx = torch.autocast(dev, enabled=False) if self.vae_in_fp32 else contextlib.nullcontext()
        with ctx:
            x = pixel_values.float() if self.vae_in_fp32 else pixel_values.to(self.vae.dtype)
            latents = self.vae.encode(x).latent_dist.sample() * self.vae.config.scaling_factor
        if self.cache_latents and keys is not None:
            for k, lat in zip(keys, latents):
                self._latent_cache[k] = lat.detach()
        return latents

    # -- the two modes -------------------------------------------------------------------------
    def forward(self, mode: str = "loss", **inputs):
        """``mode="loss"``: ``training_loss(**inputs)``; ``mode="generate"``: ``generate(**inputs)``."""
        if mode == "loss":
            return self.training_loss(**inputs)
        if mode == "generate":
            return self.generate(**inputs)
        raise ValueError(f"SDXLDiffusion.forward: unknown mode {mode!r} (loss | generate)")

    def training_loss(self, pixel_values: torch.Tensor, input_ids_one: torch.Tensor, input_ids_two: torch.Tensor,
                      time_ids: torch.Tensor, cache_key: list[str] | None = None, **_) -> dict[str, torch.Tensor]:
        """pixel_values ``B x 3 x H x W`` in [-1, 1], input ids ``B x L``, time_ids ``B x 6``.
        Returns {"loss": weighted MSE, "mse": plain MSE (for logging)}."""
        latents = self.encode_images(pixel_values, cache_key)
        noise = torch.randn_like(latents)
        if self.loss_cfg.noise_offset:
            noise = noise + self.loss_cfg.noise_offset * torch.randn(
                latents.shape[0], latents.shape[1], 1, 1, device=latents.device, dtype=latents.dtype)
        bsz = latents.shape[0]
        timesteps = torch.randint(0, self.noise_scheduler.config.num_train_timesteps, (bsz,), device=latents.device)
        noisy = self.noise_scheduler.add_noise(latents, noise, timesteps)
        embeds, pooled = self.encode_prompt(input_ids_one, input_ids_two)
        pred = self.unet(noisy, timesteps, embeds,
                         added_cond_kwargs={"text_embeds": pooled, "time_ids": time_ids.to(embeds.dtype)}).sample
        if self.prediction_type == "epsilon":
            target = noise
        else:
            target = self.noise_scheduler.get_velocity(latents, noise, timesteps)
        per_sample = F.mse_loss(pred.float(), target.float(), reduction="none").mean(dim=(1, 2, 3))
        mse = per_sample.mean()
        if self.loss_cfg.snr_gamma > 0:
            return {"loss": (per_sample * self.min_snr_weights(timesteps)).mean(), "mse": mse.detach()}
        return {"loss": mse, "mse": mse.detach()}

    def min_snr_weights(self, timesteps: torch.Tensor) -> torch.Tensor:
        """min(SNR, gamma) / SNR for epsilon targets, min(SNR, gamma) / (SNR + 1) for v targets
        (Hang et al. 2023, as diffusers' script); SNR = alpha_bar / (1 - alpha_bar)."""
        from diffusers.training_utils import compute_snr

        snr = compute_snr(self.noise_scheduler, timesteps)
        clipped = torch.clamp(snr, max=self.loss_cfg.snr_gamma)
        return clipped / (snr + 1) if self.prediction_type == "v_prediction" else clipped / snr

    @torch.no_grad()
    def generate(self, prompts: list[str], seeds: list[int], height: int, width: int, steps: int = 25,
                 guidance_scale: float = 5.0) -> torch.Tensor:
        """One image per (prompt, seed): ``B x 3 x H x W`` in [0, 1], on this module's device.
        Same seeds give the same starting noise whatever adapters are active."""
        from diffusers import StableDiffusionXLPipeline

        pipe = StableDiffusionXLPipeline(
            vae=self.vae, text_encoder=self.text_encoder, text_encoder_2=self.text_encoder_2,
            tokenizer=self.tokenizer, tokenizer_2=self.tokenizer_2, unet=self.unet, scheduler=self.sampler,
            add_watermarker=False)
        pipe.set_progress_bar_config(disable=True)
        device = next(self.unet.parameters()).device
        gens = [torch.Generator(device="cpu").manual_seed(int(s)) for s in seeds]
        # start from CPU noise so a seed gives the same picture on any device
        latents = torch.stack([torch.randn(self.unet.config.in_channels, height // pipe.vae_scale_factor,
                                           width // pipe.vae_scale_factor, generator=g) for g in gens])
        out = pipe(list(prompts), height=height, width=width, num_inference_steps=steps,
                   guidance_scale=guidance_scale, latents=latents.to(device, self.unet.dtype), output_type="pt")
        return out.images.float().clamp(0, 1)

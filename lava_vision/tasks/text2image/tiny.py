"""Tiny SDXL-shaped components from the real diffusers/transformers classes, saved in the
diffusers folder layout, so the loading, training, generation and export code runs offline.

The sizes follow diffusers' own SDXL pipeline tests (see NOTES-ecosystem.md): a two-level UNet
with ``addition_embed_type="text_time"``, two 32-wide CLIP text encoders (the second with a
projection) whose concatenated hidden states give cross_attention_dim 64, and a 2x VAE.
The tokenizer is a byte-level CLIP BPE over single characters (no merges): 514 tokens.
"""
from __future__ import annotations

from pathlib import Path

import torch

CROSS_DIM = 64  # text_encoder hidden 32 + text_encoder_2 hidden 32
POOLED_DIM = 32  # text_encoder_2 projection_dim
TIME_DIM = 8  # addition_time_embed_dim; 6 time ids -> 48, + 32 pooled = 80


def _byte_chars() -> list[str]:
    """The 256 printable characters byte-level BPE uses for the bytes 0..255 (GPT-2 scheme)."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    chars, extra = {}, 0
    for b in range(256):
        if b in keep:
            chars[b] = chr(b)
        else:
            chars[b] = chr(256 + extra)
            extra += 1
    return [chars[b] for b in range(256)]


def tiny_tokenizer(max_length: int = 77, pad_token: str = "<|endoftext|>"):
    """A character-level ``CLIPTokenizer`` (vocab 514), no download needed."""
    from transformers import CLIPTokenizer

    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for c in _byte_chars():
        vocab[c] = len(vocab)
        vocab[c + "</w>"] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=[], pad_token=pad_token, model_max_length=max_length)


def tiny_sdxl_pipeline(seed: int = 0):
    """A randomly initialised tiny ``StableDiffusionXLPipeline`` (about 1 M parameters)."""
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64), layers_per_block=2, sample_size=16, in_channels=4, out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), attention_head_dim=(2, 4),
        use_linear_projection=True, addition_embed_type="text_time", addition_time_embed_dim=TIME_DIM,
        transformer_layers_per_block=(1, 2), projection_class_embeddings_input_dim=6 * TIME_DIM + POOLED_DIM,
        cross_attention_dim=CROSS_DIM, norm_num_groups=32)
    vae = AutoencoderKL(
        block_out_channels=[32, 64], in_channels=3, out_channels=3, latent_channels=4, sample_size=32,
        down_block_types=["DownEncoderBlock2D", "DownEncoderBlock2D"],
        up_block_types=["UpDecoderBlock2D", "UpDecoderBlock2D"])
    text_cfg = dict(bos_token_id=0, eos_token_id=1, pad_token_id=1, hidden_size=32, intermediate_size=37,
                    num_attention_heads=4, num_hidden_layers=5, vocab_size=1000, hidden_act="gelu",
                    projection_dim=POOLED_DIM, layer_norm_eps=1e-5)
    text_encoder = CLIPTextModel(CLIPTextConfig(**text_cfg))
    text_encoder_2 = CLIPTextModelWithProjection(CLIPTextConfig(**text_cfg))
    scheduler = EulerDiscreteScheduler(  # SDXL base's scheduler settings
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", num_train_timesteps=1000,
        steps_offset=1, timestep_spacing="leading", prediction_type="epsilon")
    return StableDiffusionXLPipeline(
        vae=vae, text_encoder=text_encoder, text_encoder_2=text_encoder_2, tokenizer=tiny_tokenizer(),
        tokenizer_2=tiny_tokenizer(pad_token="!"), unet=unet, scheduler=scheduler, add_watermarker=False)


def write_tiny_sdxl(directory: str | Path, seed: int = 0) -> Path:
    """Save the tiny pipeline as a diffusers folder (model_index.json, unet/, vae/, text_encoder/,
    text_encoder_2/, tokenizer/, tokenizer_2/, scheduler/) unless it is already there."""
    directory = Path(directory)
    if not (directory / "model_index.json").is_file():
        tiny_sdxl_pipeline(seed).save_pretrained(directory)
    return directory


def tiny_clip(directory: str | Path, seed: int = 0) -> Path:
    """Save a tiny ``CLIPModel`` + ``CLIPProcessor`` (32x32 images) for CLIP score / FID tests."""
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor

    directory = Path(directory)
    if (directory / "config.json").is_file():
        return directory
    torch.manual_seed(seed)
    cfg = CLIPConfig(
        text_config=dict(hidden_size=32, intermediate_size=37, num_attention_heads=4, num_hidden_layers=2,
                         vocab_size=1000, bos_token_id=0, eos_token_id=1, pad_token_id=1),
        vision_config=dict(hidden_size=32, intermediate_size=37, num_attention_heads=4, num_hidden_layers=2,
                           image_size=32, patch_size=8),
        projection_dim=16)
    CLIPModel(cfg).save_pretrained(directory)
    proc = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    CLIPProcessor(image_processor=proc, tokenizer=tiny_tokenizer()).save_pretrained(directory)
    return directory

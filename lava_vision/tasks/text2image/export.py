"""kohya key names for an adapted SDXL (``SDXLDiffusion`` or a bare diffusers UNet).

kohya / ComfyUI / A1111 / LyCORIS files name a layer ``<prefix>_<module path, dots as
underscores>`` with prefix ``lora_unet`` (UNet), ``lora_te1`` (CLIP ViT-L) or ``lora_te2``
(OpenCLIP bigG). Two UNet namings exist:

* ``sgm`` (default): the original SDXL (generative-models) module paths kohya's SDXL scripts train
  on, e.g. ``lora_unet_input_blocks_4_1_transformer_blocks_0_attn1_to_q``; what ComfyUI and A1111
  users' SDXL LoRAs use, and what diffusers' ``load_lora_weights`` maps back itself.
* ``diffusers``: diffusers' own module paths, e.g. ``lora_unet_down_blocks_1_attentions_0_...``;
  what LyCORIS' ``create_lycoris_from_weights`` matches on a diffusers UNet.

Text-encoder keys use the transformers-4 CLIP module paths in both namings, whatever transformers is
installed: ``lora_te1_text_model_encoder_layers_0_self_attn_q_proj`` (kohya's scripts, ComfyUI's and
A1111's key maps all expect the ``text_model`` part); transformers 5 dropped the ``text_model``
submodule from ``CLIPTextModel`` (not from ``CLIPTextModelWithProjection``), see ``clip_kohya_path``.
``clip_paths="installed"`` names them by the text encoders' module paths as installed instead: what
LyCORIS' ``create_lycoris_from_weights`` matches, since it names a module ``<prefix>_<its path in the
module it is given>`` (lycoris/wrapper.py); on transformers 5 that is ``lora_te1_encoder_layers_0_...``
for CLIP ViT-L, a name ComfyUI, A1111 and diffusers do not load.
"""
from __future__ import annotations

from collections.abc import Callable

from torch import nn

NAMINGS = ("sgm", "diffusers")
CLIP_PATHS = ("transformers4", "installed")
TEXT_PREFIXES = {"text_encoder": "lora_te1", "text_encoder_2": "lora_te2"}

# diffusers -> sgm inside a ResNet block, and outside the block structure
# the children of transformers' CLIPTextTransformer, which transformers 4 nests under ``text_model``
_CLIP_TRANSFORMER = ("embeddings", "encoder", "final_layer_norm")
_RESNET = {"norm1": "in_layers.0", "conv1": "in_layers.2", "time_emb_proj": "emb_layers.1",
           "norm2": "out_layers.0", "conv2": "out_layers.3", "conv_shortcut": "skip_connection"}
_TOP = {"conv_in": "input_blocks.0.0", "time_embedding.linear_1": "time_embed.0",
        "time_embedding.linear_2": "time_embed.2", "add_embedding.linear_1": "label_emb.0.0",
        "add_embedding.linear_2": "label_emb.0.2", "conv_norm_out": "out.0", "conv_out": "out.2"}


def sgm_unet_path(path: str, layers_per_block: int, up_has_attention: list[bool]) -> str | None:
    """The SGM module path of a diffusers ``UNet2DConditionModel`` module path, or None when the
    SGM UNet has no such module. Down block i, layer j is ``input_blocks.{i(L+1)+j+1}`` (resnet .0,
    attention .1) and its downsampler ``input_blocks.{(i+1)(L+1)}.0.op``; up block i, layer j is
    ``output_blocks.{i(L+1)+j}``, its upsampler the last layer's entry after the attention."""
    for d, s in _TOP.items():
        if path == d or path.startswith(d + "."):
            return s + path[len(d):]
    p = path.split(".")
    if p[0] == "mid_block":
        p.insert(1, "0")  # one mid block: give it the index the other blocks have
    if len(p) < 4 or not (p[1].isdigit() and p[3].isdigit()):
        return None
    i, kind, j, rest = int(p[1]), p[2], int(p[3]), p[4:]
    if kind not in ("resnets", "attentions", "downsamplers", "upsamplers"):
        return None
    if kind == "resnets":
        if not rest or rest[0] not in _RESNET:
            return None
        rest = _RESNET[rest[0]].split(".") + rest[1:]
    step = layers_per_block + 1
    if p[0] == "down_blocks":
        if kind == "downsamplers":
            block, rest = f"input_blocks.{(i + 1) * step}.0", ["op" if r == "conv" else r for r in rest]
        else:
            block = f"input_blocks.{i * step + j + 1}.{0 if kind == 'resnets' else 1}"
    elif p[0] == "mid_block":
        if (kind, j) not in (("resnets", 0), ("attentions", 0), ("resnets", 1)):
            return None
        block = f"middle_block.{0 if (kind, j) == ('resnets', 0) else 1 if kind == 'attentions' else 2}"
    elif p[0] == "up_blocks":
        if kind == "upsamplers":
            block = f"output_blocks.{i * step + layers_per_block}.{2 if up_has_attention[i] else 1}"
        else:
            block = f"output_blocks.{i * step + j}.{0 if kind == 'resnets' else 1}"
    else:
        return None
    return ".".join([block, *rest])


def clip_kohya_path(path: str) -> str:
    """The transformers-4 module path of a CLIP text-encoder module path: ``encoder.layers.0.mlp.fc1``
    (transformers 5's flat ``CLIPTextModel``) -> ``text_model.encoder.layers.0.mlp.fc1``; paths that
    already have ``text_model.`` and ``text_projection`` are unchanged."""
    return "text_model." + path if path.split(".", 1)[0] in _CLIP_TRANSFORMER else path


def _unet_namer(unet: nn.Module, naming: str) -> Callable[[str], str]:
    """Module path inside the UNet -> kohya key, or raise ValueError saying why there is none."""
    if naming == "diffusers":
        return lambda path: "lora_unet_" + path.replace(".", "_")
    cfg = unet.config
    lpb = cfg.layers_per_block
    if not isinstance(lpb, int):
        raise ValueError(f"naming 'sgm' needs one layers_per_block for every UNet block (got {lpb}); "
                         "use naming 'diffusers'")
    up_attn = ["CrossAttn" in t for t in cfg.up_block_types]

    def name(path: str) -> str:
        sgm = sgm_unet_path(path, lpb, up_attn)
        if sgm is None:
            raise ValueError(f"UNet module {path!r} has no SGM (kohya SDXL) name; use naming 'diffusers'")
        return "lora_unet_" + sgm.replace(".", "_")
    return name


def kohya_namer(model: nn.Module, naming: str = "sgm", clip_paths: str = "transformers4") -> Callable[[str], str]:
    """For an adapted ``SDXLDiffusion`` (submodules unet / text_encoder / text_encoder_2) or a bare
    diffusers UNet: adapter layer name -> kohya key stem (ValueError with the reason when none).
    ``clip_paths``: text-encoder keys from transformers 4's module paths (the default, what kohya's
    scripts, ComfyUI, A1111 and diffusers read) or from the ``installed`` transformers' (LyCORIS)."""
    if naming not in NAMINGS:
        raise ValueError(f"kohya naming {naming!r}: expected one of {NAMINGS}")
    if clip_paths not in CLIP_PATHS:
        raise ValueError(f"kohya clip_paths {clip_paths!r}: expected one of {CLIP_PATHS}")
    clip_path = clip_kohya_path if clip_paths == "transformers4" else str
    if type(model).__name__ == "UNet2DConditionModel":
        return _unet_namer(model, naming)
    if not isinstance(getattr(model, "unet", None), nn.Module):
        raise ValueError(f"the kohya format names SDXL layers (ComfyUI / A1111 / diffusers); a "
                         f"{type(model).__name__} has none: export it as 'peft' or 'merged'")
    unet = _unet_namer(model.unet, naming)

    def name(layer: str) -> str:
        head, _, rest = layer.partition(".")
        if head == "unet" and rest:
            return unet(rest)
        if head in TEXT_PREFIXES and rest:
            return f"{TEXT_PREFIXES[head]}_{clip_path(rest).replace('.', '_')}"
        raise ValueError(f"{head!r} is not a UNet or text encoder: kohya files have no key for it")
    return name

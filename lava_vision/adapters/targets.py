"""Pattern matching on qualified module names, and the named presets per model family.

A pattern is one of:
  * a glob on the qualified name: ``blocks.*.attn.qkv`` (``fnmatch``, ``*`` crosses dots);
  * a regular expression: ``re:blocks\\.(0|1)\\..*`` (full match);
  * a layer type: ``type:Conv2d`` (the class name of the module, exact).
"""
from __future__ import annotations

import difflib
import fnmatch
import re

from torch import nn

# Targets for the model families this project serves. Each was checked against the tiny
# same-class models in tests/test_presets.py.
PRESETS: dict[str, dict] = {
    # timm / torchvision CNNs: every convolution (the paper's section 3 toy experiment).
    "cnn": {"targets": ["type:Conv2d"]},
    # timm ViTs: attention and MLP linears.
    "timm_vit": {"targets": ["*.attn.qkv", "*.attn.proj", "*.mlp.fc1", "*.mlp.fc2"]},
    # segment-anything SAM: encoder attention/MLP linears and neck convs, decoder linears and
    # upscaling transposed convs; prompt encoder and IoU head stay frozen.
    "sam": {
        "targets": ["image_encoder.blocks.*.attn.qkv", "image_encoder.blocks.*.attn.proj",
                    "image_encoder.blocks.*.mlp.lin1", "image_encoder.blocks.*.mlp.lin2",
                    "image_encoder.neck.*", "mask_decoder.transformer.*",
                    "mask_decoder.output_upscaling.*",
                    # prompt-free, one mask token: only the first hypernetwork MLP is used
                    "mask_decoder.output_hypernetworks_mlps.0.*"],
        "excludes": ["type:LayerNorm", "type:LayerNorm2d"],
    },
    # transformers Depth-Anything: DINOv2 attention/MLP linears (5.x and 4.x names) and every
    # conv / transposed conv of the DPT neck and head.
    "depth_anything": {
        "targets": ["re:backbone\\.encoder\\.layer\\.\\d+\\.(attention\\.(attention\\.)?"
                    "(q_proj|k_proj|v_proj|o_proj|query|key|value|output\\.dense)|"
                    "mlp\\.(fc1|fc2))",
                    "re:(neck|head)\\..*"],
        "excludes": ["type:BatchNorm2d", "type:LayerNorm", "type:Identity"],
        # the last head conv has one output channel: its CP rank is at most 1
        "overrides": {"head.conv3": {"rank": 1}},
    },
    # diffusers SDXL UNet: attention projections plus ResNet-block and sampler convs.
    "sdxl_unet": {
        "targets": ["*.attn*.to_q", "*.attn*.to_k", "*.attn*.to_v", "*.attn*.to_out.0",
                    "*.resnets.*.conv1", "*.resnets.*.conv2", "*.resnets.*.conv_shortcut",
                    "*samplers.*.conv"],
        # a training module that also holds the VAE must not adapt the VAE's look-alike layers
        "excludes": ["vae.*"],
    },
}


def matches(pattern: str, name: str, module: nn.Module) -> bool:
    if pattern.startswith("type:"):
        return type(module).__name__ == pattern[5:]
    if pattern.startswith("re:"):
        return re.fullmatch(pattern[3:], name) is not None
    return fnmatch.fnmatchcase(name, pattern)


def matching(pattern: str, named: list[tuple[str, nn.Module]]) -> list[str]:
    return [n for n, m in named if matches(pattern, n, m)]


def closest_names(pattern: str, names: list[str], n: int = 3) -> list[str]:
    probe = pattern.split(":", 1)[-1].replace("*", "")
    return difflib.get_close_matches(probe, names, n=n, cutoff=0.3)

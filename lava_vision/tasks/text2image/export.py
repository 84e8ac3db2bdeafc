"""Export a trained SDXL adapter so tools without this library can use it.

1. Merged diffusers UNet: W + dW for every adapted layer, saved as ``config.json`` +
   ``diffusion_pytorch_model.safetensors`` (what ``UNet2DConditionModel.save_pretrained`` writes),
   loadable with ``UNet2DConditionModel.from_pretrained``.

2. kohya / LyCORIS keys ``lora_<prefix>_<module_path_with_underscores>.{lora_down,lora_up,lora_mid}.weight``
   and ``.alpha`` (prefix ``unet``, ``te1``, ``te2``), as read by ComfyUI / A1111 / LyCORIS loaders, which
   compute dW = (alpha / R) * up . [mid] . down. We store alpha = R and fold the adapter scale s into
   ``lora_up``, so the loaders' scale is 1 and nothing depends on how s was defined. Exact cases:

   * Linear (LoRA / LAVA):  dW = s B A         -> down = A (R x in), up = s B (out x R).
   * LAVA CP conv, k x k:   dW[o,i,h,w] = s sum_r U[o,r] V[i,r] K1[h,r] K2[w,r] is a Tucker / LoCon-CP
     update with a *diagonal* core:  down = V^T (R x c_in x 1 x 1), mid[a,b,h,w] = delta_ab K1[h,a] K2[w,a]
     (R x R x kh x kw), up = s U (c_out x R x 1 x 1). Loaders compute sum_ab up[o,a] mid[a,b,h,w] down[b,i],
     and the diagonal leaves exactly the CP sum. The mid conv carries the base stride and padding.
   * LAVA CP conv, 1 x 1:   K1 K2 are per-rank scalars; folded into down, no mid (plain LoRA).
   * LoRA baseline conv (flattened kernel): down = A as R x c_in x kh x kw, up = s B (kohya LoCon).

   Not exact, skipped and reported: grouped or transposed convs, 1-D/3-D convs, fused-chunk linears
   (SDXL's UNet has none of these), and modules_to_save (full weights, not low-rank).

   Key names follow diffusers' module paths (``lora_unet_down_blocks_1_attentions_0_...``), the naming
   ComfyUI maps for diffusers-layout UNets; kohya's own SDXL scripts name the UNet by the original
   SGM layout (``lora_unet_input_blocks_4_1_...``), which this export does not rename to.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import save_file
from torch import nn

from ...adapters import AdapterLayer, CPConv, FlatLoRAConv, LoRALinear, adapter_layers

KOHYA_PREFIXES = {"unet": "lora_unet", "text_encoder": "lora_te1", "text_encoder_2": "lora_te2"}


def merged_state_dict(module: nn.Module) -> dict[str, torch.Tensor]:
    """The state dict ``module`` would have with every update merged and the adapters removed
    (keys without ``.base_layer``). ``module`` itself is left unchanged."""
    layers = dict(adapter_layers(module))
    drop = {f"{n}.{p}" for n, layer in layers.items() for p in layer.factor_names}
    out = {}
    with torch.no_grad():
        for key, value in module.state_dict().items():
            if key in drop:
                continue
            owner, _, leaf = key.rpartition(".base_layer.")
            if owner in layers and leaf == "weight" and not layers[owner].merged:
                value = value + layers[owner].delta_weight().to(value.dtype)
            out[key.replace(".base_layer.", ".")] = value.detach().cpu().contiguous()
    return out


def save_merged_unet(unet: nn.Module, directory: str | Path, dtype: torch.dtype | None = None) -> Path:
    """Write the merged UNet as a diffusers model folder; ``dtype`` (e.g. torch.float16) casts floats."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    sd = merged_state_dict(unet)
    if dtype is not None:
        sd = {k: v.to(dtype) if v.is_floating_point() else v for k, v in sd.items()}
    unet.save_config(directory)
    save_file(sd, str(directory / "diffusion_pytorch_model.safetensors"), metadata={"format": "pt"})
    return directory


def kohya_layer_tensors(layer: AdapterLayer) -> dict[str, torch.Tensor] | str:
    """{"lora_down", "lora_up", ["lora_mid"], "alpha"} for one layer (in the factors' dtype), or why
    it has no exact layout."""
    s, r = float(layer.scale), layer.rank
    with torch.no_grad():
        if isinstance(layer, LoRALinear):
            if layer.out_index is not None or len(layer.selected) != 1:
                return "fused-chunk linear (several rank-R pairs in one layer)"
            out = {"lora_down": layer.A, "lora_up": layer.B * s}
        elif isinstance(layer, (CPConv, FlatLoRAConv)):
            base = layer.base_layer
            if layer.transposed or base.groups != 1 or layer.ndim != 2:
                return f"{type(base).__name__} with groups={base.groups}: no exact kohya/LyCORIS layout"
            c_out, c_in, kh, kw = base.weight.shape
            if isinstance(layer, FlatLoRAConv):
                out = {"lora_down": layer.A.reshape(r, c_in, kh, kw),
                       "lora_up": (layer.B * s).reshape(c_out, r, 1, 1)}
            elif (kh, kw) == (1, 1):
                per_rank = (layer.K1[0] * layer.K2[0])  # R
                out = {"lora_down": (layer.V * per_rank).t().reshape(r, c_in, 1, 1),
                       "lora_up": (layer.U * s).reshape(c_out, r, 1, 1)}
            else:
                mid = layer.K1.new_zeros(r, r, kh, kw)
                idx = torch.arange(r)
                mid[idx, idx] = torch.einsum("hr,wr->rhw", layer.K1, layer.K2)
                out = {"lora_down": layer.V.t().reshape(r, c_in, 1, 1), "lora_mid": mid,
                       "lora_up": (layer.U * s).reshape(c_out, r, 1, 1)}
        else:
            return f"{type(layer).__name__}: no kohya/LyCORIS layout"
    out = {k: v.detach().cpu().contiguous() for k, v in out.items()}
    out["alpha"] = torch.tensor(float(r), dtype=torch.float32)
    return out


def kohya_state_dict(model: nn.Module) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """(tensors in kohya/LyCORIS keys, {layer name: reason} for layers left out) of an adapted
    ``SDXLDiffusion`` (submodules unet / text_encoder / text_encoder_2) or of a bare UNet."""
    tensors, skipped = {}, {}
    for name, layer in adapter_layers(model):
        head, _, rest = name.partition(".")
        if head in KOHYA_PREFIXES and rest:
            prefix, path = KOHYA_PREFIXES[head], rest
        elif hasattr(model, "unet"):
            skipped[name] = "not in unet / text_encoder / text_encoder_2"
            continue
        else:  # a bare UNet
            prefix, path = KOHYA_PREFIXES["unet"], name
        got = kohya_layer_tensors(layer)
        if isinstance(got, str):
            skipped[name] = got
            continue
        key = f"{prefix}_{path.replace('.', '_')}"
        for k, v in got.items():
            tensors[f"{key}.{k}" if k == "alpha" else f"{key}.{k}.weight"] = v
    return tensors, skipped


def save_kohya(model: nn.Module, path: str | Path, dtype: torch.dtype = torch.float16) -> tuple[Path, dict[str, str]]:
    """Write the kohya/LyCORIS safetensors file (and ``<stem>.skipped.json`` when layers are left
    out); returns (path, skipped)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors, skipped = kohya_state_dict(model)
    if not tensors:
        raise ValueError(f"no adapter layer of this model exports exactly to kohya/LyCORIS keys: {skipped}")
    tensors = {k: v if k.endswith(".alpha") else v.to(dtype) for k, v in tensors.items()}
    save_file(tensors, str(path), metadata={"format": "pt",
                                            "lava_vision_export": "alpha = rank; adapter scale folded into lora_up"})
    if skipped:
        path.with_suffix(".skipped.json").write_text(json.dumps(skipped, indent=2))
    return path, skipped

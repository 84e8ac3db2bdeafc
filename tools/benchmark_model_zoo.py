"""The architectures tools/benchmark_models.py times: published configs (random weights, nothing
downloaded) and, for ``--quick``, small configs of the same classes that run on a 2-core CPU."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from lava_vision.adapters import AdapterConfig
from lava_vision.train.recipe import load_recipe

RECIPES = Path(__file__).resolve().parents[1] / "tasks"


@dataclass
class ModelSpec:
    name: str
    preset: str  # the lava_vision preset naming the task's adapted layers
    head: str  # trained in full by every candidate; all that ``frozen`` trains
    task_file: str  # the recipe under tasks/ whose adapter setting is the ``recipe`` candidate
    build: Callable[[bool], nn.Module]  # quick -> model
    batch: Callable[[bool, torch.device, torch.dtype], dict]
    loss: Callable[[nn.Module, dict], torch.Tensor]
    describe: Callable[[bool], str]
    half_on_gpu: bool = False

    def dtype(self, device: torch.device) -> torch.dtype:
        return torch.bfloat16 if self.half_on_gpu and device.type == "cuda" else torch.float32

    def recipe(self) -> AdapterConfig:
        """The ``adapter`` setting of the task's recipe file."""
        return load_recipe(RECIPES / self.task_file).adapter


def _randn(*shape, device, dtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g).to(device, dtype)


# -- ResNet-50 (timm) --------------------------------------------------------------------------
def _resnet(quick: bool) -> nn.Module:
    import timm
    return timm.create_model("resnet26" if quick else "resnet50", pretrained=False, num_classes=10)


def _resnet_batch(quick, device, dtype):
    n, hw = (2, 64) if quick else (32, 224)
    return {"x": _randn(n, 3, hw, hw, device=device, dtype=dtype),
            "y": torch.arange(n, device=device) % 10}


def _resnet_loss(model, b):
    return F.cross_entropy(model(b["x"]).float(), b["y"])


# -- Depth-Anything-V2-Large (transformers) ----------------------------------------------------
def _depth(quick: bool) -> nn.Module:
    from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation, Dinov2Config
    if quick:
        backbone = Dinov2Config(hidden_size=64, num_hidden_layers=4, num_attention_heads=4, intermediate_size=256,
                                out_indices=[1, 2, 3, 4], patch_size=14, image_size=112,
                                reshape_hidden_states=False, apply_layernorm=True)
        cfg = DepthAnythingConfig(backbone_config=backbone, neck_hidden_sizes=[16, 32, 64, 64], fusion_hidden_size=32,
                                  reassemble_hidden_size=64, head_hidden_size=16, patch_size=14,
                                  depth_estimation_type="metric", max_depth=10)
    else:  # depth-anything/Depth-Anything-V2-Metric-Indoor-Large-hf config.json
        backbone = Dinov2Config(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096,
                                out_indices=[5, 12, 18, 24], patch_size=14, image_size=518, layerscale_value=1.0,
                                reshape_hidden_states=False, apply_layernorm=True)
        cfg = DepthAnythingConfig(backbone_config=backbone, neck_hidden_sizes=[256, 512, 1024, 1024],
                                  fusion_hidden_size=256, reassemble_hidden_size=1024, head_hidden_size=32,
                                  patch_size=14, depth_estimation_type="metric", max_depth=20)
    return DepthAnythingForDepthEstimation(cfg)


def _depth_batch(quick, device, dtype):
    n, hw = (2, 112) if quick else (4, 518)
    return {"x": _randn(n, 3, hw, hw, device=device, dtype=dtype)}


def _depth_loss(model, b):
    return model(pixel_values=b["x"]).predicted_depth.float().square().mean()


# -- SAM ViT-B (segment-anything) --------------------------------------------------------------
def _sam(quick: bool) -> nn.Module:
    if not quick:
        from segment_anything import build_sam_vit_b
        return build_sam_vit_b(checkpoint=None)
    from segment_anything.modeling import ImageEncoderViT, MaskDecoder, PromptEncoder, Sam, TwoWayTransformer
    return Sam(
        image_encoder=ImageEncoderViT(img_size=128, patch_size=16, embed_dim=96, depth=4, num_heads=4, out_chans=64,
                                      use_rel_pos=True, window_size=4, global_attn_indexes=(1, 3)),
        prompt_encoder=PromptEncoder(64, (8, 8), (128, 128), 16),
        mask_decoder=MaskDecoder(num_multimask_outputs=3, transformer=TwoWayTransformer(depth=2, embedding_dim=64,
                                                                                        num_heads=2, mlp_dim=128),
                                 transformer_dim=64, iou_head_hidden_dim=64))


def _sam_batch(quick, device, dtype):
    n, hw = (2, 128) if quick else (2, 1024)
    return {"x": _randn(n, 3, hw, hw, device=device, dtype=dtype)}


def _sam_loss(sam, b):
    # as the segmentation task trains it: encoder, prompt-free decoder, one mask per image
    emb = sam.image_encoder(b["x"])
    sparse, dense = sam.prompt_encoder(None, None, None)
    low, _ = sam.mask_decoder(image_embeddings=emb, image_pe=sam.prompt_encoder.get_dense_pe().to(emb.dtype),
                              sparse_prompt_embeddings=sparse.to(emb.dtype),
                              dense_prompt_embeddings=dense.to(emb.dtype), multimask_output=False)
    return low.float().square().mean()


# -- SDXL UNet (diffusers) ---------------------------------------------------------------------
def _unet(quick: bool) -> nn.Module:
    from diffusers import UNet2DConditionModel
    if quick:  # diffusers' own tiny SDXL test UNet
        return UNet2DConditionModel(
            block_out_channels=(32, 64), layers_per_block=2, sample_size=32, in_channels=4, out_channels=4,
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
            attention_head_dim=(2, 4), use_linear_projection=True, addition_embed_type="text_time",
            addition_time_embed_dim=8, transformer_layers_per_block=(1, 2), projection_class_embeddings_input_dim=80,
            cross_attention_dim=64, norm_num_groups=32)
    # stabilityai/stable-diffusion-xl-base-1.0 unet/config.json
    return UNet2DConditionModel(
        sample_size=128, in_channels=4, out_channels=4, layers_per_block=2, block_out_channels=(320, 640, 1280),
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(5, 10, 20), transformer_layers_per_block=(1, 2, 10), cross_attention_dim=2048,
        use_linear_projection=True, addition_embed_type="text_time", addition_time_embed_dim=256,
        projection_class_embeddings_input_dim=2816, norm_num_groups=32)


def _unet_batch(quick, device, dtype):
    n, hw, tokens, ctx, pooled = (2, 32, 8, 64, 32) if quick else (2, 128, 77, 2048, 1280)
    return {"sample": _randn(n, 4, hw, hw, device=device, dtype=dtype),
            "timestep": torch.tensor([10, 500], device=device),
            "encoder_hidden_states": _randn(n, tokens, ctx, device=device, dtype=dtype, seed=1),
            "added_cond_kwargs": {"text_embeds": _randn(n, pooled, device=device, dtype=dtype, seed=2),
                                  "time_ids": _randn(n, 6, device=device, dtype=dtype, seed=3)},
            "target": _randn(n, 4, hw, hw, device=device, dtype=dtype, seed=4)}


def _unet_loss(unet, b):
    out = unet(b["sample"], b["timestep"], encoder_hidden_states=b["encoder_hidden_states"],
               added_cond_kwargs=b["added_cond_kwargs"]).sample
    return F.mse_loss(out.float(), b["target"].float())


SPECS: dict[str, ModelSpec] = {
    "resnet50": ModelSpec("resnet50", "cnn", "fc", "cifar10_resnet18.py", _resnet, _resnet_batch, _resnet_loss,
                          lambda q: "timm resnet26, 64², batch 2" if q else "timm resnet50, 224², batch 32"),
    "depth_anything": ModelSpec("depth_anything", "depth_anything", "head.conv3", "depth_nyu.py", _depth, _depth_batch,
                                _depth_loss, lambda q: "Depth-Anything (DINOv2 64x4 layers), 112², batch 2" if q
                                else "Depth-Anything-V2-Large, 518², batch 4"),
    "sam": ModelSpec("sam", "sam", "mask_decoder.output_hypernetworks_mlps.0", "seg_polyp.py", _sam, _sam_batch,
                     _sam_loss, lambda q: "SAM (ViT 96x4 layers), 128², batch 2" if q else "SAM ViT-B, 1024², batch 2"),
    "sdxl_unet": ModelSpec("sdxl_unet", "sdxl_unet", "conv_out", "sdxl_3d_icons.py", _unet, _unet_batch, _unet_loss,
                           lambda q: "diffusers tiny SDXL UNet, 32² latents, batch 2" if q
                           else "SDXL UNet, 128² latents, batch 2", half_on_gpu=True),
}

"""Small same-class models of every family the project serves, built from config without weights
(sizes from NOTES-ecosystem.md). Each builder returns (model, example_input, forward_fn)."""
import torch
from torch import nn


def timm_model(name: str, **kw):
    import timm
    torch.manual_seed(0)
    return timm.create_model(name, pretrained=False, **kw)


def torchvision_model(name: str, **kw):
    import torchvision
    torch.manual_seed(0)
    return getattr(torchvision.models, name)(weights=None, **kw)


def tiny_sam():
    from segment_anything.modeling import ImageEncoderViT, MaskDecoder, PromptEncoder, Sam, TwoWayTransformer
    torch.manual_seed(0)
    return Sam(
        image_encoder=ImageEncoderViT(img_size=64, patch_size=8, embed_dim=32, depth=2, num_heads=2, out_chans=32,
                                      use_rel_pos=True, window_size=4, global_attn_indexes=(1,)),
        prompt_encoder=PromptEncoder(32, (8, 8), (64, 64), 16),
        mask_decoder=MaskDecoder(num_multimask_outputs=3,
                                 transformer=TwoWayTransformer(depth=2, embedding_dim=32, num_heads=2, mlp_dim=64),
                                 transformer_dim=32, iou_head_hidden_dim=32),
    )


def sam_forward(sam, x):
    emb = sam.image_encoder(x)
    sparse, dense = sam.prompt_encoder(None, None, None)
    low, _ = sam.mask_decoder(image_embeddings=emb, image_pe=sam.prompt_encoder.get_dense_pe(),
                              sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense,
                              multimask_output=False)
    return low


def tiny_depth_anything():
    from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation, Dinov2Config
    torch.manual_seed(0)
    backbone = Dinov2Config(hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
                            out_indices=[1, 2], patch_size=14, image_size=28,
                            reshape_hidden_states=False, apply_layernorm=True)
    cfg = DepthAnythingConfig(backbone_config=backbone, neck_hidden_sizes=[8, 16], fusion_hidden_size=8,
                              reassemble_factors=[2, 1], head_hidden_size=8, reassemble_hidden_size=16, patch_size=14,
                              depth_estimation_type="metric", max_depth=10)
    model = DepthAnythingForDepthEstimation(cfg)
    with torch.no_grad():  # a random tiny head is often dead behind its ReLU; keep it alive
        model.head.conv2.bias.fill_(0.5)
    return model


def tiny_depth_anything_fan_in() -> nn.Module:
    """``tiny_depth_anything`` in eval mode with PyTorch's default (fan-in) init on every conv and
    linear, seeded: the transformers init leaves this tiny net's signals ~1e-5, too small to tell a
    wrong update from a right one."""
    model = tiny_depth_anything().eval()
    torch.manual_seed(0)
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            m.reset_parameters()
    return model


def tiny_sdxl_unet():
    from diffusers import UNet2DConditionModel
    torch.manual_seed(0)
    return UNet2DConditionModel(
        block_out_channels=(32, 64), layers_per_block=2, sample_size=16, in_channels=4, out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4), use_linear_projection=True, addition_embed_type="text_time",
        addition_time_embed_dim=8, transformer_layers_per_block=(1, 2), projection_class_embeddings_input_dim=80,
        cross_attention_dim=64, norm_num_groups=32)


def unet_inputs(batch=1, dtype=torch.float32):
    g = torch.Generator().manual_seed(0)
    return dict(sample=torch.randn(batch, 4, 16, 16, generator=g, dtype=dtype),
                timestep=torch.tensor([10]),
                encoder_hidden_states=torch.randn(batch, 3, 64, generator=g, dtype=dtype),
                added_cond_kwargs={"text_embeds": torch.randn(batch, 32, generator=g, dtype=dtype),
                                   "time_ids": torch.randn(batch, 6, generator=g, dtype=dtype)})

"""Each preset selects exactly the layers the paper adapts, checked by an independent walk."""
from torch import nn

import tiny_models as tm
from lava_vision.adapters import AdapterConfig, plan


def selected(model, preset):
    return {r.name for r in plan(model, AdapterConfig(rank=1, preset=preset)).rows}


def test_cnn_preset_is_every_conv():
    m = tm.timm_model("resnet18", num_classes=3)
    assert selected(m, "cnn") == {n for n, x in m.named_modules() if isinstance(x, nn.Conv2d)}


def test_timm_vit_preset():
    m = tm.timm_model("vit_tiny_patch16_224", num_classes=3, img_size=32)
    want = {f"blocks.{i}.{s}" for i in range(12) for s in ("attn.qkv", "attn.proj", "mlp.fc1", "mlp.fc2")}
    assert selected(m, "timm_vit") == want


def test_sam_preset_leaves_prompt_encoder_and_iou_head_frozen():
    m = tm.tiny_sam()
    got = selected(m, "sam")
    enc = {n for n, x in m.image_encoder.named_modules() if isinstance(x, (nn.Linear, nn.Conv2d))}
    want = {f"image_encoder.{n}" for n in enc if n.startswith(("blocks", "neck"))}
    want |= {f"mask_decoder.{n}" for n, x in m.mask_decoder.named_modules()
             if isinstance(x, (nn.Linear, nn.ConvTranspose2d))
             and n.startswith(("transformer", "output_upscaling", "output_hypernetworks_mlps.0."))}
    assert got == want
    assert not any(n.startswith(("prompt_encoder", "mask_decoder.iou_prediction_head")) for n in got)
    assert {"image_encoder.neck.0", "image_encoder.neck.2", "mask_decoder.output_upscaling.0",
            "mask_decoder.output_upscaling.3"} <= got


def test_depth_anything_preset_is_encoder_linears_and_every_dpt_conv():
    m = tm.tiny_depth_anything()
    got = selected(m, "depth_anything")
    want = {n for n, x in m.named_modules() if n.startswith("backbone.encoder") and isinstance(x, nn.Linear)
            and n.rsplit(".", 1)[-1] in ("q_proj", "k_proj", "v_proj", "o_proj", "fc1", "fc2", "query", "key",
                                          "value", "dense")}
    want |= {n for n, x in m.named_modules() if n.startswith(("neck", "head"))
             and isinstance(x, (nn.Conv2d, nn.ConvTranspose2d))}
    assert got == want
    assert any(isinstance(m.get_submodule(n), nn.ConvTranspose2d) for n in got)
    assert len([n for n in got if n.startswith("backbone")]) == 2 * 6


def test_sdxl_unet_preset_is_attention_projections_and_block_convs():
    m = tm.tiny_sdxl_unet()
    got = selected(m, "sdxl_unet")
    want = {n for n, x in m.named_modules() if isinstance(x, nn.Linear)
            and n.endswith((".to_q", ".to_k", ".to_v", ".to_out.0"))}
    want |= {n for n, x in m.named_modules() if isinstance(x, nn.Conv2d)
             and (".resnets." in n and n.endswith((".conv1", ".conv2", ".conv_shortcut"))
                  or ("downsamplers" in n or "upsamplers" in n))}
    assert got == want
    assert "conv_in" not in got and "conv_out" not in got

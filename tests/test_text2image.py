"""SDXL task on tiny same-class components saved in diffusers layout: loading, the preset's layers,
the conditioning against diffusers' own pipeline, Min-SNR weights, a few training steps, generation
merged vs unmerged, metrics and panels through the Task protocol, adapter files."""
import shutil

import numpy as np
import pytest
import torch
from torch import nn

from lava_vision.adapters import (
    AdapterConfig,
    adapter_layers,
    disable_adapters,
    inject,
    load_adapter,
    merge,
    orthogonal_penalty,
    save_adapter,
    unmerge,
)
from lava_vision.data.synthetic_images import write_captioned_images
from lava_vision.tasks.text2image.config import T2IDataConfig, T2ILossConfig, T2IMetricsConfig, T2IModelConfig
from lava_vision.tasks.text2image.task import TextToImageTask
from lava_vision.tasks.text2image.tiny import tiny_clip, write_tiny_sdxl
from lava_vision.train.config import RunConfig

torch.set_num_threads(1)  # tiny models: threads only fight each other on a shared CPU


@pytest.fixture(scope="module")
def paths(tmp_path_factory):
    root = tmp_path_factory.mktemp("t2i")
    return {"sdxl": write_tiny_sdxl(root / "sdxl"), "data": write_captioned_images(root / "data", 4, 32),
            "clip": tiny_clip(root / "clip")}


def make_cfg(paths, **loss) -> RunConfig:
    return RunConfig(
        task="text2image",
        model=T2IModelConfig(pretrained=str(paths["sdxl"]), inference_steps=2,
                             metrics=T2IMetricsConfig(fid_features="clip", clip_model=str(paths["clip"]))),
        data=T2IDataConfig(root=str(paths["data"]), resolution=32, center_crop=True, cache_latents=True),
        loss=T2ILossConfig(**loss),
        adapter=AdapterConfig(method="lava", rank=2, alpha=2.0, lam=0.01, preset="sdxl_unet", excludes=["vae.*"]))


def test_missing_folder_and_component_are_named(paths, tmp_path):
    with pytest.raises(FileNotFoundError, match="folder does not exist"):
        TextToImageTask(make_cfg({**paths, "sdxl": tmp_path / "nope"})).build_model()
    broken = shutil.copytree(paths["sdxl"], tmp_path / "broken")
    shutil.rmtree(broken / "text_encoder_2")
    with pytest.raises(FileNotFoundError, match=r"missing component folder\(s\) \['text_encoder_2'\]"):
        TextToImageTask(make_cfg({**paths, "sdxl": broken})).build_model()


def expected_layers(unet: nn.Module, prefix: str) -> set[str]:
    """Attention q/k/v/out Linears, ResNet-block convs and down/up-sampler convs, found by type."""
    from diffusers.models.attention_processor import Attention
    from diffusers.models.downsampling import Downsample2D
    from diffusers.models.resnet import ResnetBlock2D
    from diffusers.models.upsampling import Upsample2D

    out = set()
    for name, m in unet.named_modules():
        if isinstance(m, Attention):
            out |= {f"{prefix}{name}.{c}" for c in ("to_q", "to_k", "to_v", "to_out.0")}
        elif isinstance(m, ResnetBlock2D):
            out |= {f"{prefix}{name}.{c}" for c in ("conv1", "conv2", "conv_shortcut")
                    if isinstance(getattr(m, c, None), nn.Conv2d)}
        elif isinstance(m, (Downsample2D, Upsample2D)):
            out.add(f"{prefix}{name}.conv")
    return out


def test_preset_matches_exactly_the_paper_layers(paths):
    from lava_vision.adapters import plan

    model = TextToImageTask(make_cfg(paths)).build_model()
    rows = plan(model, AdapterConfig(preset="sdxl_unet", excludes=["vae.*"])).rows
    want = expected_layers(model.unet, "unet.")
    assert {r.name for r in rows} == want and len(want) == 129
    bare = plan(model.unet, AdapterConfig(preset="sdxl_unet")).rows  # a bare UNet: no prefix
    assert {r.name for r in bare} == expected_layers(model.unet, "")


def test_conditioning_matches_diffusers_pipeline(paths):
    from diffusers import StableDiffusionXLPipeline

    task = TextToImageTask(make_cfg(paths))
    model = task.build_model()
    sample = task.build_dataset("train")[0]
    embeds, pooled = model.encode_prompt(sample["input_ids_one"][None], sample["input_ids_two"][None])
    pipe = StableDiffusionXLPipeline.from_pretrained(paths["sdxl"])
    ref, _, ref_pooled, _ = pipe.encode_prompt(sample["caption"], device="cpu", do_classifier_free_guidance=False)
    assert embeds.shape == (1, 77, 64) and pooled.shape == (1, 32)
    assert torch.allclose(embeds, ref, atol=1e-5) and torch.allclose(pooled, ref_pooled, atol=1e-5)


def test_min_snr_weights_by_hand(paths):
    for ptype, plus in (("epsilon", 0.0), ("v_prediction", 1.0)):
        model = TextToImageTask(make_cfg(paths, snr_gamma=5.0, prediction_type=ptype)).build_model()
        t = torch.tensor([0, 10, 300, 999])
        a = model.noise_scheduler.alphas_cumprod.double().numpy()[t.numpy()]
        snr = a / (1 - a)
        ref = np.minimum(snr, 5.0) / (snr + plus)
        assert np.allclose(model.min_snr_weights(t).double().numpy(), ref, rtol=1e-5, atol=0)
        assert ref[0] < 1 and abs(ref[-1] - (1.0 if plus == 0 else snr[-1] / (snr[-1] + 1))) < 1e-3


def fixed_loss(task, model, batch) -> float:
    torch.manual_seed(123)  # the same noise and timesteps each time
    with torch.no_grad():
        return sum(task.training_step(model, batch)["loss"].item() for _ in range(3))


@pytest.fixture(scope="module")
def trained(paths):
    cfg = make_cfg(paths, snr_gamma=5.0, noise_offset=0.05)
    task = TextToImageTask(cfg)
    model = task.build_model()
    inject(model, cfg.adapter)
    ds = task.build_dataset("train")
    batch = task.collate([ds[i] for i in range(len(ds))])
    before = fixed_loss(task, model, batch)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    torch.manual_seed(0)
    losses = []
    for _ in range(12):
        loss = task.training_step(model, batch)["loss"]
        losses.append(loss.item())
        opt.zero_grad()
        (loss + orthogonal_penalty(model)).backward()
        opt.step()
    return task, model, batch, before, losses


def test_training_steps_lower_the_loss(trained):
    task, model, batch, before, losses = trained
    assert all(np.isfinite(losses))
    assert len(model._latent_cache) == 4  # cached once per image (centre crop, no flip)
    after = fixed_loss(task, model, batch)
    assert after < 0.9 * before, (before, after)
    grads = [n for n, p in model.named_parameters() if p.requires_grad]
    assert grads and all(n.startswith("unet.") for n in grads)


def test_generation_merged_equals_unmerged_and_differs_from_base(trained):
    task, model, _, _, _ = trained
    model.eval()
    kw = dict(prompts=["a 3d icon of a red square", "a blue circle"], seeds=[1, 2], height=32, width=32, steps=2)
    adapted = model(mode="generate", **kw)
    merge(model)
    merged = model(mode="generate", **kw)
    unmerge(model)
    with disable_adapters(model):
        base = model(mode="generate", **kw)
    assert adapted.shape == (2, 3, 32, 32)
    assert torch.allclose(adapted, merged, atol=1e-4)
    assert (adapted - base).abs().max() > 1e-3
    again = model(mode="generate", **kw)  # same seeds, same images (up to merge/unmerge round-off)
    assert torch.allclose(adapted, again, atol=1e-5)


def test_predict_metrics_and_panels(trained, tmp_path):
    task, model, _, _, _ = trained
    ds = task.build_dataset("val")
    batch = task.collate([ds[i] for i in range(3)])
    preds = task.predict(model.eval(), batch)
    assert set(preds) == {"images", "base_images", "prompts"}
    metrics = task.build_metrics()
    task.update_metrics(metrics, preds, batch)
    values = metrics.compute()
    assert set(values) == {"fid_clip_clip", "clip_score_clip"}
    assert all(np.isfinite(float(v)) for v in values.values())
    rows = task.per_sample_metrics(preds, batch)
    assert len(rows) == 3 and float(values["clip_score_clip"]) == pytest.approx(
        np.mean([r["clip_score_clip"] for r in rows]), rel=1e-5)
    paths = task.visualize(batch, preds, tmp_path, 0)
    from PIL import Image

    assert len(paths) == 3 and Image.open(paths[0]).size[0] >= 3 * 32


def unet_output(unet) -> torch.Tensor:
    """The UNet's prediction on fixed random SDXL-shaped inputs."""
    g = torch.Generator().manual_seed(0)
    x, ctx = torch.randn(1, 4, 16, 16, generator=g), torch.randn(1, 77, 64, generator=g)
    cond = {"text_embeds": torch.randn(1, 32, generator=g), "time_ids": torch.tensor([[32., 32, 0, 0, 32, 32]])}
    with torch.no_grad():
        return unet(x, 500, ctx, added_cond_kwargs=cond).sample


def test_adapter_file_round_trip(trained, tmp_path):
    task, model, _, _, _ = trained
    save_adapter(model, tmp_path / "adapter", {"task": "text2image"})
    fresh = task.build_model()
    base = unet_output(fresh.unet)
    load_adapter(fresh, tmp_path / "adapter")
    got, want = unet_output(fresh.unet), unet_output(model.unet)
    assert torch.allclose(got, want, atol=1e-5) and (got - base).abs().max() > 1e-3


def test_merged_unet_export_reloads(trained, tmp_path):
    from diffusers import UNet2DConditionModel

    from lava_vision.export import export_merged

    _, model, _, _, _ = trained
    export_merged(model, tmp_path)
    plain = UNet2DConditionModel.from_pretrained(tmp_path / "unet")
    assert not any(True for _ in adapter_layers(plain))
    assert torch.allclose(unet_output(plain), unet_output(model.unet), atol=1e-4)

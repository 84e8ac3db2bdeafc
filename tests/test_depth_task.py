"""Depth task on a tiny Depth-Anything built from its config, saved with save_pretrained and
reloaded through the same loader as a hub checkpoint; the committed synthetic base; the trainer."""
import json

import numpy as np
import pytest
import torch

from lava_vision.adapters import AdapterConfig, inject, orthogonal_penalty, plan, train_mode
from lava_vision.tasks.depth.config import DepthDataConfig
from lava_vision.tasks.depth.model import DepthModelConfig, hub_id, load_depth_anything
from lava_vision.tasks.depth.task import DepthTask
from lava_vision.train.config import EvalConfig, OptimConfig, RunConfig, TrainConfig


def tiny_config():
    from transformers import DepthAnythingConfig, Dinov2Config

    backbone = Dinov2Config(hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
                            out_indices=[1, 2], patch_size=14, image_size=28, reshape_hidden_states=False)
    return DepthAnythingConfig(backbone_config=backbone, reassemble_hidden_size=16, neck_hidden_sizes=[8, 16],
                               fusion_hidden_size=8, head_hidden_size=8, depth_estimation_type="metric", max_depth=10)


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    from transformers import DepthAnythingForDepthEstimation

    torch.manual_seed(0)
    model = DepthAnythingForDepthEstimation(tiny_config())
    for m in model.modules():  # fan-in init: transformers' 0.02-std init leaves a net this small inert
        if m is not model and hasattr(m, "reset_parameters"):
            m.reset_parameters()
    out = tmp_path_factory.mktemp("tiny_da")
    model.save_pretrained(out)
    return out


def run_config(checkpoint, **data) -> RunConfig:
    d = dict(source="synthetic", input_size=28, synthetic_hw=(28, 42), synthetic_train_n=8, synthetic_eval_n=4)
    d.update(data)
    return RunConfig(task="depth", model=DepthModelConfig(checkpoint=str(checkpoint)), data=DepthDataConfig(**d),
                     adapter=AdapterConfig(method="lava", preset="depth_anything", rank=2, alpha=2.0, lam=0.01))


def test_preset_adapts_exactly_the_encoder_linears_and_every_decoder_conv(tiny_dir):
    model = load_depth_anything(DepthModelConfig(checkpoint=str(tiny_dir)))
    p = plan(model, AdapterConfig(method="lava", preset="depth_anything", rank=2))
    chosen = {r.name for r in p.rows}
    want = {n for n, m in model.named_modules()
            if (n.startswith("backbone.encoder.") and isinstance(m, torch.nn.Linear))
            or (n.startswith(("neck.", "head.")) and isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)))}
    assert chosen == want
    assert len([n for n in want if n.startswith("backbone")]) == 2 * 6  # q, k, v, o, fc1, fc2 per layer
    assert {r.layer_type for r in p.rows} == {"Linear", "Conv2d", "ConvTranspose2d"}
    assert "backbone.embeddings.patch_embeddings.projection" not in chosen


def test_loader_refuses_missing_or_incomplete_checkpoints(tmp_path, tiny_dir, monkeypatch):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_depth_anything(DepthModelConfig(checkpoint=str(tmp_path / "nope")))
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "config.json").write_text((tiny_dir / "config.json").read_text())
    with pytest.raises(FileNotFoundError, match="holds no weights"):
        load_depth_anything(DepthModelConfig(checkpoint=str(tmp_path / "empty")))
    import huggingface_hub.constants as hub_constants

    # offline with an empty cache (the constants are read at import, so patch them, not the env)
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(tmp_path / "hf_cache"))
    with pytest.raises(FileNotFoundError, match="Metric-Indoor-Large-hf"):
        load_depth_anything(DepthModelConfig(size="large"))
    assert hub_id("large") == "depth-anything/Depth-Anything-V2-Metric-Indoor-Large-hf"


def test_reload_is_exact_and_max_depth_scales_the_head(tiny_dir):
    a = load_depth_anything(DepthModelConfig(checkpoint=str(tiny_dir)))
    b = load_depth_anything(DepthModelConfig(checkpoint=str(tiny_dir), max_depth=5.0))
    x = torch.randn(1, 3, 28, 42)
    with torch.no_grad():
        da, db = a(pixel_values=x).predicted_depth, b(pixel_values=x).predicted_depth
    assert da.shape == (1, 28, 42)
    # sigmoid x max_depth: 5 m head = half the 10 m head
    torch.testing.assert_close(db, da * 0.5, rtol=1.3e-6, atol=1e-5)


def test_lava_training_lowers_the_loss_and_evaluation_is_finite(tiny_dir, tmp_path):
    torch.manual_seed(0)
    cfg = run_config(tiny_dir)
    task = DepthTask(cfg)
    model = task.build_model()
    inject(model, cfg.adapter)
    train_mode(model)
    ds = task.build_dataset("train")
    batch = task.collate([ds[i] for i in range(4)])
    assert batch["image"].shape == (4, 3, 28, 28) and batch["depth"].shape == (4, 28, 28)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    losses = []
    for _ in range(15):
        loss = task.training_step(model, batch)["loss"]
        losses.append(loss.item())
        opt.zero_grad()
        (loss + orthogonal_penalty(model)).backward()
        opt.step()
    assert losses[-1] < 0.9 * losses[0], losses
    model.eval()
    ev = task.build_dataset("val")
    eb = task.collate([ev[i] for i in range(2)])
    assert eb["image"].shape == (2, 3, 28, 42) and eb["depth"].shape == (2, 28, 42)
    preds = task.predict(model, eb)
    metrics = task.build_metrics()
    task.update_metrics(metrics, preds, eb)
    values = metrics.compute()
    assert all(np.isfinite(float(values[k])) for k in ("d1", "abs_rel", "rmse", "log10", "silog"))
    rows = task.per_sample_metrics(preds, eb)
    assert [r["id"] for r in rows] == eb["id"] and rows[0]["valid_pixels"] == 28 * 42
    assert np.mean([r["abs_rel"] for r in rows]) == pytest.approx(float(values["abs_rel"]), rel=1e-5)
    paths = task.visualize(eb, preds, tmp_path / "pics", 0)
    assert len(paths) == 2 and all(p.stat().st_size > 1000 for p in paths)


def test_committed_synthetic_base_loads_and_knows_distribution_a_only():
    from lava_vision.metrics.depth import DepthMetrics

    base = "lava_vision/assets/depth_synthetic_base"
    card = json.loads(open(f"{base}/pretraining.json").read())
    model = load_depth_anything(DepthModelConfig(checkpoint=base)).eval()
    scores = {}
    for dist in ("A", "B"):
        task = DepthTask(run_config(base, input_size=84, synthetic_hw=(84, 112), synthetic_eval=dist,
                                    synthetic_eval_n=8, eigen_crop=False))
        ds = task.build_dataset("val")
        batch = task.collate([ds[i] for i in range(8)])
        m = DepthMetrics(eigen_crop=False)
        m.update(task.predict(model, batch), batch["depth"])
        scores[dist] = {k: float(v) for k, v in m.compute().items()}
    assert scores["A"]["d1"] > 0.9 and scores["B"]["d1"] < 0.3  # the gap the synthetic recipe closes
    assert card["metrics"]["A"]["d1"] > 0.9


def test_trainer_runs_the_depth_task_end_to_end(tiny_dir, tmp_path):
    from lava_vision.train import train

    cfg = run_config(tiny_dir)
    cfg.train = TrainConfig(epochs=1, max_steps=2, batch_size=2, num_workers=0)
    cfg.optim = OptimConfig(lr=1e-3)
    cfg.eval = EvalConfig(split="val", every=0, batch_size=2, max_samples=2, main_metric="d1", num_visualize=1)
    cfg.output.root, cfg.output.name = str(tmp_path), "depth_e2e"
    run_dir = train(cfg)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert np.isfinite(metrics["d1"]) and np.isfinite(metrics["abs_rel"])
    assert RunConfig.from_dict(json.loads((run_dir / "config.json").read_text())).data.synthetic_hw == (28, 42)


def test_gradient_checkpointing_gives_the_same_adapter_updates(tiny_dir, tmp_path):
    """Checkpointed blocks must still send gradients to the adapters inside them (with a frozen
    base, reentrant checkpointing would silently drop them) and change nothing else."""
    from safetensors.torch import load_file

    from lava_vision.train import train

    results = {}
    for ckpt in (False, True):
        cfg = run_config(tiny_dir)
        cfg.train = TrainConfig(epochs=1, max_steps=3, batch_size=2, num_workers=0, gradient_checkpointing=ckpt)
        cfg.optim = OptimConfig(lr=1e-2)
        cfg.eval = EvalConfig(split="val", every=0, batch_size=2, max_samples=2, num_visualize=0)
        cfg.output.root, cfg.output.name = str(tmp_path), f"ckpt_{ckpt}"
        results[ckpt] = load_file(str(train(cfg) / "last" / "adapter.safetensors"))
    encoder_b = [k for k in results[True] if k.startswith("backbone.encoder") and k.endswith(".B")]
    assert encoder_b and all(results[True][k].abs().sum() > 0 for k in encoder_b)
    for k, v in results[False].items():
        torch.testing.assert_close(results[True][k], v, atol=1e-5, rtol=1e-4)

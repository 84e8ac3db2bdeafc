"""Segmentation task: losses against float64 hand computations, the tiny SAM through the real
checkpoint loader, the adapter preset on it, data readers and their errors, a few training steps."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lava_vision.adapters import AdapterConfig, inject, orthogonal_penalty, plan, train_mode
from lava_vision.tasks.segmentation.config import SamModelConfig
from lava_vision.tasks.segmentation.losses import balanced_bce, structure_loss
from lava_vision.tasks.segmentation.model import PromptFreeSam, build_prompt_free_sam, build_sam, load_sam_checkpoint
from lava_vision.tasks.segmentation.tiny import TINY, save_tiny_sam


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory):
    return save_tiny_sam(tmp_path_factory.mktemp("sam") / "tiny_sam.pth", seed=0)


# ------------------------------------------------------------------------------------------ losses
def _ref_structure(logits, mask, k=31, wb=5.0):
    """float64, explicit loops: zero-padded k x k box mean (padding counted), per-image sums."""
    b, _, h, w = logits.shape
    r = k // 2
    total = 0.0
    for i in range(b):
        x, m = logits[i, 0], mask[i, 0]
        pad = np.pad(m, r)
        box = np.array([[pad[y:y + k, c:c + k].sum() / (k * k) for c in range(w)] for y in range(h)])
        wt = 1 + wb * np.abs(box - m)
        bce = np.maximum(x, 0) - x * m + np.log1p(np.exp(-np.abs(x)))
        p = 1 / (1 + np.exp(-x))
        inter, union = (p * m * wt).sum(), ((p + m) * wt).sum()
        total += (wt * bce).sum() / wt.sum() + 1 - (inter + 1) / (union - inter + 1)
    return total / b


def test_structure_loss_matches_float64_reference_and_is_truly_weighted():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2, 1, 9, 7)) * 2
    mask = np.zeros((2, 1, 9, 7))
    mask[0, 0, 2:6, 1:5] = 1
    mask[1, 0, 5:, 3:] = 1
    got = structure_loss(torch.tensor(logits), torch.tensor(mask), kernel=5)
    assert got.item() == pytest.approx(_ref_structure(logits, mask, k=5), rel=1e-10)
    assert structure_loss(torch.tensor(logits), torch.tensor(mask)).item() == pytest.approx(
        _ref_structure(logits, mask), rel=1e-10)
    # the widely copied variant averages the BCE unweighted: it must give a different number here
    lt, mt = torch.tensor(logits), torch.tensor(mask)
    plain_bce = F.binary_cross_entropy_with_logits(lt, mt)
    wt = 1 + 5 * (F.avg_pool2d(mt, 5, 1, 2) - mt).abs()
    ours_bce = ((wt * F.binary_cross_entropy_with_logits(lt, mt, reduction="none")).sum((2, 3)) / wt.sum((2, 3))).mean()
    assert abs(plain_bce.item() - ours_bce.item()) > 1e-3


def test_balanced_bce_by_hand():
    # 4 pixels, one positive: pos weight 3; logits 0 everywhere -> every pixel's BCE is log 2
    logits = torch.zeros(1, 1, 2, 2, dtype=torch.float64)
    mask = torch.tensor([[[[1.0, 0.0], [0.0, 0.0]]]], dtype=torch.float64)
    assert balanced_bce(logits, mask).item() == pytest.approx((3 * np.log(2) + 3 * np.log(2)) / 4)
    # logit 2 on the positive pixel: 3 * log(1 + e^-2); negatives log 2 each
    logits[0, 0, 0, 0] = 2.0
    want = (3 * np.log1p(np.exp(-2.0)) + 3 * np.log(2)) / 4
    assert balanced_bce(logits, mask).item() == pytest.approx(want)


# ------------------------------------------------------------------------------------------- model
def test_tiny_sam_roundtrip_and_matches_sam_forward(tiny_ckpt):
    model = build_prompt_free_sam(SamModelConfig(arch="custom", checkpoint=str(tiny_ckpt), custom=TINY))
    sam = build_sam("custom", TINY)
    load_sam_checkpoint(sam, tiny_ckpt)
    saved = torch.load(tiny_ckpt, weights_only=True)
    for k, v in model.state_dict().items():
        assert torch.equal(v, saved[k]), k
    images = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ours = model(images)
    # SAM's own (no_grad) forward, one image at a time, no prompts, single mask
    ref = sam([{"image": img * 255, "original_size": (64, 64)} for img in images], multimask_output=False)
    low = torch.cat([r["low_res_logits"] for r in ref])
    assert ours.shape == (2, 1, 64, 64)
    torch.testing.assert_close(ours, F.interpolate(low, (64, 64), mode="bilinear", align_corners=False),
                               rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(ours > 0, torch.cat([r["masks"] for r in ref]), rtol=0, atol=0)


def test_checkpoint_errors(tiny_ckpt, tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.pth"):
        build_prompt_free_sam(SamModelConfig(arch="custom", checkpoint=str(tmp_path / "missing.pth"), custom=TINY))
    state = torch.load(tiny_ckpt, weights_only=True)
    state.pop("mask_decoder.iou_token.weight")
    state["extra.weight"] = torch.zeros(1)
    bad = tmp_path / "bad.pth"
    torch.save(state, bad)
    with pytest.raises(ValueError, match=r"bad.pth.*missing keys \['mask_decoder.iou_token.weight'\].*extra.weight"):
        load_sam_checkpoint(build_sam("custom", TINY), bad)
    wider = TINY.__class__(**{**TINY.__dict__, "embed_dim": 48})
    with pytest.raises(ValueError, match="wrong shape"):
        load_sam_checkpoint(build_sam("custom", wider), tiny_ckpt)
    pickled = tmp_path / "pickled.pth"
    torch.save({"cfg": TINY}, pickled)  # a dataclass: only plain unpickling could read it
    with pytest.raises(ValueError, match="pickled.pth: not a readable SAM state dict"):
        load_sam_checkpoint(build_sam("custom", TINY), pickled)
    with pytest.raises(ValueError, match="model.arch='vit_q'"):
        build_sam("vit_q")


def test_sam_preset_selects_encoder_and_decoder_layers_only(tiny_ckpt):
    model = build_prompt_free_sam(SamModelConfig(arch="custom", checkpoint=str(tiny_ckpt), custom=TINY))
    rows = plan(model, AdapterConfig(preset="sam", rank=3, alpha=32)).rows
    names = {r.name for r in rows}
    enc = {f"image_encoder.blocks.{i}.{n}" for i in range(2) for n in ("attn.qkv", "attn.proj", "mlp.lin1", "mlp.lin2")}
    assert enc | {"image_encoder.neck.0", "image_encoder.neck.2"} <= names
    assert {"mask_decoder.output_upscaling.0", "mask_decoder.output_upscaling.3"} <= names
    assert not any(n.startswith(("prompt_encoder", "mask_decoder.iou_prediction_head", "image_encoder.patch_embed"))
                   for n in names)
    kinds = {r.name: r.adapter for r in rows}
    assert kinds["image_encoder.neck.0"] == "CPConv" and kinds["mask_decoder.output_upscaling.0"] == "CPConv"
    linears = [m for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)
               and n.startswith(("image_encoder.blocks", "mask_decoder.transformer",
                                  "mask_decoder.output_hypernetworks_mlps.0."))]
    assert len(names) == len(linears) + 4  # every such linear, 2 neck convs, 2 transposed convs


def test_forward_rejects_wrong_input(tiny_ckpt):
    model = build_prompt_free_sam(SamModelConfig(arch="custom", checkpoint=str(tiny_ckpt), custom=TINY))
    with pytest.raises(ValueError, match="B x 3 x H x W"):
        model(torch.rand(1, 1, 64, 64))
    assert isinstance(model, PromptFreeSam)
    with torch.no_grad():  # a non-native size is resized in and the logits come back at that size
        assert model(torch.rand(1, 3, 40, 40)).shape == (1, 1, 40, 40)


# ----------------------------------------------------------------------------------- a few steps
def test_lava_training_steps_reduce_the_loss(tiny_ckpt, tmp_path):
    from lava_vision.tasks.segmentation.config import SegDataConfig, SegLossConfig
    from lava_vision.tasks.segmentation.task import SegmentationTask
    from lava_vision.train.config import RunConfig, TrainConfig

    cfg = RunConfig(task="segmentation", model=SamModelConfig(arch="custom", checkpoint=str(tiny_ckpt), custom=TINY),
                    data=SegDataConfig(root=str(tmp_path / "syn"), splits={"train": "train", "val": "val"},
                                       image_size=64, synthetic=8),
                    adapter=AdapterConfig(preset="sam", rank=3, alpha=32, lam=0.1),
                    loss=SegLossConfig(), train=TrainConfig(seed=0))
    task = SegmentationTask(cfg)
    torch.manual_seed(0)
    model = task.build_model()
    inject(model, cfg.adapter)
    train_mode(model)
    batch = task.collate([task.build_dataset("train")[i] for i in range(4)])
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=3e-3)
    losses = []
    for _ in range(12):
        loss = task.training_step(model, batch)["loss"]
        total = loss + orthogonal_penalty(model)
        opt.zero_grad()
        total.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0], losses
    model.eval()
    val = task.collate([task.build_dataset("val")[i] for i in range(4)])
    preds = task.predict(model, val)
    assert preds.shape == (4, 1, 64, 64) and 0 <= preds.min() and preds.max() <= 1
    metrics = task.build_metrics()
    task.update_metrics(metrics, val["mask"].clone(), val)  # the ground truth as prediction
    out = metrics.compute()
    assert out["sm"].item() == pytest.approx(1.0, abs=1e-6) and out["iou"].item() == 1.0
    assert out["ber"].item() == 0.0 and out["mae"].item() == 0.0 and out["wfm"].item() == pytest.approx(1.0)
    rows = task.per_sample_metrics(val["mask"].clone(), val)
    assert [r["id"] for r in rows] == val["id"] and all(r["iou"] == 1.0 and r["ber"] == 0.0 for r in rows)
    paths = task.visualize(val, preds, tmp_path / "pics", start_index=3)
    import cv2
    panel = cv2.imread(str(paths[0]))
    # titled, enlarged 4x
    assert paths[0].name.startswith("00003_") and panel.shape[0] == 44 + 4 * 64 and panel.shape[1] > 4 * 4 * 64

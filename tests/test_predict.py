"""tools/predict.py and ``zoo.load(...).predict`` on each task's offline model: the written files
hold the model's own numbers, computed here independently (cv2 resizes, the model's forward,
float64 softmax / torch interpolation), at the input image's size."""
from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).parent / "toy"))
from inprocess_tools import ROOT, run_tool  # noqa: E402

from lava_vision import zoo  # noqa: E402

torch.set_num_threads(1)  # tiny models: threads only fight each other on a shared CPU


def randomly_adapted(cfg):
    """The recipe's base model with its adapter injected and every adapter factor set to N(0, 0.3²)
    (seeded), so the adapted predictions differ clearly from the base's."""
    from lava_vision.adapters import inject
    from lava_vision.train import build_base

    _, model = build_base(cfg)
    inject(model, cfg.adapter)
    torch.manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.copy_(torch.randn_like(p) * 0.3)
    return model


def write_rgb(path, rgb: np.ndarray) -> None:
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))


def test_classification_csv_holds_the_softmax_of_each_image(tmp_path, monkeypatch):
    from lava_vision.data.procedural import SHAPE_CLASSES, render_shapes

    images, labels = render_shapes(4, "target", "test", seed=3, size=48)  # 48 px: resized to the model's 32
    (tmp_path / "in").mkdir()
    for i, rgb in enumerate(images):
        write_rgb(tmp_path / "in" / f"img{i}.png", rgb)
    run_tool(monkeypatch, "predict.py", "--zoo", "quickstart", "--input", str(tmp_path / "in"),
             "--out", str(tmp_path / "out"), "--device", "cpu")
    with open(tmp_path / "out" / "predictions.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["file", "class", *SHAPE_CLASSES]
    assert [r[0] for r in rows[1:]] == [f"img{i}.png" for i in range(4)]
    got = np.array([[float(v) for v in r[2:]] for r in rows[1:]])

    entry = zoo.load("quickstart")
    x = np.stack([cv2.resize(rgb, (32, 32), interpolation=cv2.INTER_LINEAR) for rgb in images]) / 255.0
    x = torch.from_numpy((x - 0.5) / 0.25).permute(0, 3, 1, 2).float()  # the recipe's mean / std
    with torch.no_grad():
        want = entry.model(x).double().softmax(1).numpy()
    np.testing.assert_allclose(got.sum(1), 1.0, atol=1e-6)
    np.testing.assert_allclose(got, want, atol=1e-6)
    assert [r[1] for r in rows[1:]] == [SHAPE_CLASSES[k] for k in want.argmax(1)]
    assert (want.argmax(1) == labels).mean() >= 0.75  # the adapted model recognises real shapes

    # the same through the Python API, with the class names and flat metrics on the loaded entry
    result = entry.predict(images[0])
    assert entry.classes == list(SHAPE_CLASSES) and result.classes == list(SHAPE_CLASSES)
    np.testing.assert_allclose(result.probs, want[0], atol=1e-6)
    assert result.label == SHAPE_CLASSES[int(want[0].argmax())]
    recorded = json.loads((ROOT / "zoo" / "quickstart" / "metrics.json").read_text())
    assert entry.metrics == recorded["metrics"] and entry.record == recorded


def test_load_run_predicts_with_a_run_folders_config_and_best_adapter(tmp_path):
    import shutil

    from lava_vision.data.procedural import render_shapes
    from lava_vision.inference import load_run

    entry = zoo.load("quickstart")
    run = tmp_path / "run"
    shutil.copytree(ROOT / "zoo" / "quickstart", run / "best")
    (run / "config.json").write_text(json.dumps(entry.config.to_dict()))
    images, _ = render_shapes(2, "target", "test", seed=4, size=40)
    x = np.stack([cv2.resize(rgb, (32, 32), interpolation=cv2.INTER_LINEAR) for rgb in images]) / 255.0
    with torch.no_grad():
        want = entry.model(torch.from_numpy((x - 0.5) / 0.25).permute(0, 3, 1, 2).float()).double().softmax(1)
    predictor = load_run(run)
    for rgb, w in zip(images, want.numpy()):
        np.testing.assert_allclose(predictor.predict(rgb).probs, w, atol=1e-6)
    base = load_run(recipe=ROOT / "tasks" / "quickstart.py").predict(images[0]).probs  # no adapter: the base
    assert np.abs(base - want[0].numpy()).max() > 1e-2


def _csv(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], {r[0]: np.array([float(v) for v in r[2:]]) for r in rows[1:]}


def test_no_adapter_predicts_with_the_base_alone_and_names_the_classes(tmp_path, monkeypatch):
    """--zoo NAME --no-adapter (the entry's base) and RECIPE --no-adapter whose data folder is absent:
    both CSVs name CIFAR-10's classes and hold the shipped ResNet-20's own softmax, computed here from
    its safetensors file, a fresh network and cv2 (the photos are 32 px: no resize)."""
    import os
    import shutil

    from safetensors.torch import load_file

    from lava_vision.tasks.classification.cifar_resnet import build_cifar_resnet

    photos = ROOT / "lava_vision" / "assets" / "cifar10_report_photos" / "test"
    classes = sorted(os.listdir(photos))  # the class folders: CIFAR-10's classes in label order
    (tmp_path / "in").mkdir()
    for name in ("bird", "ship", "cat"):
        shutil.copyfile(photos / name / sorted(os.listdir(photos / name))[0], tmp_path / "in" / f"{name}.jpg")
    run_tool(monkeypatch, "predict.py", "--zoo", "cifar_resnet20_gaussian_noise", "--no-adapter",
             "--input", str(tmp_path / "in"), "--out", str(tmp_path / "zoo_base"), "--device", "cpu")
    run_tool(monkeypatch, "predict.py", str(ROOT / "tasks" / "cifar_resnet20_noise.py"), "--no-adapter",
             "--set", f"data.root={tmp_path / 'absent'}", "--input", str(tmp_path / "in"),
             "--out", str(tmp_path / "recipe_base"), "--device", "cpu")

    net = build_cifar_resnet("cifar_resnet20")
    state = load_file(str(ROOT / "lava_vision" / "assets" / "cifar_resnet20.safetensors"))
    missing, unexpected = net.load_state_dict(state, strict=False)
    assert not unexpected and all(k.endswith("num_batches_tracked") for k in missing)
    net.eval()
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    for out in ("zoo_base", "recipe_base"):
        header, probs = _csv(tmp_path / out / "predictions.csv")
        assert header == ["file", "class", *classes]
        for file, got in probs.items():
            rgb = cv2.cvtColor(cv2.imread(str(tmp_path / "in" / file)), cv2.COLOR_BGR2RGB) / 255.0
            x = torch.from_numpy((rgb - mean) / std).permute(2, 0, 1)[None].float()
            with torch.no_grad():
                want = net(x).double().softmax(1)[0].numpy()
            np.testing.assert_allclose(got, want, atol=1e-5)
    # the adapted entry predicts otherwise: --no-adapter really left its adapter out
    adapted = zoo.load("cifar_resnet20_gaussian_noise").predict(cv2.cvtColor(
        cv2.imread(str(tmp_path / "in" / "bird.jpg")), cv2.COLOR_BGR2RGB)).probs
    assert np.abs(adapted - _csv(tmp_path / "zoo_base" / "predictions.csv")[1]["bird.jpg"]).max() > 1e-3


def test_depth_files_are_the_model_output_in_metres_and_millimetres(tmp_path, monkeypatch):
    from lava_vision.data.synthetic_depth import SyntheticDepthDataset

    room = SyntheticDepthDataset(1, "B", 84, 112, seed=7)[0]
    small = SyntheticDepthDataset(2, "B", 70, 100, seed=7)[1]  # shorter side 70 -> 84, width 120 -> 126
    (tmp_path / "in").mkdir()
    write_rgb(tmp_path / "in" / "room.png", room["rgb"])
    write_rgb(tmp_path / "in" / "small.jpg", small["rgb"])
    small_rgb = cv2.cvtColor(cv2.imread(str(tmp_path / "in" / "small.jpg")), cv2.COLOR_BGR2RGB)  # as decoded
    run_tool(monkeypatch, "predict.py", "--zoo", "depth_synthetic", "--input", str(tmp_path / "in"),
             "--out", str(tmp_path / "out"), "--device", "cpu")

    model = zoo.load("depth_synthetic").model
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    for name, rgb, size in (("room", room["rgb"], (112, 84)), ("small", small_rgb, (126, 84))):
        x = cv2.resize(rgb, size, interpolation=cv2.INTER_CUBIC) if size != rgb.shape[1::-1] else rgb
        x = torch.from_numpy((x / 255.0 - mean) / std).permute(2, 0, 1)[None].float()
        with torch.no_grad():
            pred = model(pixel_values=x).predicted_depth[:, None]
        want = F.interpolate(pred, rgb.shape[:2], mode="bilinear", align_corners=False)[0, 0].clamp(1e-3, 10.0)
        metres = np.load(tmp_path / "out" / f"{name}_depth_m.npy")
        mm = cv2.imread(str(tmp_path / "out" / f"{name}_depth_mm.png"), cv2.IMREAD_UNCHANGED)
        colour = cv2.imread(str(tmp_path / "out" / f"{name}_depth_color.png"))
        assert metres.dtype == np.float32 and metres.shape == rgb.shape[:2]
        np.testing.assert_allclose(metres, want.numpy(), atol=1e-5)
        assert mm.dtype == np.uint16 and np.array_equal(mm, np.round(1000.0 * metres.astype(np.float64)))
        assert colour.shape == (*rgb.shape[:2], 3)
    metres = np.load(tmp_path / "out" / "room_depth_m.npy")
    assert np.mean(np.abs(metres - room["depth"]) / room["depth"]) < 0.3  # the adapted model sees the room


@pytest.fixture
def seg_adapter(tmp_path):
    """A tiny SAM checkpoint and an adapter with non-zero random weights (so adapted != base)."""
    from lava_vision.adapters import save_adapter
    from lava_vision.tasks.segmentation.tiny import save_tiny_sam
    from lava_vision.train import load_recipe

    ckpt = save_tiny_sam(tmp_path / "tiny_sam.pth")
    cfg = load_recipe(ROOT / "tasks" / "seg_synthetic.py")
    cfg.model.checkpoint = str(ckpt)
    model = randomly_adapted(cfg)
    return ckpt, save_adapter(model, tmp_path / "adapter"), cfg


def test_segmentation_mask_is_the_thresholded_probability_at_the_image_size(seg_adapter, tmp_path, monkeypatch,
                                                                          capsys):
    from lava_vision.train import load_trained

    ckpt, adapter, cfg = seg_adapter
    rng = np.random.default_rng(0)
    (tmp_path / "in").mkdir()
    images = {"a": rng.integers(0, 256, (50, 70, 3), dtype=np.uint8),
              "b": cv2.GaussianBlur(rng.integers(0, 256, (90, 40, 3), dtype=np.uint8), (9, 9), 3)}
    for name, rgb in images.items():
        write_rgb(tmp_path / "in" / f"{name}.png", rgb)
    (tmp_path / "in" / "z_broken.png").write_bytes(b"not a png")  # read last: the earlier outputs stay
    with pytest.raises(SystemExit) as stop:
        run_tool(monkeypatch, "predict.py", str(ROOT / "tasks" / "seg_synthetic.py"), "--set",
                 f"model.checkpoint={ckpt}", "--adapter", str(adapter), "--input", str(tmp_path / "in"),
                 "--out", str(tmp_path / "out"), "--device", "cpu")
    assert stop.value.code == 2
    assert "z_broken.png: cannot decode image" in capsys.readouterr().err

    _, model = load_trained(cfg, adapter)
    for name, rgb in images.items():
        x = torch.from_numpy(cv2.resize(rgb, (64, 64), interpolation=cv2.INTER_LINEAR) / 255.0)
        with torch.no_grad():
            prob = torch.sigmoid(model.eval()(x.permute(2, 0, 1)[None].float()))
        want = F.interpolate(prob, rgb.shape[:2], mode="bilinear", align_corners=False)[0, 0].numpy() > 0.5
        mask = cv2.imread(str(tmp_path / "out" / f"{name}_mask.png"), cv2.IMREAD_UNCHANGED)
        overlay = cv2.imread(str(tmp_path / "out" / f"{name}_overlay.png"))
        assert mask.shape == rgb.shape[:2] and set(np.unique(mask)) <= {0, 255}
        assert 0 < want.mean() < 1  # a mask with both classes, so the comparison means something
        assert np.array_equal(mask == 255, want)
        assert overlay.shape == (*rgb.shape[:2], 3)
        assert np.array_equal(cv2.cvtColor(overlay, cv2.COLOR_BGR2RGB)[~want], rgb[~want])  # tint only on the mask


def test_text2image_writes_one_image_per_prompt_and_seed(tmp_path, monkeypatch):
    from lava_vision.adapters import disable_adapters, save_adapter
    from lava_vision.tasks.text2image.tiny import write_tiny_sdxl
    from lava_vision.train import load_recipe, load_trained

    sdxl = write_tiny_sdxl(tmp_path / "sdxl")
    recipe = tmp_path / "t2i.py"
    recipe.write_text(
        "from lava_vision.adapters import AdapterConfig\n"
        "from lava_vision.tasks.text2image.config import T2IDataConfig, T2IMetricsConfig, T2IModelConfig\n"
        "from lava_vision.train.config import RunConfig, TrainConfig\n"
        f"config = RunConfig(task='text2image', model=T2IModelConfig(pretrained={str(sdxl)!r}, inference_steps=2, "
        "metrics=T2IMetricsConfig(fid_features='none')), data=T2IDataConfig(resolution=32), "
        "adapter=AdapterConfig(method='lava', rank=2, alpha=2.0, preset='sdxl_unet', excludes=['vae.*']), "
        "train=TrainConfig(precision='fp32'))\n")
    cfg = load_recipe(recipe)
    model = randomly_adapted(cfg)
    adapter = save_adapter(model, tmp_path / "adapter")
    prompts = ["a red square icon", "", "a blue ring, 3d"]
    (tmp_path / "prompts.txt").write_text("\n".join(prompts) + "\n")
    run_tool(monkeypatch, "predict.py", str(recipe), "--adapter", str(adapter), "--input",
             str(tmp_path / "prompts.txt"), "--seeds", "0", "5", "--out", str(tmp_path / "out"), "--device", "cpu")

    with open(tmp_path / "out" / "prompts.csv", newline="") as f:
        listing = list(csv.DictReader(f))
    pairs = [(p, s) for p in prompts if p for s in (0, 5)]
    assert [(r["prompt"], int(r["seed"])) for r in listing] == pairs  # blank line skipped
    assert len(list((tmp_path / "out").glob("*.png"))) == 4
    _, model = load_trained(cfg, adapter)
    model.eval()
    for row, (prompt, seed) in zip(listing, pairs):
        got = cv2.cvtColor(cv2.imread(str(tmp_path / "out" / row["file"])), cv2.COLOR_BGR2RGB)
        kw = dict(prompts=[prompt], seeds=[seed], height=32, width=32, steps=2, guidance_scale=5.0)
        want = (model(mode="generate", **kw)[0].permute(1, 2, 0).numpy() * 255).round()
        assert got.shape == (32, 32, 3)
        assert np.abs(got.astype(np.float64) - want).max() <= 1  # uint8 rounding
        with disable_adapters(model):
            base = (model(mode="generate", **kw)[0].permute(1, 2, 0).numpy() * 255).round()
        assert np.abs(got.astype(np.float64) - base).max() > 8  # the adapter was applied

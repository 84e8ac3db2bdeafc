"""Captioned image folders: metadata.jsonl / instance prompt, resize-crop-flip and SDXL time ids."""
import json
import random

import pytest
import torch
from PIL import Image

from lava_vision.data.captions import CaptionedImages, PromptSeeds, read_captions, resize_crop_flip
from lava_vision.data.synthetic_images import write_captioned_images


def test_metadata_and_instance_prompt(tmp_path):
    root = write_captioned_images(tmp_path / "d", count=3, size=32)
    pairs = read_captions(root)
    assert [p.name for p, _ in pairs] == ["000.png", "001.png", "002.png"]
    assert pairs[1][1] == "a 3d icon of a green square"
    inst = read_captions(root, instance_prompt="a TOK icon")
    assert [c for _, c in inst] == ["a TOK icon"] * 3


def test_bad_metadata_is_named(tmp_path):
    (tmp_path / "a.png").write_bytes(b"")
    (tmp_path / "metadata.jsonl").write_text(json.dumps({"file_name": "a.png", "text": "x"}) + "\n"
                                             + json.dumps({"file_name": "a.png"}) + "\n")
    with pytest.raises(ValueError, match=r"metadata.jsonl:2: missing key 'text'"):
        read_captions(tmp_path)
    (tmp_path / "metadata.jsonl").write_text(json.dumps({"file_name": "b.png", "text": "x"}))
    with pytest.raises(FileNotFoundError, match=r"metadata.jsonl:1: image .*b.png does not exist"):
        read_captions(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="metadata.jsonl is missing"):
        read_captions(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_captions(tmp_path / "nowhere")


def test_resize_crop_flip_time_ids():
    img = Image.new("RGB", (80, 64))  # w 80, h 64 -> resized to 40 x 32 for resolution 32
    out, original, (top, left) = resize_crop_flip(img, 32, center_crop=True, flip=False, rng=random.Random(0))
    assert out.size == (32, 32) and original == (64, 80) and (top, left) == (0, 4)
    # a flip mirrors the crop window: left' = 40 - 4 - 32 = 4 (centred stays centred)
    _, _, (_, left_f) = resize_crop_flip(img, 32, center_crop=True, flip=True, rng=random.Random(0))
    assert left_f == 4
    lefts = {resize_crop_flip(img, 32, False, False, random.Random(s))[2][1] for s in range(40)}
    assert lefts <= set(range(9)) and len(lefts) > 3
    # flipping a random crop at left=l records 8 - l
    for s in range(5):
        l0 = resize_crop_flip(img, 32, False, False, random.Random(s))[2][1]
        l1 = resize_crop_flip(img, 32, False, True, random.Random(s))[2][1]
        assert l1 == 8 - l0


def test_flip_really_mirrors_pixels():
    img = Image.new("RGB", (32, 32))
    img.putpixel((0, 5), (255, 0, 0))
    out, _, _ = resize_crop_flip(img, 32, True, True, random.Random(0))
    assert out.getpixel((31, 5)) == (255, 0, 0)


def test_dataset_samples(tmp_path):
    root = write_captioned_images(tmp_path / "d", count=2, size=32)
    ds = CaptionedImages(read_captions(root), 32, center_crop=True)
    s = ds[1]  # 001.png is 40 x 32
    assert s["pixel_values"].shape == (3, 32, 32)
    assert s["pixel_values"].min() >= -1 and s["pixel_values"].max() <= 1
    assert s["time_ids"].tolist() == [32.0, 40.0, 0.0, 4.0, 32.0, 32.0]
    val = PromptSeeds(read_captions(root), seeds=[3, 4], resolution=32)
    assert len(val) == 4 and val[1]["seed"] == 4 and val[1]["image"].shape == (3, 32, 32)
    assert 0 <= float(val[1]["image"].min()) and float(val[1]["image"].max()) <= 1
    prompts = PromptSeeds([(None, "a cat")], seeds=[0], resolution=32)
    assert "image" not in prompts[0] and prompts[0]["prompt"] == "a cat"
    assert torch.is_tensor(s["time_ids"])


def test_recipe_config_round_trips_through_json():
    import json
    from pathlib import Path

    from lava_vision.train.config import RunConfig
    from lava_vision.train.recipe import load_recipe

    cfg = load_recipe(Path(__file__).resolve().parent.parent / "tasks" / "sdxl_3d_icons_lora.py")
    back = RunConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert back == cfg
    assert back.model.metrics.clip_model == "openai/clip-vit-large-patch14"
    assert back.optim.lr == 5e-4 and back.train.epochs == 10 and back.adapter.method == "lora"

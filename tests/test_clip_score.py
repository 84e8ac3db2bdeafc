"""CLIP score: 100 * max(cos, 0) averaged, against float64 numpy on independently computed embeddings."""
import numpy as np
import pytest
import torch

from lava_vision.metrics.clip_score import CLIPScore, clip_pixel_values
from lava_vision.tasks.text2image.tiny import tiny_clip


def test_clip_score_matches_float64_reference(tmp_path):
    path = tiny_clip(tmp_path / "clip")
    metric = CLIPScore(str(path))
    assert metric.key == "clip_score_clip"
    g = torch.Generator().manual_seed(0)
    images = torch.rand(5, 3, 40, 36, generator=g)
    prompts = ["a red square", "a blue circle", "icon", "a 3d icon of a cat", "zz"]
    metric.update(images[:3], prompts[:3])
    metric.update(images[3:], prompts[3:])

    # reference: the embeddings from the vision / text towers directly, cosine in float64 numpy
    m, proc = metric.model, metric.processor
    with torch.no_grad():
        img = m.visual_projection(m.vision_model(pixel_values=clip_pixel_values(proc, images)).pooler_output)
        tok = proc.tokenizer(prompts, padding=True, return_tensors="pt")
        txt = m.text_projection(m.text_model(**tok).pooler_output)
    img, txt = img.double().numpy(), txt.double().numpy()
    cos = (img * txt).sum(1) / (np.linalg.norm(img, axis=1) * np.linalg.norm(txt, axis=1))
    ref = np.mean(100 * np.maximum(cos, 0))
    assert (cos < 0).any() and (cos > 0).any()  # these inputs exercise the clamp at 0
    assert metric.compute().item() == pytest.approx(ref, rel=1e-5, abs=1e-5)


def test_prompt_count_must_match(tmp_path):
    metric = CLIPScore(str(tiny_clip(tmp_path / "clip")))
    with pytest.raises(ValueError, match="3 images but 2 prompts"):
        metric.update(torch.zeros(3, 3, 8, 8), ["a", "b"])


def test_missing_clip_folder_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="no config.json"):
        CLIPScore(str(tmp_path / "nope"))

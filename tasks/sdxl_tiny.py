"""Offline smoke run of the SDXL pipeline: tiny same-class SDXL components and 8 generated captioned
32x32 images, both written under runs/_assets/ on first use (random weights: this proves the code
path, not image quality). FID on tiny CLIP image features, CLIP score with the same tiny CLIP.

    python tools/train.py tasks/sdxl_tiny.py --set train.max_steps=10
"""
from pathlib import Path

from lava_vision.adapters import AdapterConfig
from lava_vision.data.synthetic_images import write_captioned_images
from lava_vision.tasks.text2image.config import T2IDataConfig, T2ILossConfig, T2IMetricsConfig, T2IModelConfig
from lava_vision.tasks.text2image.tiny import tiny_clip, write_tiny_sdxl
from lava_vision.train.config import EvalConfig, OptimConfig, OutputConfig, RunConfig, TrainConfig

ASSETS = Path(__file__).resolve().parent.parent / "runs" / "_assets"

config = RunConfig(
    task="text2image",
    model=T2IModelConfig(pretrained=str(write_tiny_sdxl(ASSETS / "tiny_sdxl")), inference_steps=2,
                         metrics=T2IMetricsConfig(fid_features="clip",
                                                  clip_model=str(tiny_clip(ASSETS / "tiny_clip")))),
    data=T2IDataConfig(root=str(write_captioned_images(ASSETS / "tiny_icons", count=8, size=32)), resolution=32,
                       center_crop=True, random_flip=True, cache_latents=True, val_seeds=[0]),
    loss=T2ILossConfig(snr_gamma=5.0),
    # the paper's init (V = 0, orthonormal U, K), with which this lam was chosen; the defaults differ
    adapter=AdapterConfig(method="lava", rank=2, alpha=2.0, lam=0.01,
                          init_cp_zero="V", init_cp="orthonormal", preset="sdxl_unet"),
    optim=OptimConfig(lr=5e-3, weight_decay=1e-2, grad_clip=1.0),
    train=TrainConfig(epochs=2, batch_size=4, num_workers=0, precision="fp32", log_every=1),
    eval=EvalConfig(batch_size=4, max_samples=4, main_metric="clip_score_tiny_clip", mode="max", num_visualize=4),
    output=OutputConfig(name="sdxl_tiny"),
)

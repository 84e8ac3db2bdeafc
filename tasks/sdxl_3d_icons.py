"""Paper section 5.5 / appendix A.9: LAVA on SDXL base, fine-tuned on the 23-image 3D icons style set.

lr 5e-4 and 10 epochs as the paper; everything else at the defaults of diffusers'
examples/text_to_image/train_text_to_image_lora_sdxl.py (resolution 1024, batch 16, rank 4,
AdamW weight decay 1e-2, grad-norm clip 1.0, constant lr, no SNR weighting, no offset noise, random
crop, no flip). LAVA adapts the attention projections *and* the ResNet / sampler convolutions (the
``sdxl_unet`` preset); diffusers' script and ``sdxl_3d_icons_lora.py`` adapt attention only.

    python tools/train.py tasks/sdxl_3d_icons.py
    python tools/generate.py tasks/sdxl_3d_icons.py --adapter runs/sdxl_3d_icons --out out/icons_grid.png
    python tools/export.py runs/sdxl_3d_icons --format kohya    # one file for ComfyUI / A1111 / diffusers
    python tools/export.py runs/sdxl_3d_icons --format merged   # the merged UNet as a diffusers folder
"""
from lava_vision.adapters import AdapterConfig
from lava_vision.tasks.text2image.config import T2IDataConfig, T2ILossConfig, T2IMetricsConfig, T2IModelConfig
from lava_vision.train.config import EvalConfig, OptimConfig, OutputConfig, RunConfig, ScheduleConfig, TrainConfig

config = RunConfig(
    task="text2image",
    model=T2IModelConfig(
        pretrained="stabilityai/stable-diffusion-xl-base-1.0",
        vae="madebyollin/sdxl-vae-fp16-fix",  # the original SDXL VAE overflows in fp16
        inference_steps=25, guidance_scale=5.0,
        metrics=T2IMetricsConfig(fid_features="inception", inception_weights="",
                                 clip_model="openai/clip-vit-large-patch14"),
    ),
    data=T2IDataConfig(root="datasets/text2image/3d_icons", resolution=1024, center_crop=False, random_flip=False,
                       val_seeds=[0]),
    loss=T2ILossConfig(prediction_type="", snr_gamma=0.0, noise_offset=0.0),
    # the paper's init (V = 0, orthonormal U, K), with which this lam was chosen; the defaults differ
    adapter=AdapterConfig(method="lava", rank=4, alpha=4.0, lam=0.1,
                          init_cp_zero="V", init_cp="orthonormal", preset="sdxl_unet"),
    optim=OptimConfig(name="adamw", lr=5e-4, weight_decay=1e-2, betas=(0.9, 0.999), grad_clip=1.0),
    schedule=ScheduleConfig(name="constant"),
    train=TrainConfig(epochs=10, batch_size=16, seed=0, precision="auto", gradient_checkpointing=True,
                      num_workers=2, log_every=1),
    eval=EvalConfig(split="val", every=5, batch_size=4, main_metric="fid_inception2048", mode="min",
                    num_visualize=8),
    output=OutputConfig(name="sdxl_3d_icons"),
)

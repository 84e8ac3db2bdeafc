"""A real pretrained network recovering from a real corruption: the CIFAR-10 ResNet-20 (He et al.'s
CIFAR variant, weights of akamaster/pytorch_resnet_cifar10, shipped as
lava_vision/assets/cifar_resnet20.safetensors) adapted to CIFAR-10 photos corrupted with
Gaussian noise of sigma 0.1 (CIFAR-10-C gaussian_noise, severity 5), with the paper's CIFAR
optimiser: AdamW, lr 1e-3, betas (0.9, 0.999), weight decay 0, batch 128, 10 epochs.
CP rank 4 on every conv; the base's BatchNorm statistics stay frozen (the engine keeps frozen
norm layers in eval mode) and the 10-way head ``linear`` is trained in full.

Data: ONE class folder ``<root>/<class>/<image>`` split into fixed, stratified, disjoint parts
(data.split_sizes = (0.5, 0.1, 0.4) of the folder: of the 10,000 photos below 5,000 adapt / 1,000
select / 4,000 report, the parts earlier versions named as counts; seeded by data.split_seed,
never by the run's seed). ``best/`` is chosen on the val part; report the test part:

    python tools/train.py tasks/cifar_resnet20_noise.py
    python tools/eval.py tasks/cifar_resnet20_noise.py --adapter runs/cifar_resnet20_noise --split test --no-adapter
    python tools/train.py tasks/cifar_resnet20_noise.py --set data.corruption=defocus_blur output.name=r20_defocus
    python tools/train.py tasks/cifar_resnet20_noise.py --set data.root=my_photos    # my_photos/<class>/<image>

DATA ROOT: the default, ``../shared/real/cifar10-jpg/train`` (10,000 CIFAR-10 training photos,
1,000 per class, as JPEG), exists only on this project's development machines, for studies
(studies/real_resnet.sh). Elsewhere set data.root to a class folder of your own (or of CIFAR-10
images), of any size: the parts are fractions of it (10 classes, else also set model.num_classes);
a missing folder is an error that names it, before anything is built. ResNet-32: --set
model.name=cifar_resnet32 model.pretrained=/path/resnet32-d509ac18.th (the package ships only
ResNet-20's weights).
"""
from lava_vision.adapters import AdapterConfig
from lava_vision.tasks.classification.config import ClassificationDataConfig, ClassificationModelConfig
from lava_vision.train.config import EvalConfig, OptimConfig, OutputConfig, RunConfig, ScheduleConfig, TrainConfig

config = RunConfig(
    task="classification",
    model=ClassificationModelConfig(name="cifar_resnet20", library="lava_vision", pretrained="hub", num_classes=10,
                                    input_size=32),  # ImageNet mean / std, as the weights were trained
    data=ClassificationDataConfig(source="imagefolder", root="../shared/real/cifar10-jpg/train",
                                  split_sizes=(0.5, 0.1, 0.4), split_seed=0, hflip=True,
                                  corruption="gaussian_noise", severity=5, corruption_seed=0, cache_images=True),
    adapter=AdapterConfig(method="lava", preset="cnn", rank=4, modules_to_save=["linear"]),
    optim=OptimConfig(name="adamw", lr=1e-3, betas=(0.9, 0.999), weight_decay=0.0),
    schedule=ScheduleConfig(name="constant"),
    # tune_conv_paths: each CP conv's path timed on the first batch (2 s here); on this project's CPU the
    # timing picks the kernel path where auto's FLOP rule picks two_conv: 0.64x the step (docs/performance.md)
    train=TrainConfig(epochs=10, batch_size=128, num_workers=0, log_every=20, seed=0, tune_conv_paths=True),
    eval=EvalConfig(split="val", every=1, batch_size=500, main_metric="top1", mode="max", num_visualize=0),
    output=OutputConfig(root="runs", name="cifar_resnet20_noise"),
)

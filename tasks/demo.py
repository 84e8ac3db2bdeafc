"""The demo (``make demo``): a real pretrained network recovers from a real corruption, in about a
minute of training on 2 CPU cores, with nothing downloaded.

The CIFAR-10 ResNet-20 the package ships (lava_vision/assets/cifar_resnet20.safetensors, weights of
akamaster/pytorch_resnet_cifar10) meets CIFAR-10 photos corrupted with Gaussian noise (CIFAR-10-C
gaussian_noise, severity 5) and is adapted with the default LAVA adapter (``AdapterConfig()``: CP
rank 4 on every conv, the 10-way head ``linear`` trained in full) and the real-network recipe's
optimiser (tasks/cifar_resnet20_noise.py), on a budget cut to fit about a minute: 2,000 photos,
8 epochs of batch 128 (128 steps).

The photos ship in the package (lava_vision/assets/cifar10_report_photos, provenance in its
README): three disjoint parts of one folder of CIFAR-10 training photos, ``train/`` (2,000 adapt
photos), ``val/`` (500 select photos: ``best/`` is chosen on them) and ``test/`` (1,000 report
photos, never used for training or selection). ``python tasks/demo.py`` trains, then prints the
frozen base and the adapted model (``best/``) on the report photos, and draws panels of report
photos, one per class, before and after:

    python tasks/demo.py                                         # what make demo runs
    python tasks/demo.py --set train.max_steps=16                # shorter (make demo DEMO_ARGS="--set ...")
    python tools/train.py tasks/demo.py                          # the recipe alone: train, a validation table
    python tools/eval.py runs/demo-<time> --split test           # a finished run, again on the report photos
"""
from pathlib import Path

import lava_vision
from lava_vision.adapters import AdapterConfig
from lava_vision.tasks.classification.config import ClassificationDataConfig, ClassificationModelConfig
from lava_vision.train.config import EvalConfig, OptimConfig, OutputConfig, RunConfig, ScheduleConfig, TrainConfig

PHOTOS = Path(lava_vision.__file__).parent / "assets" / "cifar10_report_photos"

config = RunConfig(
    task="classification",
    model=ClassificationModelConfig(name="cifar_resnet20", library="lava_vision", pretrained="hub", num_classes=10,
                                    input_size=32),  # ImageNet mean / std, as the weights were trained
    data=ClassificationDataConfig(source="imagefolder", root=str(PHOTOS), hflip=True,  # PHOTOS/<split>/<class>
                                  corruption="gaussian_noise", severity=5, corruption_seed=0, cache_images=True),
    adapter=AdapterConfig(method="lava", preset="cnn", rank=4, modules_to_save=["linear"]),
    optim=OptimConfig(name="adamw", lr=1e-3, betas=(0.9, 0.999), weight_decay=0.0),
    schedule=ScheduleConfig(name="constant"),
    train=TrainConfig(epochs=8, batch_size=128, num_workers=0, log_every=8, seed=0),
    eval=EvalConfig(split="val", every=1, batch_size=500, main_metric="top1", mode="max", num_visualize=0),
    output=OutputConfig(root="runs", name="demo"),
)


def main(overrides: list[str]) -> None:
    """Train (``overrides``: ``--set`` items), then before (frozen base) | after (best/) on the report
    photos, and panels of them. The run folder is ``runs/demo-<time>``, unless output.name is set."""
    import time

    from lava_vision.train import build_base, evaluate, load_trained, train
    from lava_vision.train.recipe import apply_overrides

    cfg = apply_overrides(config, [f"output.name={time.strftime('demo-%Y%m%d-%H%M%S')}", *overrides])
    start = time.monotonic()
    run_dir = train(cfg)
    trained = time.monotonic() - start
    task, base = build_base(cfg)
    before = evaluate(task, base, "test", cfg.eval.batch_size)
    task, adapted = load_trained(cfg, run_dir / "best")
    after = evaluate(task, adapted, "test", cfg.eval.batch_size)
    draw_panels(task, base, run_dir / "panels" / "before")
    draw_panels(task, adapted, run_dir / "panels" / "after")
    n = len(task.build_dataset("test"))
    print(f"\n{n} report photos with {cfg.data.corruption} (severity {cfg.data.severity}), never used for "
          f"training or selection; {trained:.0f} s of training")
    print(f"{'metric':<16} {'before':>8} {'after':>8} {'delta':>8}")
    for key in ("top1", "top5", "mean_class_acc"):
        print(f"{key:<16} {before[key]:>8.3f} {after[key]:>8.3f} {after[key] - before[key]:>+8.3f}")
    print("before: the frozen base; after: the base + LAVA (best/, chosen on the 500 select photos)")
    print("panels: one report photo per class, panels/before and panels/after")
    print(f"run folder: {run_dir}")


def draw_panels(task, model, out: Path) -> None:
    """One panel per class: the first report photo of each class, as the model sees it (corrupted)."""
    ds = task.build_dataset("test")
    labels = ds.labels[ds.index]
    picks = [int((labels == c).nonzero()[0][0]) for c in range(len(ds.classes))]
    batch = task.collate([ds[i] for i in picks])
    task.visualize(batch, task.predict(model, batch), out, 0)


if __name__ == "__main__":
    import sys

    if len(sys.argv) > 1 and sys.argv[1] != "--set":
        sys.exit("usage: python tasks/demo.py [--set KEY=VALUE ...]   (e.g. --set train.max_steps=16)")
    main(sys.argv[2:])

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
from dataclasses import replace
from pathlib import Path

import lava_vision
from lava_vision.train import load_recipe

PHOTOS = Path(lava_vision.__file__).parent / "assets" / "cifar10_report_photos"
# the real-network recipe (its model, adapter, optimiser), on the shipped photos (PHOTOS/<split>/<class>)
# and a budget cut to about a minute: 8 epochs of 2,000 photos
RECIPE = load_recipe(Path(__file__).with_name("cifar_resnet20_noise.py"))
config = replace(RECIPE, data=replace(RECIPE.data, root=str(PHOTOS), split_sizes=()),
                 train=replace(RECIPE.train, epochs=8, log_every=8), output=replace(RECIPE.output, name="demo"))


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

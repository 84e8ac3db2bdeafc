"""Offline quickstart: LAVA adapts QuickNet, a small CNN pretrained by this project on procedurally
drawn shapes (``source`` domain: bright shapes on dark, clean backgrounds; committed as
lava_vision/assets/quicknet_shapes.safetensors by tools/pretrain_quickstart_base.py), to the
``target`` domain (dark, blurred shapes on bright, textured, colour-graded backgrounds). Nothing
is downloaded: the data is drawn by lava_vision.data.procedural.

    python tools/train.py tasks/quickstart.py                                  # train, evaluate
    python tools/eval.py tasks/quickstart.py --adapter runs/quickstart --no-adapter   # base vs adapted
    python tools/visualize.py tasks/quickstart.py --adapter runs/quickstart --num 8 --out runs/quickstart/panels
    python tools/train.py tasks/quickstart.py --set adapter.method=lora output.name=quickstart_lora
    python tools/train.py tasks/quickstart.py --set adapter.method=full output.name=quickstart_full
    python tasks/quickstart.py      # all in one: base vs adapted table, confusion matrices, run folder
"""
from lava_vision.adapters import AdapterConfig
from lava_vision.tasks.classification.config import ClassificationDataConfig, ClassificationModelConfig
from lava_vision.train.config import EvalConfig, OptimConfig, OutputConfig, RunConfig, ScheduleConfig, TrainConfig

config = RunConfig(
    task="classification",
    # "hub" = the library's own default weights; for QuickNet that is the committed asset
    model=ClassificationModelConfig(name="quicknet", library="lava_vision", pretrained="hub", num_classes=10,
                                    input_size=32, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25)),
    data=ClassificationDataConfig(source="procedural", domain="target", train_size=2000, val_size=500, seed=0,
                                  image_size=32, hflip=True),
    # the paper's init (V = 0, orthonormal U, K), with which this lam was chosen; the defaults differ
    adapter=AdapterConfig(method="lava", preset="cnn", rank=4, alpha=4.0, lam=0.1,
                          init_cp_zero="V", init_cp="orthonormal", modules_to_save=["fc"]),
    optim=OptimConfig(name="adamw", lr=1e-2, weight_decay=0.0),
    schedule=ScheduleConfig(name="cosine", warmup_steps=10),
    train=TrainConfig(epochs=100, max_steps=300, batch_size=64, num_workers=0, log_every=25, seed=0),
    eval=EvalConfig(split="val", every=0, batch_size=250, main_metric="top1", mode="max", num_visualize=8),
    output=OutputConfig(root="runs", name="quickstart"),
)

if __name__ == "__main__":
    import sys

    from lava_vision.train import build_base, load_trained, predictions, train

    def evaluate_with_pictures(task, model, out_dir):
        metrics = task.build_metrics()
        for batch, preds in predictions(task, model, config.eval.split, config.eval.batch_size):
            task.update_metrics(metrics, preds, batch)
        values = {k: float(v) for k, v in metrics.compute().items()}
        task.summarize(metrics, out_dir)
        return values

    if len(sys.argv) > 1:
        sys.exit("usage: python tasks/quickstart.py   (no options; use tools/train.py --set ... for overrides)")
    run_dir = train(config)
    task, base = build_base(config)
    before = evaluate_with_pictures(task, base, run_dir / "pictures" / "base")
    task, adapted = load_trained(config, run_dir / "last")
    after = evaluate_with_pictures(task, adapted, run_dir / "pictures" / "adapted")
    print(f"{'target-domain val':<28} {'top-1':>7} {'top-5':>7} {'mean class acc':>15}")
    for name, m in (("frozen base (source-trained)", before), ("base + LAVA", after)):
        print(f"{name:<28} {m['top1']:>7.3f} {m['top5']:>7.3f} {m['mean_class_acc']:>15.3f}")
    print(f"confusion matrices: {run_dir / 'pictures' / 'base'}, {run_dir / 'pictures' / 'adapted'}")
    print(f"run folder: {run_dir}")

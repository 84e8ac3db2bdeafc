#!/usr/bin/env python
"""Predict on your own images (or prompts) with a trained adapter, a zoo entry or the base model,
writing each task's natural output files."""
from __future__ import annotations

import argparse
from pathlib import Path

import _common

EXAMPLES = """\
  python tools/predict.py tasks/quickstart.py --adapter runs/quickstart --input my_images/ --out out/pred
  python tools/predict.py --zoo depth_synthetic --input my_render.png --out out/depth  # a synthetic room render
  python tools/predict.py --zoo cifar_resnet20_gaussian_noise --no-adapter --input photos/ --out out/base  # its base
  python tools/predict.py --zoo cifar_resnet20_gaussian_noise --zoo cifar_resnet20_defocus_blur --input photos/ \\
      --out out/both
  python tools/predict.py --zoo cifar_resnet20_gaussian_noise --zoo cifar_resnet20_defocus_blur --mix 1 1 \\
      --input noisy_blurry_photos/ --out out/mix
  python tools/predict.py tasks/seg_polyp.py --adapter runs/seg_polyp --input scans/ --out out/masks
  python tools/predict.py tasks/sdxl_3d_icons.py --adapter runs/sdxl_3d_icons --input prompts.txt \\
      --seeds 0 1 --out out/icons

--input: an image file or a folder of images (png, jpg, jpeg, bmp, tif, tiff, webp; not recursive);
for text-to-image a text file with one prompt per line. Written into --out:
  classification  predictions.csv: file, class (predicted), then one probability column per class name
  depth           <name>_depth_mm.png (16-bit, millimetres, 0 = none), <name>_depth_m.npy (float32 metres),
                  <name>_depth_color.png (turbo, near = blue)
  segmentation    <name>_mask.png (0/255) and <name>_overlay.png, at the input image's size
  text2image      <index>_<prompt>_seed<seed>.png per prompt and seed, listed in prompts.csv
  your own task   the files of the result type its predict_image returns (one of the above three)
Images go through the task's evaluation transform; outputs are resized back to each image's size.
Several --zoo entries that share one base load onto one model (one base in memory plus each adapter)
and write their outputs side by side, one subfolder of --out per entry (--out/<entry>/...); the
first entry's stored config (with --set) builds the inputs. With --mix W1 W2 ... (one weight per --zoo, in
order; --mix alone: 1 each) they predict once, as one model: base + sum_i W_i dW_i at every layer, into
--out/mix/. Entries that each save their own head cannot be mixed (the error says which module)."""


def main() -> None:
    p = _common.parser("tools/predict.py", "Run a trained adapter (or a zoo entry, or the base model) on your "
                       "own images or prompts and write the task's natural outputs.", EXAMPLES, zoo=True,
                       zoo_many=True)
    p.add_argument("--adapter", metavar="RUN_OR_DIR",
                   help="trained adapter: a run folder (uses best/, else last/) or an adapter folder")
    p.add_argument("--no-adapter", action="store_true", help="predict with the base model alone")
    p.add_argument("--input", required=True, metavar="FILE_OR_FOLDER",
                   help="an image or a folder of images; for text2image a prompt file (one prompt per line)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (created; existing files of the "
                   "same names are replaced)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0], help="text2image: one image per prompt and seed "
                   "(default: 0)")
    p.add_argument("--mix", type=float, nargs="*", metavar="W", default=None,
                   help="with several --zoo: predict once with the entries mixed at these weights (one per --zoo; "
                   "none given: 1 each), into --out/mix/")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1, ... (default: cuda when available)")
    args = p.parse_args()
    zoo_base_only = bool(args.zoo and args.no_adapter)  # a zoo entry's base model, without its adapter
    if zoo_base_only and len(args.zoo) > 1:
        p.error("--no-adapter takes one --zoo entry: its base model alone")
    if sum(map(bool, (args.adapter, args.no_adapter, args.zoo))) != 1 and not zoo_base_only:  # --zoo: one or more
        p.error("give one of --adapter RUN_OR_DIR, --no-adapter (with RECIPE or one --zoo NAME) and --zoo NAME")
    zoo_names = args.zoo or []
    if args.mix is not None and (len(zoo_names) < 2 or len(args.mix) not in (0, len(zoo_names))):
        p.error(f"--mix needs two or more --zoo entries and one weight per entry ({len(zoo_names)} --zoo, "
                f"{len(args.mix)} weights)")
    cfg = _common.load_config(argparse.Namespace(**{**vars(args), "zoo": zoo_names[0] if zoo_names else None}))
    import torch
    from tqdm.auto import tqdm

    from lava_vision.inference import Predictor, load_run
    from lava_vision.train import resolve_precision

    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    precision = resolve_precision(cfg.train.precision, device)
    kind = cfg.task
    # read the inputs before building the model: a wrong --input fails in a second
    if kind == "text2image":
        from lava_vision.inference import read_prompts

        items = [(prompt, seed) for prompt in read_prompts(args.input) for seed in args.seeds]
    else:
        from lava_vision.inference import list_images

        items = list_images(args.input)
    out = Path(args.out)
    if len(zoo_names) > 1:
        predict_shared(zoo_names, args, cfg, device, precision, items, out)
        return
    if zoo_base_only:
        predictor = zoo_base(zoo_names[0], args.zoo_root, cfg, device, precision)
    elif args.zoo:
        from lava_vision import zoo

        entry = zoo.load(zoo_names[0], args.zoo_root, config=cfg, device=device,  # hashes and base weights verified
                         allow_task_module=args.allow_task_module)
        predictor = Predictor(entry.task, entry.model, entry.config, precision)
    else:
        predictor = load_run(args.adapter, cfg, device, precision)
    out.mkdir(parents=True, exist_ok=True)
    bar = tqdm(items, desc="predict", unit="prompt" if kind == "text2image" else "image", dynamic_ncols=True)
    written = write_all(predictor, bar, out)
    print(f"wrote {written} files for {len(items)} inputs into {out}")


def zoo_base(name: str, zoo_root: str | None, cfg, device, precision: str):
    """A Predictor of zoo entry ``name``'s base model alone: built from the entry's stored config
    (``cfg``, with --set), its weights' digest checked against the one the adapter was trained on."""
    from lava_vision.inference import Predictor
    from lava_vision.zoo.index import ZooError, get_entry
    from lava_vision.zoo.index import zoo_root as find_root
    from lava_vision.zoo.load import build_from_dir

    root = find_root(zoo_root)
    entry = get_entry(name, root)
    _, _, task, model, digest = build_from_dir(root / name, f"zoo entry {name!r}", cfg)
    if digest is not None and digest != entry.get("base_model_revision"):
        raise ZooError(f"zoo entry {name!r}: the base built from its config has {digest}, the adapter was trained "
                       f"on {entry.get('base_model_revision')}")
    return Predictor(task, model.to(device).eval(), cfg, precision)


def predict_shared(names: list[str], args, cfg, device, precision: str, items: list, out: Path) -> None:
    """Entries sharing one base: one model, each entry's adapter in turn, outputs in out/<entry>/."""
    from lava_vision import zoo
    from lava_vision.adapters import adapter_memory, set_adapter
    from lava_vision.inference import Predictor

    trust = args.allow_task_module
    first = zoo.load(names[0], args.zoo_root, config=cfg, device=device, allow_task_module=trust)
    entries = [first] + [zoo.load(n, args.zoo_root, base=first, allow_task_module=trust)  # each verified
                         for n in names[1:]]
    memory = adapter_memory(first.model)
    adapters = ", ".join(f"{n} {memory[n] / 2**20:.2f} MiB" for n in names)
    print(f"memory: one base {memory['base'] / 2**20:.1f} MiB + adapters {adapters}")
    if args.mix is not None:
        weights = dict(zip(names, args.mix or [1.0] * len(names)))
        set_adapter(first.model, weights)  # refuses entries that save the same module, naming it
        (out / "mix").mkdir(parents=True, exist_ok=True)
        written = write_all(Predictor(first.task, first.model, first.config, precision), items, out / "mix")
        mix = " + ".join(f"{w:g} x {n}" for n, w in weights.items())
        print(f"mix ({mix}): wrote {written} files for {len(items)} inputs into {out / 'mix'}")
        return
    for entry in entries:
        set_adapter(entry.model, entry.name)
        predictor = Predictor(entry.task, entry.model, entry.config, precision)
        (out / entry.name).mkdir(parents=True, exist_ok=True)
        written = write_all(predictor, items, out / entry.name)
        print(f"{entry.name}: wrote {written} files for {len(items)} inputs into {out / entry.name}")


def write_all(predictor, items, out: Path) -> int:
    """Predict every item and write its files; returns the number of files written."""
    from lava_vision import inference as inf

    n = 0
    if predictor.kind == "text2image":
        listing = inf.CsvRows(out / "prompts.csv", ["file", "prompt", "seed"])
        try:
            for i, (prompt, seed) in enumerate(items):
                path = inf.write_generated(predictor.predict(prompt, seed), out, i)
                listing.write([path.name, prompt, seed])
                n += 1
        finally:
            listing.close()
        return n + 1
    table = None  # predictions.csv, opened at the first class-probability result
    try:
        for path in items:
            rgb = inf.read_rgb(path)
            result = predictor.predict(rgb)
            if isinstance(result, inf.ClassProbabilities):
                if table is None:
                    table = inf.classification_csv(out / "predictions.csv", result.classes)
                    n += 1
                table.write(inf.classification_row(path.name, result))
            elif isinstance(result, inf.DepthMap):
                n += len(inf.write_depth(result, out, path.stem))
            elif isinstance(result, inf.BinaryMask):
                n += len(inf.write_mask(result, rgb, out, path.stem))
            else:  # a task of one's own: its predict_image picks the result type (docs/custom-tasks.md)
                raise ValueError(f"{path}: the task's prediction is a {type(result).__name__}; tools/predict.py "
                                 "writes ClassProbabilities, DepthMap and BinaryMask results (lava_vision.inference)")
    finally:
        if table is not None:
            table.close()
    return n


if __name__ == "__main__":
    _common.run_tool(main)

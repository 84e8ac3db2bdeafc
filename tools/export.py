#!/usr/bin/env python
"""Export a trained adapter for other tools: a PEFT LoRA folder, a kohya LoCon file (SDXL: ComfyUI,
A1111, diffusers, LyCORIS) or the merged model in the base's own format. Exact or not written:
export_report.json lists every layer left out and why."""
from __future__ import annotations

import argparse
from pathlib import Path

import _common

EXAMPLES = """\
  python tools/export.py runs/quickstart --format peft                # PEFT folder in runs/quickstart/export/peft
  python tools/export.py runs/sdxl_3d_icons --format kohya            # kohya file, SGM names (ComfyUI / A1111)
  python tools/export.py runs/sdxl_3d_icons --format kohya --naming diffusers --out out/icons_kohya
  python tools/export.py runs/depth_nyu --format merged --out out/depth_merged   # transformers folder
  python tools/export.py my_adapter --recipe tasks/quickstart.py --format peft    # a loose adapter folder
  python tools/export.py --zoo quickstart --format merged             # a zoo entry (also: tools/zoo.py export)

Load the results with:
  peft:   PeftModel.from_pretrained(base_model, "<out>")
  kohya:  ComfyUI models/loras/ or A1111 models/Lora/ (naming sgm); pipe.load_lora_weights("<out>/<name>.safetensors")
  merged: <Class>.from_pretrained("<out>[/unet]"), or load_state_dict(load_file("<out>/model.safetensors"))"""


def add_format_args(p: argparse.ArgumentParser) -> None:
    """The options every export command shares (also used by tools/zoo.py export)."""
    p.add_argument("--format", required=True, choices=("peft", "kohya", "merged"), help="what to write")
    p.add_argument("--out", help="output folder (default: <run>/export/<format>, else exports/<name>/<format>)")
    p.add_argument("--naming", choices=("sgm", "diffusers"), default="sgm",
                   help="kohya key names: sgm (kohya SDXL / ComfyUI / A1111, default) or diffusers module paths")
    p.add_argument("--tucker", action="store_true",
                   help="kohya: write CP convs as LyCORIS Tucker (lora_mid) instead of LoCon pairs "
                        "(LyCORIS / ComfyUI read it; diffusers does not)")
    p.add_argument("--clip-paths", choices=("transformers4", "installed"), default="transformers4",
                   help="kohya text-encoder key names: transformers 4's CLIP module paths (default; kohya, "
                        "ComfyUI, A1111, diffusers) or the installed transformers' (LyCORIS' "
                        "create_lycoris_from_weights under transformers 5)")
    p.add_argument("--dtype", choices=("fp32", "fp16", "bf16"), default=None,
                   help="peft / kohya: cast the written factors (default: their own dtype, exact)")
    p.add_argument("--strict", action="store_true", help="fail (exit 2) before writing anything when a layer "
                   "cannot be exported exactly; the error names the first such layers and why")


def check_format_args(args: argparse.Namespace) -> None:
    """Refuse option combinations that would be ignored, before any model is loaded."""
    if args.dtype and args.format == "merged":
        raise ValueError("--dtype applies to peft and kohya; a merged model keeps the base's dtype")
    if args.tucker and args.format != "kohya":
        raise ValueError("--tucker applies to --format kohya only")
    if args.clip_paths != "transformers4" and args.format != "kohya":
        raise ValueError("--clip-paths applies to --format kohya only")


def run_export(model, name: str, out: Path, args: argparse.Namespace, source: str) -> None:
    """Write the export and print where it went and what was left out (``--strict``: refuse before
    writing when anything would be left out)."""
    import torch

    from lava_vision.export import export

    opts: dict = {"source": source, "strict": args.strict}
    if args.format in ("peft", "kohya") and args.dtype:
        opts["dtype"] = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[args.dtype]
    if args.format == "kohya":
        opts.update(naming=args.naming, tucker=args.tucker, clip_paths=args.clip_paths, filename=f"{name}.safetensors")
    report = export(model, out, args.format, **opts)
    print(report.summary())
    for note in report.notes:
        print("  " + note)
    print(f"wrote {out}")


def main() -> None:
    p = argparse.ArgumentParser(prog="tools/export.py", description=__doc__, epilog="examples:\n" + EXAMPLES,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    _common.add_trained_source_args(p, "export")
    add_format_args(p)
    args = p.parse_args()
    check_format_args(args)
    loaded = _common.load_trained_source(p, args)
    if args.out:
        out = Path(args.out)
    elif loaded.adapter_dir is not None and (loaded.adapter_dir.parent / "config.json").is_file():
        out = loaded.adapter_dir.parent / "export" / args.format
    else:
        out = Path("exports") / loaded.label.replace("/", "_") / args.format
    name = args.zoo or (loaded.adapter_dir.parent.name if loaded.adapter_dir is not None and
                        (loaded.adapter_dir.parent / "config.json").is_file() else loaded.label.replace("/", "_"))
    run_export(loaded.model, name, out, args, source=f"zoo:{args.zoo}" if args.zoo else str(loaded.adapter_dir))


if __name__ == "__main__":
    _common.run_tool(main)

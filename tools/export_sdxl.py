#!/usr/bin/env python
"""Export a trained SDXL adapter: this project's adapter files, the merged UNet as a diffusers model
folder, and a kohya/LyCORIS safetensors file for ComfyUI / A1111 (exact layers only)."""
from __future__ import annotations

import json
from pathlib import Path

import _common

EXAMPLES = """\
  python tools/export_sdxl.py tasks/sdxl_3d_icons.py --adapter runs/sdxl_3d_icons --out out/icons_export

Writes into --out: adapter/ (adapter.safetensors + adapter_config.json), unet/ (merged, load with
UNet2DConditionModel.from_pretrained(out/"unet") and pass unet=... to StableDiffusionXLPipeline),
lora_kohya.safetensors and export_report.json (which layers exported exactly, which not and why)."""


def main() -> None:
    p = _common.parser("tools/export_sdxl.py", "Export a trained SDXL adapter to diffusers and kohya formats.",
                       EXAMPLES)
    p.add_argument("--adapter", required=True, metavar="RUN_OR_DIR", help="run folder or adapter folder")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--dtype", choices=("fp16", "bf16", "fp32"), default="fp16", help="saved dtype (default fp16)")
    args = p.parse_args()
    cfg = _common.load_config(args)
    import torch

    from lava_vision.adapters import save_adapter
    from lava_vision.tasks.text2image.export import save_kohya, save_merged_unet
    from lava_vision.train import load_trained

    dtype = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}[args.dtype]
    out = Path(args.out)
    _, model = load_trained(cfg, args.adapter)
    save_adapter(model, out / "adapter", {"task": cfg.task, "base_model": cfg.model.pretrained, "vae": cfg.model.vae})
    save_merged_unet(model.unet, out / "unet", dtype=dtype)
    path, skipped = save_kohya(model, out / "lora_kohya.safetensors", dtype=dtype)
    report = {"base_model": cfg.model.pretrained, "merged_unet": str(out / "unet"), "kohya_file": str(path),
              "not_exported_to_kohya": skipped}
    (out / "export_report.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}/adapter, {out}/unet (merged diffusers UNet), {path}"
          + (f"; {len(skipped)} layer(s) not exact in kohya layout, see export_report.json" if skipped else ""))


if __name__ == "__main__":
    _common.run_tool(main)

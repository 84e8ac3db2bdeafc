#!/usr/bin/env python
"""Render a grid of prompts x seeds with the base SDXL (adapters disabled) and with the trained
adapter, side by side, from identical starting noise."""
from __future__ import annotations

from pathlib import Path

import _common

EXAMPLES = """\
  python tools/generate.py tasks/sdxl_3d_icons.py --adapter runs/sdxl_3d_icons --out out/icons.png \\
      --prompt "a 3d icon of a spotify logo" --prompt "a 3d icon of a camera" --seeds 0 1 2
  python tools/generate.py tasks/sdxl_tiny.py --adapter runs/sdxl_tiny --out out/tiny.png --steps 2

Without --prompt, the recipe's validation prompts are used (data.val_prompts, else the first captions).
Rows are prompts; columns are base with each seed, then adapted with each seed."""


def main() -> None:
    p = _common.parser("tools/generate.py", "Base vs adapted SDXL image grid.", EXAMPLES)
    p.add_argument("--adapter", required=True, metavar="RUN_OR_DIR", help="run folder or adapter folder")
    p.add_argument("--out", required=True, help="output PNG")
    p.add_argument("--prompt", action="append", default=[], help="a prompt (repeatable)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1], help="seeds (default 0 1)")
    p.add_argument("--num-prompts", type=int, default=4, help="prompts taken from the recipe without --prompt")
    p.add_argument("--steps", type=int, default=None, help="sampling steps (default: model.inference_steps)")
    p.add_argument("--size", type=int, default=None, help="image size (default: data.resolution)")
    args = p.parse_args()
    cfg = _common.load_config(args)
    from accelerate import PartialState

    from lava_vision.data.captions import read_captions
    from lava_vision.tasks.text2image.generate import comparison_grid, render_base_and_adapted
    from lava_vision.train import load_trained

    prompts = args.prompt or list(cfg.data.val_prompts) or [
        c for _, c in read_captions(cfg.data.val_root or cfg.data.root, cfg.data.caption_key, cfg.data.instance_prompt)
    ]
    prompts = list(dict.fromkeys(prompts))[: max(len(args.prompt), args.num_prompts)]
    _, model = load_trained(cfg, args.adapter)
    model.to(PartialState().device)
    images = render_base_and_adapted(model, prompts, args.seeds, args.size or cfg.data.resolution,
                                     args.steps or cfg.model.inference_steps, cfg.model.guidance_scale)
    path = comparison_grid(images, prompts, args.seeds, Path(args.out), adapted_label=cfg.adapter.method)
    print(f"wrote {path} ({len(prompts)} prompts x {len(args.seeds)} seeds, base | {cfg.adapter.method})")


if __name__ == "__main__":
    _common.run_tool(main)

#!/usr/bin/env python
"""Try adapters in the browser: base | adapted side by side on your own images (or prompts)."""
from __future__ import annotations

import argparse
import importlib.util

import _common

EXAMPLES = """\
  python tools/app.py                          # the zoo's entries, http://127.0.0.1:7860
  python tools/app.py --runs runs/ --port 8080 # also every finished run under runs/
  python tools/app.py --device cuda

Needs the app extra: `make app` installs it into the checkout's .venv and starts the app (or, in
the .venv: python -m pip install -e ".[app]"). Listens on 127.0.0.1 only unless --host says
otherwise; --share asks Gradio for a public link (needs the network). See docs/app.md."""


def main() -> None:
    p = argparse.ArgumentParser(prog="tools/app.py", description="A Gradio app over the zoo and finished runs: "
                                "base | adapted on your own inputs, outputs to download.",
                                epilog="examples:\n" + EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    _common.add_zoo_root(p)
    p.add_argument("--runs", metavar="DIR", help="also list the finished runs in this folder (each with config.json "
                   "and best/ or last/)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, this machine only)")
    p.add_argument("--port", type=int, default=None, help="port (default: 7860, or the next free one)")
    p.add_argument("--share", action="store_true", help="also open a public Gradio share link (off by default)")
    p.add_argument("--device", default=None, help="cpu, cuda, ... (default: cuda when available)")
    args = p.parse_args()
    if importlib.util.find_spec("gradio") is None:
        p.error(f"the app needs Gradio: `make app` installs it into the checkout's .venv and starts the app; "
                f"or {_common.install_hint('app')}")
    from lava_vision.app import serve

    serve(args.zoo_root, args.runs, args.host, args.port, args.share, args.device)


if __name__ == "__main__":
    _common.run_tool(main)

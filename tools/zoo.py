#!/usr/bin/env python
"""List, verify, push and pull zoo entries."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import _common
from export import add_format_args, check_format_args, run_export

EXAMPLES = """\
  python tools/zoo.py list                   # --zoo-root DIR before or after the subcommand
  python tools/zoo.py verify                 # every entry's sha256s (exit 2 at the first problem)
  python tools/zoo.py verify quickstart
  python tools/zoo.py show quickstart        # the index record (files, hashes, metrics)
  python tools/zoo.py export quickstart --format peft      # PEFT folder in exports/quickstart/peft
  python tools/zoo.py export NAME --format kohya           # SDXL entries: one kohya file for ComfyUI / A1111
  python tools/zoo.py push quickstart --repo-id me/lava-quickstart     # needs huggingface_hub + login
  python tools/zoo.py pull me/lava-quickstart --id quickstart
  python tools/zoo.py pull me/my-task-entry --allow-task-module  # an entry naming a task class of its own"""


def main() -> None:
    p = argparse.ArgumentParser(prog="tools/zoo.py", description=__doc__, epilog="examples:\n" + EXAMPLES,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    _common.add_zoo_root(p, task_module=False)
    sub = p.add_subparsers(dest="command", required=True)
    subs = {"list": sub.add_parser("list", help="entries as a table: task, base, method, metrics")}
    v = subs["verify"] = sub.add_parser("verify", help="check every file's size and sha256 against the index")
    v.add_argument("name", nargs="?", help="one entry (default: all)")
    s = subs["show"] = sub.add_parser("show", help="print an entry's index record")
    s.add_argument("name")
    ex = subs["export"] = sub.add_parser("export", help="write an entry as a PEFT folder, kohya file or merged "
                                         "model (as tools/export.py --zoo NAME)")
    ex.add_argument("name")
    add_format_args(ex)
    pu = subs["push"] = sub.add_parser("push", help="upload an entry to a Hugging Face model repo")
    pu.add_argument("name")
    pu.add_argument("--repo-id", required=True)
    pu.add_argument("--private", action="store_true")
    pl = subs["pull"] = sub.add_parser("pull", help="install a Hub repo pushed by `push` as a local entry")
    pl.add_argument("repo_id")
    pl.add_argument("--id", default=None, help="local entry name (default: the pushed name)")
    pl.add_argument("--revision", default=None)
    pl.add_argument("--force", action="store_true")
    for name, sp in subs.items():  # --zoo-root also after the subcommand; SUPPRESS keeps one given before it
        sp.add_argument("--zoo-root", metavar="DIR", default=argparse.SUPPRESS, help=_common.ZOO_ROOT_HELP)
        if name in ("export", "pull"):
            sp.add_argument("--allow-task-module", action="store_true", help="accept an entry whose task is a "
                            "'package.module:Class' of its own (importing it runs that module's code)")
    args = p.parse_args()
    from lava_vision import zoo

    if args.command == "list":
        print(zoo.format_table(zoo.list(args.zoo_root)))
    elif args.command == "verify":
        names = zoo.verify(args.name, args.zoo_root)
        print(f"ok: {len(names)} entr{'y' if len(names) == 1 else 'ies'} verified ({', '.join(names) or 'none'})")
    elif args.command == "show":
        from lava_vision.zoo.index import get_entry

        print(json.dumps(get_entry(args.name, args.zoo_root), indent=2))
    elif args.command == "export":
        check_format_args(args)
        # every file's sha256 and the base weights checked
        entry = zoo.load(args.name, args.zoo_root, allow_task_module=args.allow_task_module)
        out = Path(args.out) if args.out else Path("exports") / args.name / args.format
        run_export(entry.model.eval(), args.name, out, args, source=f"zoo:{args.name}")
    elif args.command == "push":
        from lava_vision.zoo.hub import push

        print(push(args.name, args.repo_id, root=args.zoo_root, private=args.private))
    else:
        from lava_vision.zoo.hub import pull

        target = pull(args.repo_id, args.id, root=args.zoo_root, revision=args.revision, force=args.force,
                      allow_task_module=args.allow_task_module)
        print(f"installed {target}")


if __name__ == "__main__":
    _common.run_tool(main)

"""What the command-line tools share: the recipe + ``--set`` arguments, adapter selection, tables,
and turning user mistakes into one-line errors (set LAVA_VISION_DEBUG=1 for the traceback)."""
from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python tools/x.py` from a checkout without an installed package
    sys.path.insert(0, str(ROOT))

if TYPE_CHECKING:
    from lava_vision.train import RunConfig

# Nothing of lava_vision (hence torch) is imported at module level: `--help` and `tools/zoo.py list`
# answer without torch. The library's user errors (RecipeError, AdapterFileError, AdapterConfigError,
# ZooError, TaskError: ValueError; CheckpointError: FileNotFoundError) are these builtin classes, and
# NonFiniteLossError is looked up only if the trainer was imported (see user_error).
USER_ERRORS = (FileNotFoundError, FileExistsError, KeyError, ValueError)

SET_HELP = ("override recipe fields, type-checked: --set optim.lr=3e-4 adapter.rank=8 "
            "'optim.module_lr={\"head\": 10}'. Put RECIPE before --set.")


def parser(prog: str, description: str, examples: str, zoo: bool = False,
           zoo_many: bool = False) -> argparse.ArgumentParser:
    """RECIPE + ``--set``; with ``zoo``, RECIPE becomes optional and ``--zoo NAME`` takes its place
    (repeatable with ``zoo_many``: ``args.zoo`` is then a list)."""
    p = argparse.ArgumentParser(prog=prog, description=description, epilog="examples:\n" + examples,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("recipe", metavar="RECIPE", nargs="?" if zoo else None,
                   help="recipe file, e.g. tasks/depth_nyu.py (a Python file that builds a RunConfig named `config`)"
                   + (" - or give --zoo NAME instead" if zoo else ""))
    if zoo:
        p.add_argument("--zoo", metavar="NAME", action="append" if zoo_many else "store",
                       help="a published zoo entry (tools/zoo.py list): its stored config and verified adapter "
                       "replace RECIPE and --adapter; --set still applies"
                       + ("; repeat it for entries that share one base" if zoo_many else ""))
        add_zoo_root(p)
    p.add_argument("--set", nargs="+", action="extend", default=[], metavar="KEY=VALUE", help=SET_HELP)
    return p


ZOO_ROOT_HELP = ("zoo folder (default: $LAVA_VISION_ZOO, else the checkout's zoo/, else the entries shipped with "
                 "the installed package)")


def add_zoo_root(p: argparse.ArgumentParser, task_module: bool = True) -> None:
    """``--zoo-root`` (and, for tools that load an entry, ``--allow-task-module``)."""
    p.add_argument("--zoo-root", metavar="DIR", default=None, help=ZOO_ROOT_HELP)
    if task_module:
        p.add_argument("--allow-task-module", action="store_true", help="load a zoo entry whose task is a "
                       "'package.module:Class' of its own (importing it runs that module's code; by default only "
                       "the tasks this installation knows load)")


def add_adapter_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--adapter", metavar="RUN_OR_DIR",
                   help="trained adapter: a run folder (uses best/, else last/) or an adapter folder")
    p.add_argument("--no-adapter", action="store_true",
                   help="also evaluate the base model without adapter (the 'before' of a comparison)")
    p.add_argument("--split", default=None, help="dataset split (default: the recipe's eval.split)")


def add_trained_source_args(p: argparse.ArgumentParser, verb: str) -> None:
    """RUN_OR_ADAPTER | --zoo NAME, with --recipe/--set for an adapter folder outside a run."""
    p.add_argument("target", nargs="?", metavar="RUN_OR_ADAPTER", help="run folder or adapter folder")
    p.add_argument("--zoo", metavar="NAME", help=f"{verb} this zoo entry instead (see tools/zoo.py list)")
    add_zoo_root(p)
    p.add_argument("--recipe", help="recipe that builds the base model (needed for an adapter folder "
                   "outside a run folder; otherwise the run's config.json is used)")
    p.add_argument("--set", nargs="+", action="extend", default=[], metavar="KEY=VALUE",
                   help="overrides for --recipe: " + SET_HELP)


def load_trained_source(p: argparse.ArgumentParser, args: argparse.Namespace):
    """The ``lava_vision.analysis.sources`` record (model, adapter_dir, label) that
    ``add_trained_source_args`` names; usage errors go through ``p.error``."""
    if (args.target is None) == (args.zoo is None):
        p.error("give a run or adapter folder, or --zoo NAME")
    if args.set and not args.recipe:
        p.error("--set needs --recipe")
    if args.zoo and args.recipe:
        p.error("--recipe is for adapter folders; a zoo entry carries its own config")
    from lava_vision.analysis.sources import load_for_analysis, load_zoo_entry
    from lava_vision.train import apply_overrides, load_recipe

    cfg = apply_overrides(load_recipe(args.recipe), args.set) if args.recipe else None
    if args.zoo:
        return load_zoo_entry(args.zoo, args.zoo_root, allow_task_module=args.allow_task_module)
    return load_for_analysis(args.target, cfg)


def load_config(args: argparse.Namespace) -> RunConfig:
    """The recipe's config (or, with ``--zoo``, the entry's stored one, files verified; without a recipe,
    the ``config.json`` of the ``--adapter`` run) plus ``--set``."""
    import lava_vision.tasks  # noqa: F401  (registers the packaged task names a config.json uses)
    from lava_vision.train import RecipeError, apply_overrides, load_recipe

    if getattr(args, "zoo", None):
        if args.recipe:
            raise RecipeError(f"give RECIPE or --zoo {args.zoo}, not both")
        from lava_vision.zoo.load import entry_config

        config = entry_config(args.zoo, args.zoo_root, allow_task_module=args.allow_task_module)
        return apply_overrides(config, args.set)
    if not args.recipe and getattr(args, "adapter", None):  # the run's own config.json, as load_run reads it
        from lava_vision.train.run_folder import read_run_config

        return apply_overrides(read_run_config(args.adapter), args.set)
    if not args.recipe:
        raise RecipeError("give a RECIPE file (or --zoo NAME)")
    return apply_overrides(load_recipe(args.recipe), args.set)


def user_error(e: BaseException) -> bool:
    """Whether ``e`` is a user mistake (one line, exit 2) rather than a bug (traceback)."""
    trainer = sys.modules.get("lava_vision.train.trainer")  # not imported: its error cannot have been raised
    return isinstance(e, USER_ERRORS) or (trainer is not None and isinstance(e, trainer.NonFiniteLossError))


def outside_venv() -> Path | None:
    """The checkout's ``.venv`` (made by ``make demo``) when it exists and this Python is not it."""
    venv = ROOT / ".venv"
    if (venv / "bin" / "python").exists() and Path(sys.prefix).resolve() != venv.resolve():
        return venv
    return None


def install_hint(extra: str) -> str:
    """How to install the package's ``extra`` into the Python that runs this tool: never a bare
    ``pip`` (it may belong to another Python); outside the checkout's .venv, activate that first."""
    venv = outside_venv()
    if venv is not None:
        return (f"this is {sys.executable}, not the checkout's .venv: run `. {os.path.relpath(venv)}/bin/activate` "
                f"first, then `python -m pip install -e \".[{extra}]\"`")
    return f"{sys.executable} -m pip install -e \".[{extra}]\""


def run_tool(main: Callable[[], None]) -> None:
    """Run ``main``; a user mistake exits with status 2 and one line on stderr, not a traceback
    (a module missing because the tool runs outside the checkout's .venv says so)."""
    try:
        main()
    except ModuleNotFoundError as e:
        venv = outside_venv()
        if venv is None or os.environ.get("LAVA_VISION_DEBUG"):
            raise
        print(f"error: {e} in {sys.executable}: the tools run in the checkout's .venv (made by make demo): "
              f"run `. {os.path.relpath(venv)}/bin/activate` first", file=sys.stderr)
        sys.exit(2)
    except Exception as e:
        if not user_error(e) or os.environ.get("LAVA_VISION_DEBUG"):
            raise
        msg = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
        print(f"error: {msg}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)


def is_main_process() -> bool:
    from lava_vision.train import distributed_state

    return distributed_state().is_main_process


def metrics_table(columns: dict[str, dict[str, float]]) -> str:
    """Rows = metric names, one column per entry of ``columns``; adds a delta column for two."""
    names = list(dict.fromkeys(k for col in columns.values() for k in col))
    heads = list(columns) + (["delta"] if len(columns) == 2 else [])
    width = max([len(n) for n in names] + [6])
    lines = [f"{'metric':<{width}}  " + "  ".join(f"{h:>12}" for h in heads)]
    for n in names:
        vals = [col.get(n) for col in columns.values()]
        if len(vals) == 2 and None not in vals:
            vals.append(vals[1] - vals[0])
        lines.append(f"{n:<{width}}  " + "  ".join(f"{v:>12.6g}" if v is not None else f"{'-':>12}" for v in vals))
    return "\n".join(lines)

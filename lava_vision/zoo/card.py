"""The model card of a zoo entry: ``README.md`` with YAML front matter (machine-readable facts)
and a Markdown body (what it is, metrics table, how to use and reproduce it, license, citation),
written and parsed by ``huggingface_hub.ModelCard`` (the Hub's own card format)."""
from __future__ import annotations

import math
import re

import yaml
from huggingface_hub import ModelCard, ModelCardData

from .index import ZooError

CITATION = """\
@misc{lava2025,
  title  = {{LAVA}: A Unified Framework for Finetuning Language and Vision Models},
  author = {Anonymous},
  year   = {2025},
  note   = {Paper under double-blind review}
}"""

# front matter keys, in the order written
FIELDS = ("library_name", "tags", "license", "task", "base_model_id", "base_model_revision", "dataset",
          "split", "eval_max_samples", "adapter_method", "rank", "trainable_params", "base_params",
          "trainable_percent", "metrics", "training_command", "citation")
TABLE_FORMAT = "{:.6g}"  # relative rounding error <= 5e-6


# where each export format loads (tools/export.py; lava_vision.export)
LOADERS = {
    "peft": "`peft.PeftModel.from_pretrained(base_model, folder)`",
    "kohya": "ComfyUI `models/loras/`, A1111 `models/Lora/` (SGM key names), diffusers "
             "`pipe.load_lora_weights(file)`",
    "merged": "the base's own loader: `from_pretrained(folder)` where the base has one, else "
              "`model.load_state_dict(load_file(\"model.safetensors\"))`",
}


def export_section(name: str, exports: dict[str, dict[str, str] | str]) -> str:
    """The card's "Use elsewhere" section from ``lava_vision.export.export_coverage(model)``: one row
    per format with its one-line command, where it loads and which layers it leaves out and why."""
    rows = []
    for fmt, loader in LOADERS.items():
        cov = exports[fmt]
        if isinstance(cov, str):
            rows.append(f"| {fmt} | not available | | {cov} |")
            continue
        reasons: dict[str, int] = {}
        for why in cov.values():
            reasons[why] = reasons.get(why, 0) + 1
        left = "; ".join(f"{n} layer{'s' * (n > 1)}: {why}" for why, n in reasons.items()) or "nothing (exact)"
        rows.append(f"| {fmt} | `python tools/zoo.py export {name} --format {fmt}` | {loader} | {left} |")
    return ("## Use elsewhere\n\nEach export also writes `export_report.json` (every layer exported, every layer "
            "left out and why); a layer a format cannot hold exactly is left out, never approximated.\n\n"
            "| format | command | loads with | left out |\n|---|---|---|---|\n" + "\n".join(rows) + "\n")


def render_card(name: str, facts: dict, preprocess: str, extra_metrics: list[dict],
                exports: dict[str, dict[str, str] | str] | None = None, notes: str = "") -> str:
    """The card text. ``facts`` holds every key of ``FIELDS`` (see ``publish.entry_facts``) and optionally
    ``scope`` (``publish.data_scope``: what the entry does not know, shown under the dataset line);
    ``exports`` (``lava_vision.export.export_coverage``) adds the "Use elsewhere" section; ``notes``
    (Markdown: where the data comes from, its licence, how the split was made) a "Data" section."""
    # the optional scope line and Data section, each set off by blank lines, or nothing
    scope = f"\n**Scope:** {facts['scope']}\n" if facts.get("scope") else ""
    data_section = f"\n## Data\n\n{notes.strip()}\n" if notes.strip() else ""
    missing = [k for k in FIELDS if k not in facts]
    if missing:
        raise ZooError(f"model card of {name!r}: missing facts {missing}")
    data = ModelCardData(**{k: facts[k] for k in FIELDS})
    samples = facts["eval_max_samples"] or "all"
    rows = "\n".join(f"| {k} | {TABLE_FORMAT.format(v)} |" for k, v in facts["metrics"].items())
    subsets = "".join(
        f"\nOn the first {s['max_samples']} samples of split `{s['split']}` (a quick check the tests reproduce): "
        + ", ".join(f"{k} {TABLE_FORMAT.format(v)}" for k, v in s["metrics"].items()) + ".\n"
        for s in extra_metrics)
    return str(ModelCard(f"""---
{data.to_yaml()}
---

# {name}

A **{facts['adapter_method']}** adapter (rank {facts['rank']}) for the **{facts['task']}** task, on the base
model `{facts['base_model_id']}` (base weights digest `{facts['base_model_revision']}`). It trains
{facts['trainable_params']:,} parameters, {facts['trainable_percent']:.3f}% of the base's {facts['base_params']:,}.

Dataset: `{facts['dataset']}`, evaluated on split `{facts['split']}` ({samples} samples).
{scope}{data_section}
## Metrics

| metric | value |
|---|---|
{rows}
{subsets}
## Use

```python
from lava_vision import zoo

entry = zoo.load("{name}")    # verifies every file's sha256 and the base model, then loads
x = entry.preprocess(image)  # RGB H x W x 3 uint8 -> model input (when the task describes one)
```

Preprocessing: {preprocess}

```bash
python tools/eval.py --zoo {name}                       # reproduces the metrics above
python tools/visualize.py --zoo {name} --num 8 --out out/{name}
python tools/zoo.py verify {name}
```
{"" if exports is None else chr(10) + export_section(name, exports)}
## Training

```bash
{facts['training_command']}
```

The resolved recipe is `config.json` (paths into the package or checkout are stored as `{{pkg}}/...`
and `{{repo}}/...` and resolved on load); `metrics.json` holds the evaluation.

## License

{facts['license']}

## Citation

```bibtex
{facts['citation']}
```
"""))


def read_front_matter(text: str, where: str) -> dict:
    if not re.match(r"^---\n(.*?)\n---\n", text, re.S):
        raise ZooError(f"{where}: no YAML front matter")
    try:
        return ModelCard(text).data.to_dict()
    except (ValueError, yaml.YAMLError) as e:
        raise ZooError(f"{where}: bad YAML front matter or not a mapping ({e})") from e


def table_metrics(text: str) -> dict[str, float]:
    """The ``| metric | value |`` rows of the card's Metrics table."""
    section = text.split("## Metrics", 1)[-1].split("\n## ", 1)[0]
    return {m.group(1): float(m.group(2)) for m in re.finditer(r"^\| (\S+) \| ([-+0-9.eE]+|nan|inf) \|$",
                                                                section, re.M)}


def check_card_metrics(text: str, metrics: dict[str, float], where: str) -> None:
    """Refuse a card whose front matter or table differs from ``metrics`` (the run's numbers)."""
    front = read_front_matter(text, where).get("metrics") or {}
    table = table_metrics(text)
    for label, got, rel in (("front matter", front, 0.0), ("metrics table", table, 5e-6)):
        if set(got) != set(metrics):
            raise ZooError(f"{where}: {label} lists metrics {sorted(got)}, the run has {sorted(metrics)}")
        for k, v in metrics.items():
            if not (math.isclose(got[k], v, rel_tol=rel, abs_tol=1e-12) or (math.isnan(v) and math.isnan(got[k]))):
                raise ZooError(f"{where}: {label} says {k}={got[k]}, the run's evaluation says {v}")

"""The page: pick a source (zoo entry or run), give an image (or a prompt and seed), see base |
adapted side by side in the task's own view, download the outputs.

Every user mistake (unreadable image, wrong channels, too large, missing entry, a model that
does not load) is a message in the ``status`` box, never a traceback, and the server goes on.
The API names ``/select`` and ``/predict`` are what ``gradio_client`` calls (tests/test_app.py).

A shared-base choice (zoo entries on one base, ``sources.Source.members``) shows base | each
adapter alone | the mix: the "alone" slots (``MAX_ADAPTERS`` of each result component, hidden
unless used) sit between base and adapted, the adapted slots show the mix, and one strength
slider per member sets its weight. Entries that cannot be mixed (``Loaded.no_mix``, e.g. each
saves its own head) get no slider and no mix column; the card says why."""
from __future__ import annotations

import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

import gradio as gr
import numpy as np

from ..inference.inputs import IMAGE_SUFFIXES
from .sources import MAX_ADAPTERS, Models, SourceError, predict_columns
from .uploads import UploadError, limit_text, read_upload
from .views import card_markdown, class_confidences, depth_figure, probability_figure, view_of, write_outputs

TASK_GROUPS = ("classification", "depth", "segmentation", "text2image")
KEEP_OUTPUTS_S = 3600  # a request's download folder lives an hour (its files are copied to the page cache)
USER_ERRORS = (UploadError, SourceError)
# small pictures (a 32 px generated image, a 64 px scan) fill their box instead of staying a thumbnail
CSS = ".fill img { width: 100%; height: 100%; object-fit: contain; image-rendering: pixelated; }"
PICTURE = dict(format="png", interactive=False, height=320, elem_classes=["fill"])
WEIGHTS = dict(minimum=-1.0, maximum=2.0, value=1.0, step=0.05)  # a strength slider: negative subtracts an adapter


def status(text: str, error: bool = False) -> str:
    return f"**Could not run:** {text}" if error else text


def new_output_dir(root: Path) -> Path:
    """A fresh folder for one request's downloads; folders older than ``KEEP_OUTPUTS_S`` go."""
    root.mkdir(parents=True, exist_ok=True)
    for old in root.iterdir():
        if time.time() - old.stat().st_mtime > KEEP_OUTPUTS_S:
            shutil.rmtree(old, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix="request-", dir=root))


def build_app(models: Models, problems: list[str], outputs_root: Path) -> gr.Blocks:
    """The Blocks app over ``models.sources``; ``problems`` (unreadable zoo or runs) are listed on top."""
    choices = [(s.label, key) for key, s in models.sources.items()]
    first = choices[0][1] if choices else None
    with gr.Blocks(title="lava-vision: try an adapter", analytics_enabled=False, delete_cache=(3600, 3600)) as app:
        gr.Markdown("# lava-vision: base | adapted\nPick a zoo entry or a finished run, give it an image "
                    f"({', '.join(IMAGE_SUFFIXES)}; RGB, {limit_text()}) or, for text-to-image, a prompt and a "
                    "seed. Outputs download in the formats of `tools/predict.py`.")
        if problems:
            gr.Markdown("Not listed:\n" + "\n".join(f"- {p}" for p in problems))
        with gr.Row():
            with gr.Column(scale=1):
                source = gr.Dropdown(choices, value=first, label="zoo entry or run")
                upload = gr.File(label="image", file_types=list(IMAGE_SUFFIXES), type="filepath", elem_id="upload")
                prompt = gr.Textbox(label="prompt", visible=False, elem_id="prompt")
                seed = gr.Number(label="seed", value=0, precision=0, minimum=0, visible=False, elem_id="seed")
                weights = [gr.Slider(**WEIGHTS, label=f"strength {i + 1}", visible=False, elem_id=f"weight-{i}")
                           for i in range(MAX_ADAPTERS)]
                run = gr.Button("Run", variant="primary", elem_id="run")
                preview = gr.Image(label="input (as the model reads it)", type="numpy", **{**PICTURE, "height": 240})
            card = gr.Markdown(elem_id="card")
        message = gr.Markdown(elem_id="status")
        with gr.Group(visible=False) as cls_group:
            with gr.Row():
                cls_base = gr.Label(label="base: class probabilities", num_top_classes=10, elem_id="cls-base")
                cls_alone = [gr.Label(num_top_classes=10, visible=False, elem_id=f"cls-alone-{i}")
                             for i in range(MAX_ADAPTERS)]
                cls_adapted = gr.Label(label="adapted: class probabilities", num_top_classes=10,
                                       elem_id="cls-adapted")
        with gr.Group(visible=False) as depth_group:
            depth_plot = gr.Plot(label="depth", format="png", elem_id="depth-plot")
            depth_row = gr.Slider(0, 1, value=0, step=1, label="profile row (pixels from the top)", elem_id="depth-row")
        with gr.Group(visible=False) as seg_group:
            with gr.Row():
                seg_base = gr.Image(label="base: mask overlay", elem_id="seg-base", **PICTURE)
                seg_alone = [gr.Image(visible=False, elem_id=f"seg-alone-{i}", **PICTURE) for i in range(MAX_ADAPTERS)]
                seg_adapted = gr.Image(label="adapted: mask overlay", elem_id="seg-adapted", **PICTURE)
            seg_plot = gr.Plot(label="foreground probability", format="png", elem_id="seg-plot")
        with gr.Group(visible=False) as t2i_group:
            with gr.Row():
                gen_base = gr.Image(label="base: generated", elem_id="gen-base", **PICTURE)
                gen_alone = [gr.Image(visible=False, elem_id=f"gen-alone-{i}", **PICTURE) for i in range(MAX_ADAPTERS)]
                gen_adapted = gr.Image(label="adapted: generated", elem_id="gen-adapted", **PICTURE)
        with gr.Row():
            files_base = gr.File(label="downloads: base", file_count="multiple", interactive=False,
                                 elem_id="files-base")
            files_alone = [gr.File(file_count="multiple", interactive=False, visible=False,
                                   elem_id=f"files-alone-{i}") for i in range(MAX_ADAPTERS)]
            files_adapted = gr.File(label="downloads: adapted", file_count="multiple", interactive=False,
                                    elem_id="files-adapted")
        depths = gr.State(None)  # {column title: H x W metres}, for moving the profile row
        chosen_row = gr.State(None)  # the profile row last set by hand (None: the middle), kept by Run

        groups = [cls_group, depth_group, seg_group, t2i_group]
        # per column slot: (class chart, overlay, generated image, downloads) and what its labels say
        alone = list(zip(cls_alone, seg_alone, gen_alone, files_alone))
        adapted = (cls_adapted, seg_adapted, gen_adapted, files_adapted)
        slot_labels = ("{}: class probabilities", "{}: mask overlay", "{}: generated", "downloads: {}")

        def relabel(slot, title: str | None) -> list:
            """Updates showing the slot's components under ``title``, or hiding them (None)."""
            if title is None:
                return [gr.update(visible=False) for _ in slot]
            return [gr.update(visible=True, label=text.format(title)) for text in slot_labels]

        def select(key: str | None, progress: gr.Progress = gr.Progress()):  # noqa: B008 (how Gradio asks for a bar)
            """Show the card and the task's view, and load both models (with a progress bar)."""
            try:
                s = models.source(key)
                loaded = models.get(key, lambda f, text: progress(f, desc=text))
            except USER_ERRORS as e:
                hidden = [gr.update(visible=False)] * (len(select_outputs) - 2)
                return [status(str(e), error=True), ""] + hidden
            image_task = s.task != "text2image"
            shown = [gr.update(visible=s.task == t) for t in TASK_GROUPS]
            ready = f"{s.name} is loaded: " + ("upload an image." if image_task else "type a prompt, choose a seed.")
            members = list(s.members) + [None] * (MAX_ADAPTERS - len(s.members))
            # a slider only where it acts: members of a shared base that can be mixed
            sliders = [gr.update(visible=False) if m is None or loaded.no_mix else
                       gr.update(visible=True, value=1.0, label=f"strength of {m}") for m in members]
            slots = [u for slot, m in zip(alone, members) for u in relabel(slot, m and f"{m} alone")]
            last = None if loaded.no_mix else "mix" if s.members else "adapted"
            return [status(ready), card_markdown(s, loaded.no_mix), *shown, gr.update(visible=image_task),
                    gr.update(visible=image_task), gr.update(visible=not image_task), gr.update(visible=not image_task),
                    *sliders, *slots, *relabel(adapted, last)]

        def predict(key: str | None, path: str | None, text: str | None, seed_value: float | None,
                    row_wanted: int | None, progress: gr.Progress = gr.Progress(),  # noqa: B008 (Gradio fills it)
                    *strengths: float):
            """One input through base and adapted (or each adapter alone and the mix of a shared base,
            ``strengths`` being the sliders); every output of the page, or a message. The depth profile
            stays on ``row_wanted``, the row last chosen by hand (the middle row until then)."""
            empty = {**dict.fromkeys(outputs_of_predict), depth_row: gr.update(), **{g: gr.update() for g in groups}}
            try:
                loaded = models.get(key, lambda f, t: progress(f, desc=t))
                if loaded.source.task == "text2image":
                    if not text or not text.strip():
                        raise UploadError("type a prompt first")
                    rgb, item, seed_int = None, text.strip(), int(seed_value or 0)
                else:
                    if not path:
                        raise UploadError("upload an image first")
                    rgb, seed_int = read_upload(path), 0
                    item = rgb
                progress(0.8, desc="predicting")
                results, note = predict_columns(loaded, item, seed_int, dict(zip(loaded.source.members, strengths)))
                out = new_output_dir(outputs_root)
                files = {col: [str(p) for p in write_outputs(r, rgb, out / f"column-{i}")]
                         for i, (col, r) in enumerate(results.items())}
            except USER_ERRORS as e:
                return {**empty, message: status(str(e), error=True)}
            except Exception as e:  # noqa: BLE001  (the page gets a line, the server log the traceback)
                traceback.print_exc(file=sys.stderr)
                return {**empty, message: status(f"unexpected {type(e).__name__}: {e} (the server log has the "
                                                 "details)", error=True)}
            mixed = bool(loaded.source.members)
            # column key -> (title on the page, its slot of components)
            slot_of = {"base": ("base", (cls_base, seg_base, gen_base, files_base)),
                       "adapted": ("mix" if mixed else "adapted", adapted)}
            slot_of.update({col: (col.split(":", 1)[1], alone[i])
                            for i, col in enumerate(c for c in results if c.startswith("alone:"))})
            order = list(results)  # base, each alone, adapted (the mix; absent when refused)
            titles = " | ".join(slot_of[c][0] for c in order)
            said = f"{loaded.source.name}: {titles} done" + (f"; {note}" if note else "")
            shown = {**empty, message: status(said), preview: rgb}
            kind = view_of(results[order[-1]])  # by result type: a task of one's own is shown like the built-in one
            shown.update({g: gr.update(visible=t == kind) for g, t in zip(groups, TASK_GROUPS)})
            for col in order:
                title, (cls_c, seg_c, gen_c, files_c) = slot_of[col]
                r = results[col]
                shown[files_c] = files[col]
                if kind == "classification":
                    shown[cls_c] = class_confidences(r)
                elif kind == "segmentation":
                    shown[seg_c] = next(p for p in files[col] if p.endswith("_overlay.png"))
                elif kind == "text2image":
                    shown[gen_c] = files[col][0]
            if kind == "depth":
                maps = {slot_of[c][0]: results[c].depth for c in order}
                height = results["base"].depth.shape[0]
                row = height // 2 if row_wanted is None else min(int(row_wanted), height - 1)
                shown.update({depth_plot: depth_figure(maps, row), depths: maps,
                              depth_row: gr.update(maximum=height - 1, value=row)})
            elif kind == "segmentation":
                shown[seg_plot] = probability_figure({slot_of[c][0]: results[c].prob for c in order})
            return shown

        def move_profile(maps: dict[str, np.ndarray] | None, row: float | None):
            """The depth figure along the row the user set (drag, typed value or arrow keys), kept
            for the next Run."""
            if maps is None or row is None:
                return gr.update(), gr.update()
            row = int(np.clip(row, 0, next(iter(maps.values())).shape[0] - 1))
            return depth_figure(maps, row), row

        outputs_of_predict = [message, preview, cls_base, cls_adapted, depth_plot, depths, depth_row, seg_base,
                              seg_adapted, seg_plot, gen_base, gen_adapted, files_base, files_adapted, *groups,
                              *cls_alone, *seg_alone, *gen_alone, *files_alone]
        select_outputs = [message, card, *groups, upload, preview, prompt, seed, *weights,
                          *(c for slot in alone for c in slot), *adapted]
        source.change(select, source, select_outputs, api_name="select")
        app.load(select, source, select_outputs, api_name=False)
        inputs = [source, upload, prompt, seed, chosen_row, *weights]  # a State is not part of the API
        run.click(predict, inputs, outputs_of_predict, api_name="predict")
        upload.upload(predict, inputs, outputs_of_predict, api_name=False)
        # "input" fires for a drag, a typed value and the arrow keys ("release" only at the end of a
        # drag); only the latest of a burst is drawn
        depth_row.input(move_profile, [depths, depth_row], [depth_plot, chosen_row], api_name=False,
                        trigger_mode="always_last")
    return app

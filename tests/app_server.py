"""The app of tools/app.py running for tests (tests/conftest.py makes one per session): a folder
with a copy of the zoo plus an index entry whose folder is missing ("ghost"), a copy of quickstart
("quickstart_copy": same base, its own head, so not mixable with quickstart), and two tiny entries
on one base that can be mixed (``SHARED``: "mix_a", "mix_b", published by the real publish code
from 3-step quickstart runs that train no head of their own), a runs folder with
tiny segmentation and text-to-image runs (random adapters, no training), and the server on a free
local port, started as a person starts it and stopped by SIGTERM."""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "toy"))
from inprocess_tools import ROOT  # noqa: E402

from test_predict import randomly_adapted  # noqa: E402

SEG_RECIPE = ROOT / "tasks" / "seg_synthetic.py"
SEG_VAL_METRICS = {"sm": 0.5}  # the seg run's training-time validation numbers (best/); its eval_test.json says 0.625
SHARED = ("mix_a", "mix_b")  # zoo entries sharing one base; the app lists them as one choice
T2I_RECIPE = """\
from lava_vision.adapters import AdapterConfig
from lava_vision.tasks.text2image.config import T2IDataConfig, T2IMetricsConfig, T2IModelConfig
from lava_vision.train.config import RunConfig, TrainConfig
config = RunConfig(task='text2image', model=T2IModelConfig(pretrained={sdxl!r}, inference_steps=2,
                   metrics=T2IMetricsConfig(fid_features='none')), data=T2IDataConfig(resolution=32),
                   adapter=AdapterConfig(method='lava', rank=2, alpha=2.0, preset='sdxl_unet', excludes=['vae.*']),
                   train=TrainConfig(precision='fp32'))
"""


def save_run(cfg, run: Path, metrics: dict | None = None) -> Path:
    """A finished run folder: config.json and best/ holding a randomly initialised adapter (with
    ``metrics``, the validation numbers the trainer records in best/, when given)."""
    from lava_vision.adapters import save_adapter

    save_adapter(randomly_adapted(cfg), run / "best", metadata={"metrics": metrics, "step": 3} if metrics else None)
    (run / "config.json").write_text(json.dumps(cfg.to_dict()))
    return run


def make_app_folder(d: Path) -> tuple[Path, Path, Path]:
    """``(d, tiny SAM checkpoint, text2image recipe)``: d/runs/seg, d/runs/t2i, d/zoo (with "ghost");
    start_app adds d/cwd, d/tmp: the server's working folder and TMPDIR)."""
    from lava_vision.tasks.segmentation.tiny import save_tiny_sam
    from lava_vision.tasks.text2image.tiny import write_tiny_sdxl
    from lava_vision.train import load_recipe

    ckpt = save_tiny_sam(d / "tiny_sam.pth")
    seg = load_recipe(SEG_RECIPE)
    seg.model.checkpoint = str(ckpt)
    save_run(seg, d / "runs" / "seg", metrics=SEG_VAL_METRICS)
    recipe = d / "t2i.py"
    recipe.write_text(T2I_RECIPE.format(sdxl=str(write_tiny_sdxl(d / "sdxl"))))
    save_run(load_recipe(recipe), d / "runs" / "t2i")
    # what tools/eval.py writes into a run folder: the card shows it with its split, not best/'s val numbers
    (d / "runs" / "seg" / "eval_test.json").write_text(json.dumps(
        {"split": "test", "max_samples": 0, "adapter": str(d / "runs" / "seg" / "best"), "after": {"sm": 0.625}}))
    shutil.copytree(ROOT / "zoo", d / "zoo")
    index = json.loads((d / "zoo" / "index.json").read_text())
    index["entries"]["ghost"] = dict(index["entries"]["quickstart"])
    index["entries"]["ghost"]["base_model_revision"] = "weights-sha256:" + "0" * 64  # not grouped with quickstart
    # a second entry on quickstart's base that also trains its own head: listed with it, never mixed
    shutil.copytree(d / "zoo" / "quickstart", d / "zoo" / "quickstart_copy")
    index["entries"]["quickstart_copy"] = dict(index["entries"]["quickstart"])
    (d / "zoo" / "index.json").write_text(json.dumps(index))
    publish_shared(d / "zoo", d / "shared_runs")
    return d, ckpt, recipe


def publish_shared(zoo_root: Path, runs: Path) -> None:
    """``SHARED`` in ``zoo_root``: two tiny quickstart runs (seeds 0, 1) published as zoo entries.
    They adapt the layers only (no ``modules_to_save``), so their adapters can be mixed."""
    from lava_vision.train import train
    from lava_vision.zoo.publish import publish
    from test_zoo_shared import RECIPE, tiny_config

    for seed, name in enumerate(SHARED):
        cfg = tiny_config(runs, seed)
        cfg.adapter.modules_to_save = []
        publish(train(cfg), name, root=zoo_root, recipe=str(RECIPE))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(d: Path, zoo: Path, runs: Path | None = None) -> tuple[subprocess.Popen, str]:
    """``python tools/app.py --zoo-root zoo [--runs runs]`` on a free port, as a person starts it,
    working in d/cwd with TMPDIR d/tmp (both made here), its output in d/server.log; returns the
    process and its URL once the page answers."""
    port = free_port()
    for sub in ("cwd", "tmp"):
        (d / sub).mkdir(exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "TMPDIR": str(d / "tmp")}
    with open(d / "server.log", "w") as log:
        proc = subprocess.Popen([sys.executable, str(ROOT / "tools" / "app.py"), "--zoo-root", str(zoo),
                                 *(["--runs", str(runs)] if runs else []), "--port", str(port), "--device", "cpu"],
                                cwd=d / "cwd", env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 300  # a busy machine: importing torch and gradio alone can take a minute
    while True:
        try:
            urllib.request.urlopen(url, timeout=5)
            return proc, url
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                raise RuntimeError(f"the app did not start:\n{(d / 'server.log').read_text()}") from None
            time.sleep(1)


def stop_app(proc: subprocess.Popen, how: signal.Signals) -> int | None:
    """Send ``how`` and wait up to 30 s; the exit status, or None when it had to be killed."""
    proc.send_signal(how)
    try:
        return proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return None


@contextlib.contextmanager
def running_app(d: Path) -> Iterator[str]:
    """``python tools/app.py`` over ``make_app_folder(d)``; yields its URL. At the end of the session
    (every test's uploads made) it gets SIGTERM, what ``kill``, service managers and container
    runtimes send: it must stop by itself (exit status 0, not the signal's default death) and its
    temporary folder, with the uploads, must be gone."""
    proc, url = start_app(d, d / "zoo", d / "runs")
    try:
        yield url
        temp = list((d / "tmp").glob("lava-vision-app-*"))
        assert len(temp) == 1 and temp[0].is_dir()  # the folder was there while it ran
    finally:
        status = stop_app(proc, signal.SIGTERM)
    log = (d / "server.log").read_text()
    assert status == 0, f"exit status {status} after SIGTERM (None: killed after 30 s; -15: died of it)\n{log}"
    assert "SIGTERM: stopping the server" in log
    assert not temp[0].exists(), "the app left its temporary folder (the uploads) behind"

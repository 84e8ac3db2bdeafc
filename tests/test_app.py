"""tools/app.py as a person uses it: the server started on a free local port over a copy of the zoo
and a runs folder (tiny segmentation and text-to-image runs), driven (a) by ``gradio_client``,
whose downloads must equal the files tools/predict.py writes for the same input, base and adapted,
byte for byte or value for value; (b) by a real headless Chromium through Playwright.

Set LAVA_VISION_APP_SCREENSHOTS=docs/images to refresh the docs' screenshots."""
from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from gradio_client import Client, handle_file

sys.path.insert(0, str(Path(__file__).parent / "toy"))
from inprocess_tools import ROOT, run_tool  # noqa: E402

from test_predict import randomly_adapted, write_rgb  # noqa: E402

torch.set_num_threads(1)  # the server runs single-threaded too: same reductions, identical numbers
SEG_RECIPE = ROOT / "tasks" / "seg_synthetic.py"
T2I_RECIPE = """\
from lava_vision.adapters import AdapterConfig
from lava_vision.tasks.text2image.config import T2IDataConfig, T2IMetricsConfig, T2IModelConfig
from lava_vision.train.config import RunConfig, TrainConfig
config = RunConfig(task='text2image', model=T2IModelConfig(pretrained={sdxl!r}, inference_steps=2,
                   metrics=T2IMetricsConfig(fid_features='none')), data=T2IDataConfig(resolution=32),
                   adapter=AdapterConfig(method='lava', rank=2, alpha=2.0, preset='sdxl_unet', excludes=['vae.*']),
                   train=TrainConfig(precision='fp32'))
"""


def save_run(cfg, run: Path) -> Path:
    """A finished run folder: config.json and best/ holding a randomly initialised adapter."""
    from lava_vision.adapters import save_adapter

    save_adapter(randomly_adapted(cfg), run / "best")
    (run / "config.json").write_text(json.dumps(cfg.to_dict()))
    return run


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """``(folder, tiny SAM checkpoint, text2image recipe)``: runs/seg, runs/t2i, a zoo copy with an
    index entry whose folder is missing ("ghost"), the server's cwd and TMPDIR."""
    from lava_vision.tasks.segmentation.tiny import save_tiny_sam
    from lava_vision.tasks.text2image.tiny import write_tiny_sdxl
    from lava_vision.train import load_recipe

    d = tmp_path_factory.mktemp("app")
    ckpt = save_tiny_sam(d / "tiny_sam.pth")
    seg = load_recipe(SEG_RECIPE)
    seg.model.checkpoint = str(ckpt)
    save_run(seg, d / "runs" / "seg")
    recipe = d / "t2i.py"
    recipe.write_text(T2I_RECIPE.format(sdxl=str(write_tiny_sdxl(d / "sdxl"))))
    save_run(load_recipe(recipe), d / "runs" / "t2i")
    # what tools/eval.py writes into a run folder: the card shows it with its split
    (d / "runs" / "seg" / "eval_test.json").write_text(json.dumps(
        {"split": "test", "max_samples": 0, "adapter": str(d / "runs" / "seg" / "best"), "after": {"sm": 0.625}}))
    shutil.copytree(ROOT / "zoo", d / "zoo")
    index = json.loads((d / "zoo" / "index.json").read_text())
    index["entries"]["ghost"] = dict(index["entries"]["quickstart"])
    (d / "zoo" / "index.json").write_text(json.dumps(index))
    for sub in ("cwd", "tmp"):
        (d / sub).mkdir()
    return d, ckpt, recipe


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(setup):
    """The app (``python tools/app.py``) on a free port; yields ``(url, folder)``. On exit it is
    interrupted as Ctrl-C would, and its temporary folder must be gone."""
    d, _, _ = setup
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "TMPDIR": str(d / "tmp")}
    log = open(d / "server.log", "w")
    proc = subprocess.Popen([sys.executable, str(ROOT / "tools" / "app.py"), "--zoo-root", str(d / "zoo"), "--runs",
                             str(d / "runs"), "--port", str(port), "--device", "cpu"],
                            cwd=d / "cwd", env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 300  # a busy machine: importing torch and gradio alone can take a minute
    while True:
        try:
            urllib.request.urlopen(url, timeout=5)
            break
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                pytest.fail(f"the app did not start:\n{(d / 'server.log').read_text()}")
            time.sleep(1)
    yield url, d
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()
    assert not list((d / "tmp").glob("lava-vision-app-*")), "the app left its temporary folder behind"


@pytest.fixture(scope="module")
def client(server):
    return Client(server[0], verbose=False, download_files=str(server[1] / "downloads"))


def predict_tool(monkeypatch, out: Path, adapted: list[str], base: list[str], input_path: Path,
                 *extra: str) -> dict[str, Path]:
    """tools/predict.py's output folders for the adapted model (``adapted``: its source arguments)
    and the base one (``base``), on the same input."""
    folders = {"adapted": out / "tool_adapted", "base": out / "tool_base"}
    for side, source in (("adapted", adapted), ("base", base)):
        run_tool(monkeypatch, "predict.py", *source, "--input", str(input_path), "--out", str(folders[side]),
                 "--device", "cpu", *extra)
    return folders


def app_files(out: dict) -> dict[str, dict[str, Path]]:
    """The app's downloads, ``{"base" | "adapted": {file name: local copy}}``."""
    return {side: {Path(p).name: Path(p) for p in out[f"files_{side}"]} for side in ("base", "adapted")}


# /predict's outputs as gradio_client returns them (the page's State is not part of the API)
OUTPUTS = ("status", "preview", "cls_base", "cls_adapted", "depth_plot", "depth_row", "seg_base", "seg_adapted",
           "seg_plot", "gen_base", "gen_adapted", "files_base", "files_adapted")


def app_predict(client: Client, key: str, path: Path | None = None, prompt: str = "", seed: int = 0,
                ok: bool = True) -> dict:
    out = client.predict(key, handle_file(str(path)) if path else None, prompt, seed, api_name="/predict")
    assert len(out) == len(OUTPUTS)
    out = dict(zip(OUTPUTS, out))
    assert ("Could not run" not in out["status"]) == ok, out["status"]
    return out


def csv_rows(path: Path) -> list[list[str]]:
    with open(path, newline="") as f:
        return list(csv.reader(f))


def test_classification_matches_predict_tool(client, server, tmp_path, monkeypatch):
    from lava_vision.data.procedural import render_shapes

    images, _ = render_shapes(1, "target", "test", seed=5, size=48)
    write_rgb(tmp_path / "my shape;1.png", images[0])  # an odd upload name: outputs never use it
    out = app_predict(client, "zoo:quickstart", tmp_path / "my shape;1.png")
    labels, files = {"base": out["cls_base"], "adapted": out["cls_adapted"]}, app_files(out)
    tool = predict_tool(monkeypatch, tmp_path, ["--zoo", "quickstart"],
                        [str(ROOT / "tasks" / "quickstart.py"), "--no-adapter"], tmp_path / "my shape;1.png")
    probs = {}
    for side in ("base", "adapted"):
        assert list(files[side]) == ["predictions.csv"]
        got, want = csv_rows(files[side]["predictions.csv"]), csv_rows(tool[side] / "predictions.csv")
        assert got[0] == want[0] and got[1][0] == "upload" and got[1][1:] == want[1][1:]  # exact float32 reprs
        shown = {c["label"]: c["confidence"] for c in labels[side]["confidences"]}
        assert shown == {name: float(v) for name, v in zip(want[0][2:], want[1][2:])}  # the chart shows them all
        assert labels[side]["label"] == want[1][1]
        probs[side] = np.array([float(v) for v in want[1][2:]])
    assert np.abs(probs["base"] - probs["adapted"]).max() > 1e-2  # the two columns are different models


def test_depth_matches_predict_tool(client, tmp_path, monkeypatch):
    from lava_vision.data.synthetic_depth import SyntheticDepthDataset

    write_rgb(tmp_path / "room.png", SyntheticDepthDataset(1, "B", 84, 100, seed=3)[0]["rgb"])
    out = app_predict(client, "zoo:depth_synthetic", tmp_path / "room.png")
    files = app_files(out)
    tool = predict_tool(monkeypatch, tmp_path, ["--zoo", "depth_synthetic"],
                        [str(ROOT / "tasks" / "depth_synthetic.py"), "--no-adapter"], tmp_path / "room.png")
    metres = {}
    for side in ("base", "adapted"):
        assert sorted(files[side]) == ["upload_depth_color.png", "upload_depth_m.npy", "upload_depth_mm.png"]
        metres[side] = np.load(files[side]["upload_depth_m.npy"])
        assert metres[side].shape == (84, 100)
        assert np.array_equal(metres[side], np.load(tool[side] / "room_depth_m.npy"))
        for suffix in ("depth_mm.png", "depth_color.png"):
            got = cv2.imread(str(files[side][f"upload_{suffix}"]), cv2.IMREAD_UNCHANGED)
            assert np.array_equal(got, cv2.imread(str(tool[side] / f"room_{suffix}"), cv2.IMREAD_UNCHANGED))
    assert np.abs(metres["base"] - metres["adapted"]).max() > 1e-2
    assert out["depth_plot"] is not None and out["depth_plot"]["type"] == "matplotlib"  # colour maps + profile


def test_segmentation_matches_predict_tool(client, setup, tmp_path, monkeypatch):
    _, ckpt, _ = setup
    rgb = cv2.GaussianBlur(np.random.default_rng(2).integers(0, 256, (60, 45, 3), dtype=np.uint8), (9, 9), 3)
    write_rgb(tmp_path / "scan.png", rgb)
    out = app_predict(client, "run:seg", tmp_path / "scan.png")
    files = app_files(out)
    recipe = [str(SEG_RECIPE), "--set", f"model.checkpoint={ckpt}"]
    tool = predict_tool(monkeypatch, tmp_path, [*recipe, "--adapter", str(setup[0] / "runs" / "seg")],
                        [*recipe, "--no-adapter"], tmp_path / "scan.png")
    masks = {}
    for side in ("base", "adapted"):
        assert sorted(files[side]) == ["upload_mask.png", "upload_overlay.png"]
        for suffix in ("mask.png", "overlay.png"):
            got = cv2.imread(str(files[side][f"upload_{suffix}"]), cv2.IMREAD_UNCHANGED)
            assert np.array_equal(got, cv2.imread(str(tool[side] / f"scan_{suffix}"), cv2.IMREAD_UNCHANGED))
        masks[side] = cv2.imread(str(files[side]["upload_mask.png"]), cv2.IMREAD_UNCHANGED)
        assert masks[side].shape == rgb.shape[:2]
    assert (masks["base"] != masks["adapted"]).mean() > 0.01
    # the page shows the overlays it offers for download
    overlays = [cv2.imread(str(out[k]), cv2.IMREAD_UNCHANGED) for k in ("seg_base", "seg_adapted")]
    assert [np.array_equal(o, cv2.imread(str(files[s]["upload_overlay.png"]), cv2.IMREAD_UNCHANGED))
            for o, s in zip(overlays, ("base", "adapted"))] == [True, True]


def test_text2image_matches_predict_tool(client, setup, tmp_path, monkeypatch):
    d, _, recipe = setup
    out = app_predict(client, "run:t2i", prompt="a red square icon", seed=3)
    files = app_files(out)
    (tmp_path / "prompts.txt").write_text("a red square icon\n")
    tool = predict_tool(monkeypatch, tmp_path, [str(recipe), "--adapter", str(d / "runs" / "t2i")],
                        [str(recipe), "--no-adapter"], tmp_path / "prompts.txt", "--seeds", "3")
    images = {}
    for side in ("base", "adapted"):
        name = "0000_a_red_square_icon_seed3.png"
        assert sorted(files[side]) == [name, "prompts.csv"]
        assert csv_rows(files[side]["prompts.csv"]) == csv_rows(tool[side] / "prompts.csv")
        images[side] = cv2.imread(str(files[side][name]))
        assert np.array_equal(images[side], cv2.imread(str(tool[side] / name)))
    assert np.abs(images["base"].astype(int) - images["adapted"]).max() > 8


def test_bad_inputs_are_messages_and_the_server_goes_on(client, server, tmp_path):
    d = server[1]
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    cv2.imwrite(str(tmp_path / "grey.png"), np.full((20, 20), 128, np.uint8))
    from PIL import Image

    Image.new("CMYK", (16, 16)).save(tmp_path / "cmyk.jpg")
    Image.new("RGBA", (16, 16), (10, 20, 30, 100)).save(tmp_path / "clear.png")
    Image.new("RGB", (4097, 8)).save(tmp_path / "wide.png")
    with open(tmp_path / "cut.png", "wb") as f:  # a valid header, the pixel data cut off
        write_rgb(tmp_path / "whole.png", np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8))
        f.write((tmp_path / "whole.png").read_bytes()[:600])
    expected = {"broken.png": "cannot read this file as an image", "grey.png": "this image has 1 channel (greyscale)",
                "cmyk.jpg": "this image has 4 channels (CMYK)", "clear.png": "4 channels with transparency (RGBA)",
                "wide.png": "image too large: 4097 x 8 pixels; the limit is at most 4096 x 4096 pixels",
                "cut.png": "cannot decode this image completely"}
    for name, said in expected.items():
        out = app_predict(client, "zoo:quickstart", tmp_path / name, ok=False)
        assert out["status"].startswith("**Could not run:**") and said in out["status"], name
        assert not out["cls_adapted"] and not out["files_adapted"]  # nothing shown from a refused upload
    out = app_predict(client, "zoo:ghost", tmp_path / "whole.png", ok=False)
    assert "zoo: ghost (classification) could not be loaded" in out["status"] and "is missing" in out["status"]
    assert "upload an image first" in app_predict(client, "zoo:quickstart", ok=False)["status"]
    out = app_predict(client, "zoo:quickstart", tmp_path / "whole.png")  # and a good one still works
    assert out["cls_adapted"]["label"] and len(out["files_adapted"]) == 1
    # an RGBA file whose alpha is fully opaque holds an RGB image: accepted, with the RGB file's numbers
    rgba = np.concatenate([cv2.cvtColor(cv2.imread(str(tmp_path / "whole.png")), cv2.COLOR_BGR2RGB),
                           np.full((64, 64, 1), 255, np.uint8)], axis=2)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "opaque.png")
    assert app_predict(client, "zoo:quickstart", tmp_path / "opaque.png")["cls_adapted"] == out["cls_adapted"]
    # uploads were stored in the app's own temporary folder, and nothing was written where it runs
    upload = (tmp_path / "whole.png").read_bytes()
    stored = [p for p in (d / "tmp").rglob("*") if p.is_file() and p.read_bytes() == upload]
    assert stored and all(any(q.name.startswith("lava-vision-app-") for q in p.parents) for p in stored), stored
    assert not list((d / "cwd").iterdir())
    assert sorted(p.name for p in (d / "runs").iterdir()) == ["seg", "t2i"]


def test_listens_on_loopback_only_without_a_share_link(server):
    log = (server[1] / "server.log").read_text()
    assert f"Running on local URL:  {server[0].rstrip('/')}" in log and server[0].startswith("http://127.0.0.1:")
    assert "public URL" not in log and "gradio.live" not in log


def test_cards_show_metrics_and_their_split(client):
    status, card, *_ = client.predict("run:seg", api_name="/select")
    assert status.startswith("seg is loaded") and "Metrics on split **test**" in card and "| sm | 0.625 |" in card
    status, card, *_ = client.predict("run:t2i", api_name="/select")
    assert "No evaluation recorded" in card
    status, card, *_ = client.predict("zoo:depth_synthetic", api_name="/select")
    recorded = json.loads((ROOT / "zoo" / "depth_synthetic" / "metrics.json").read_text())
    assert f"Metrics on split **{recorded['split']}**" in card and f"| d1 | {recorded['metrics']['d1']:.4g} |" in card


def chromium_path() -> str | None:
    """Debian's chromium (``apt-get install chromium``); /usr/bin/chromium is a wrapper script."""
    for candidate in ("/usr/lib/chromium/chromium", shutil.which("chromium")):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


def test_in_a_real_browser(server, tmp_path):
    """Headless Chromium: pick each task's source, upload an image (or type a prompt), wait for
    the result and read the page; a bad upload shows its message and a good one after it works."""
    browser_exe = chromium_path()
    if browser_exe is None:
        pytest.skip("Debian's chromium is not installed: `make test` installs it with apt-get when run as root "
                    "(apt-get install chromium); the gradio_client tests above cover the server")
    from playwright.sync_api import expect, sync_playwright

    from lava_vision import zoo
    from lava_vision.inference import load_run

    url, d = server
    shots = Path(os.environ.get("LAVA_VISION_APP_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    from lava_vision.data.procedural import render_shapes
    from lava_vision.data.synthetic_depth import SyntheticDepthDataset

    shape = render_shapes(1, "target", "test", seed=8, size=96)[0][0]
    write_rgb(tmp_path / "shape.png", shape)
    write_rgb(tmp_path / "room.png", SyntheticDepthDataset(1, "B", 120, 160, seed=4)[0]["rgb"])
    write_rgb(tmp_path / "scan.png", cv2.GaussianBlur(np.random.default_rng(5).integers(0, 256, (96, 128, 3),
                                                                                          dtype=np.uint8), (9, 9), 3))
    (tmp_path / "broken.png").write_bytes(b"not an image at all")
    want = {"adapted": zoo.load("quickstart").predict(shape).label,
            "base": load_run(recipe=ROOT / "tasks" / "quickstart.py").predict(shape).label}

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=browser_exe, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(url)
        status = page.locator("#status")

        def download(name: str):  # the download link of an adapted output file
            return page.locator(f"#files-adapted a[href$='/{name}']")

        def choose(label: str, name: str) -> None:
            page.get_by_label("zoo entry or run").click()
            page.get_by_role("option", name=label).click()
            expect(status).to_contain_text(f"{name} is loaded", timeout=120_000)

        def upload(path: Path, said: str) -> None:
            clear = page.locator("#upload").get_by_label("Clear")
            if clear.count():
                clear.click()
            page.locator("#upload input[type=file]").set_input_files(str(path))
            expect(status).to_contain_text(said, timeout=120_000)

        choose("zoo: quickstart (classification)", "quickstart")
        expect(page.locator("#card")).to_contain_text("Metrics on split val")
        upload(tmp_path / "shape.png", "quickstart: base | adapted done")
        for side in ("base", "adapted"):  # the chart's heading is the top class of each model
            expect(page.locator(f"#cls-{side}")).to_contain_text(want[side])
        expect(download("predictions.csv")).to_have_count(1)
        page.screenshot(path=str(shots / "app-classification.png"), full_page=True)
        upload(tmp_path / "broken.png", "Could not run: cannot read this file as an image")
        expect(download("predictions.csv")).to_have_count(0)
        upload(tmp_path / "shape.png", "quickstart: base | adapted done")  # the server goes on
        expect(page.locator("#cls-adapted")).to_contain_text(want["adapted"])

        choose("zoo: depth_synthetic (depth)", "depth_synthetic")
        upload(tmp_path / "room.png", "depth_synthetic: base | adapted done")
        expect(page.locator("#depth-plot img")).to_be_visible()
        expect(download("upload_depth_m.npy")).to_have_count(1)
        page.screenshot(path=str(shots / "app-depth.png"), full_page=True)

        choose("run: seg (segmentation)", "seg")
        upload(tmp_path / "scan.png", "seg: base | adapted done")
        for element in ("#seg-base img", "#seg-adapted img", "#seg-plot img"):
            expect(page.locator(element)).to_be_visible()
        expect(download("upload_mask.png")).to_have_count(1)
        page.screenshot(path=str(shots / "app-segmentation.png"), full_page=True)

        choose("run: t2i (text2image)", "t2i")
        page.locator("#prompt textarea").fill("a red square icon")
        page.locator("#seed input").fill("3")
        page.locator("#run").click()
        expect(status).to_contain_text("t2i: base | adapted done", timeout=120_000)
        for element in ("#gen-base img", "#gen-adapted img"):
            expect(page.locator(element)).to_be_visible()
        expect(download("0000_a_red_square_icon_seed3.png")).to_have_count(1)
        page.screenshot(path=str(shots / "app-text2image.png"), full_page=True)
        browser.close()

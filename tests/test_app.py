"""tools/app.py as a person uses it, driven by ``gradio_client``: for every task its downloads must
equal the files tools/predict.py writes for the same input, base and adapted, byte for byte or
value for value; bad uploads get their message and the server goes on; two entries on one base
show each adapter alone and their weighted mix as the adapter API computes them. The server (a
copy of the zoo, two mixable tiny entries, tiny segmentation and text-to-image runs) comes from
tests/app_server.py."""
from __future__ import annotations

import csv
import json
import signal
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from gradio_client import Client, handle_file

sys.path.insert(0, str(Path(__file__).parent / "toy"))
from inprocess_tools import ROOT, run_tool  # noqa: E402

from app_server import SEG_RECIPE, SHARED  # noqa: E402
from test_predict import write_rgb  # noqa: E402

torch.set_num_threads(1)  # the server runs single-threaded too: same reductions, identical numbers


@pytest.fixture(scope="module")
def client(app_server):
    return Client(app_server[0], verbose=False, download_files=str(app_server[1] / "downloads"))


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


MAX_ADAPTERS = 4  # lava_vision.app.sources.MAX_ADAPTERS: the page's slots for adapters shown alone
# /predict's outputs as gradio_client returns them (the page's State is not part of the API)
OUTPUTS = ("status", "preview", "cls_base", "cls_adapted", "depth_plot", "depth_row", "seg_base", "seg_adapted",
           "seg_plot", "gen_base", "gen_adapted", "files_base", "files_adapted",
           *(f"{kind}_alone_{i}" for kind in ("cls", "seg", "gen", "files") for i in range(MAX_ADAPTERS)))


def app_predict(client: Client, key: str, path: Path | None = None, prompt: str = "", seed: int = 0,
                ok: bool = True, weights: tuple[float, ...] = ()) -> dict:
    """/predict; ``weights``: the strength sliders of a shared base (the rest stay 1)."""
    strengths = list(weights) + [1.0] * (MAX_ADAPTERS - len(weights))
    out = client.predict(key, handle_file(str(path)) if path else None, prompt, seed, *strengths,
                         api_name="/predict")
    assert len(out) == len(OUTPUTS)
    out = dict(zip(OUTPUTS, out))
    assert ("Could not run" not in out["status"]) == ok, out["status"]
    return out


def csv_rows(path: Path) -> list[list[str]]:
    with open(path, newline="") as f:
        return list(csv.reader(f))


def test_classification_matches_predict_tool(client, tmp_path, monkeypatch):
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


def test_segmentation_matches_predict_tool(client, app_setup, tmp_path, monkeypatch):
    _, ckpt, _ = app_setup
    rgb = cv2.GaussianBlur(np.random.default_rng(2).integers(0, 256, (60, 45, 3), dtype=np.uint8), (9, 9), 3)
    write_rgb(tmp_path / "scan.png", rgb)
    out = app_predict(client, "run:seg", tmp_path / "scan.png")
    files = app_files(out)
    recipe = [str(SEG_RECIPE), "--set", f"model.checkpoint={ckpt}"]
    tool = predict_tool(monkeypatch, tmp_path, [*recipe, "--adapter", str(app_setup[0] / "runs" / "seg")],
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


def test_text2image_matches_predict_tool(client, app_setup, tmp_path, monkeypatch):
    d, _, recipe = app_setup
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


def test_bad_inputs_are_messages_and_the_server_goes_on(client, app_server, tmp_path):
    d = app_server[1]
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    cv2.imwrite(str(tmp_path / "grey.png"), np.full((20, 20), 128, np.uint8))
    from PIL import Image

    Image.new("CMYK", (16, 16)).save(tmp_path / "cmyk.jpg")
    Image.new("RGBA", (16, 16), (10, 20, 30, 100)).save(tmp_path / "clear.png")
    Image.new("RGB", (4097, 8)).save(tmp_path / "wide.png")
    with open(tmp_path / "cut.png", "wb") as f:  # a valid header, the pixel data cut off
        write_rgb(tmp_path / "whole.png", np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8))
        f.write((tmp_path / "whole.png").read_bytes()[:600])
    Image.fromarray(np.full((16, 16), 1.5, np.float32), "F").save(tmp_path / "float.tif")
    expected = {"broken.png": "cannot read this file as an image", "float.tif": "float32 pixels outside [0, 1]",
                "clear.png": "RGBA with transparency (256 pixel(s) with alpha below 255)",
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
    # greyscale and CMYK follow read_rgb's rule (the reader of tools/predict.py): grey in 3 channels,
    # CMYK by Pillow's conversion; each answers as the RGB file holding those pixels
    for name in ("grey.png", "cmyk.jpg"):
        rgb = np.asarray(Image.open(tmp_path / name).convert("RGB"))
        Image.fromarray(rgb, "RGB").save(tmp_path / f"{name}.rgb.png")
        got = app_predict(client, "zoo:quickstart", tmp_path / name)["cls_adapted"]
        assert got and got == app_predict(client, "zoo:quickstart", tmp_path / f"{name}.rgb.png")["cls_adapted"], name
    # uploads were stored in the app's own temporary folder, and nothing was written where it runs
    upload = (tmp_path / "whole.png").read_bytes()
    stored = [p for p in (d / "tmp").rglob("*") if p.is_file() and p.read_bytes() == upload]
    assert stored and all(any(q.name.startswith("lava-vision-app-") for q in p.parents) for p in stored), stored
    assert not list((d / "cwd").iterdir())
    assert sorted(p.name for p in (d / "runs").iterdir()) == ["seg", "t2i"]


def test_listens_on_loopback_only_without_a_share_link(app_server, client):
    url, d = app_server
    client.predict("zoo:quickstart", api_name="/select")  # built now or by an earlier test
    log = (d / "server.log").read_text()
    assert "building zoo: quickstart (classification): its base and adapted models..." in log
    assert f"Running on local URL:  {url.rstrip('/')}" in log and url.startswith("http://127.0.0.1:")
    assert "public URL" not in log and "gradio.live" not in log
    said = [log.index(s) for s in ("loading zoo entries", "building the page", "Running on local URL")]
    assert said == sorted(said), log  # start-up says what it is doing, in order


def test_cards_show_metrics_and_their_split(client, app_setup):
    # the seg run's best/ records validation numbers from training; its eval_test.json (what
    # tools/eval.py writes) has the test numbers: the card shows those, labelled test
    status, card, *_ = client.predict("run:seg", api_name="/select")
    test_eval = json.loads((app_setup[0] / "runs" / "seg" / "eval_test.json").read_text())
    val = json.loads((app_setup[0] / "runs" / "seg" / "best" / "adapter_config.json").read_text())["metadata"]
    assert test_eval["after"]["sm"] != val["metrics"]["sm"]  # two different records to tell apart
    assert status.startswith("seg is loaded") and "Metrics on split **test**" in card
    assert f"| sm | {test_eval['after']['sm']:.4g} |" in card and f"| sm | {val['metrics']['sm']:.4g} |" not in card
    assert "- metrics from: `eval_test.json`" in card
    status, card, *_ = client.predict("run:t2i", api_name="/select")
    assert "No evaluation recorded" in card
    status, card, *_ = client.predict("zoo:depth_synthetic", api_name="/select")
    recorded = json.loads((ROOT / "zoo" / "depth_synthetic" / "metrics.json").read_text())
    assert f"Metrics on split **{recorded['split']}**" in card and f"| d1 | {recorded['metrics']['d1']:.4g} |" in card


def probabilities(label: dict) -> dict[str, float]:
    return {c["label"]: c["confidence"] for c in label["confidences"]}


def test_shared_base_shows_each_adapter_alone_and_the_mix(client, app_setup, tmp_path):
    """Each adapter alone equals ``ZooModel.predict(adapter=name)`` exactly, the mix (0.7, -0.3)
    equals ``set_adapter(model, {a: 0.7, b: -0.3})`` on a separately loaded shared model, and
    base equals that model with its adapters disabled."""
    from lava_vision import zoo
    from lava_vision.adapters import disable_adapters, set_adapter
    from lava_vision.inference import Predictor

    a, b = SHARED
    key = f"shared:{a}+{b}"
    status, card, *_ = client.predict(key, api_name="/select")
    assert status.startswith(f"{a} + {b} is loaded") and f"- entries: `{a}, {b}`" in card
    rgb = (np.random.default_rng(4).random((40, 40, 3)) * 255).astype(np.uint8)
    write_rgb(tmp_path / "x.png", rgb)  # PNG: the app reads back exactly rgb
    out = app_predict(client, key, tmp_path / "x.png", weights=(0.7, -0.3))
    assert out["status"] == f"{a} + {b}: base | {a} | {b} | mix done"

    shared = zoo.load([a, b], root=app_setup[0] / "zoo")
    first = shared[0]
    classes = first.classes

    def as_shown(probs: np.ndarray) -> dict[str, float]:
        return {c: float(p) for c, p in zip(classes, probs)}

    alone = {n: first.predict(rgb, adapter=n).probs for n in (a, b)}
    for i, n in enumerate((a, b)):
        assert probabilities(out[f"cls_alone_{i}"]) == as_shown(alone[n]), n
        assert [Path(p).name for p in out[f"files_alone_{i}"]] == ["predictions.csv"]
    set_adapter(first.model, {a: 0.7, b: -0.3})
    mix = Predictor(first.task, first.model, first.config).predict(rgb).probs
    shown_mix = probabilities(out["cls_adapted"])
    np.testing.assert_allclose([shown_mix[c] for c in classes], mix, rtol=0, atol=1e-6)
    with disable_adapters(first.model):
        base = Predictor(first.task, first.model, first.config).predict(rgb).probs
    shown_base = probabilities(out["cls_base"])
    np.testing.assert_allclose([shown_base[c] for c in classes], base, rtol=0, atol=1e-6)
    for n in (a, b):  # three different models: the mix is neither adapter alone, nor is either the base
        assert np.abs(mix - alone[n]).max() > 1e-3 and np.abs(base - alone[n]).max() > 1e-3, n
    assert not out["cls_alone_2"] and not out["files_alone_2"]  # slots beyond the two entries stay empty


def test_shared_base_that_cannot_mix_still_shows_each_alone(client, tmp_path):
    """quickstart and its copy each train their own head: the card says they cannot be mixed (the
    browser test checks that no slider is shown), each is shown alone (as quickstart loaded by
    itself predicts), the mix is refused naming the module, and nothing is shown for it."""
    from lava_vision import zoo

    _, card, *_ = client.predict("shared:quickstart+quickstart_copy", api_name="/select")
    assert "These entries cannot be mixed" in card and "both save module 'fc'" in card  # and no slider
    _, card, *_ = client.predict(f"shared:{SHARED[0]}+{SHARED[1]}", api_name="/select")
    assert "cannot be mixed" not in card and "Set each adapter's strength" in card
    rgb = (np.random.default_rng(5).random((36, 36, 3)) * 255).astype(np.uint8)
    write_rgb(tmp_path / "y.png", rgb)
    out = app_predict(client, "shared:quickstart+quickstart_copy", tmp_path / "y.png", weights=(0.5, 0.5))
    assert out["status"].startswith("quickstart + quickstart_copy: base | quickstart | quickstart_copy done; no mix:")
    assert "'fc'" in out["status"]
    alone = zoo.load("quickstart", root=ROOT / "zoo")
    want = alone.predict(rgb).probs
    for i in range(2):
        shown = probabilities(out[f"cls_alone_{i}"])
        np.testing.assert_allclose([shown[c] for c in alone.classes], want, rtol=0, atol=1e-6)
    assert not out["cls_adapted"] and not out["files_adapted"]



def test_sighup_and_sigterm_stop_the_server_as_ctrl_c_does():
    """The handlers tools/app.py installs: SIGHUP (a closed terminal) and SIGTERM raise
    KeyboardInterrupt, Ctrl-C's way out, so the upload folder is removed (the session's server is
    stopped by a real SIGTERM, tests/app_server.py); a second signal while stopping is ignored."""
    import os

    from lava_vision.app.server import stop_on_signals

    saved = {s: signal.getsignal(s) for s in (signal.SIGHUP, signal.SIGTERM)}
    try:
        for sig in saved:
            stop_on_signals()
            assert callable(signal.getsignal(sig)), sig  # else the default action would end pytest here
            with pytest.raises(KeyboardInterrupt):
                os.kill(os.getpid(), sig)
                time.sleep(5)  # the handler runs at once; without one, SIGHUP would end pytest
            assert all(signal.getsignal(s) == signal.SIG_IGN for s in saved)
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)

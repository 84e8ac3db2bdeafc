"""tools/app.py in a real headless Chromium (Debian's package, driven by Playwright's Python API):
for each task pick its source, upload an image (or type a prompt), wait for the result and read the
page; a bad upload shows its message and a good one after it still works; sliders only where a mix
can be made; the depth profile row follows typed values and arrow keys and survives a new run. Skips, saying why, where
Debian's chromium is not installed (`make test` installs it when it runs as root with apt-get).

Set LAVA_VISION_APP_SCREENSHOTS=docs/images to refresh the docs' screenshots."""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent / "toy"))
from inprocess_tools import ROOT  # noqa: E402

from app_server import SHARED  # noqa: E402
from test_predict import write_rgb  # noqa: E402


def chromium_path() -> str | None:
    """Debian's chromium (``apt-get install chromium``); /usr/bin/chromium is a wrapper script."""
    for candidate in ("/usr/lib/chromium/chromium", shutil.which("chromium")):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


def test_in_a_real_browser(app_server, tmp_path):
    """Headless Chromium: pick each task's source, upload an image (or type a prompt), wait for
    the result and read the page; a bad upload shows its message and a good one after it works."""
    browser_exe = chromium_path()
    if browser_exe is None:
        pytest.skip("Debian's chromium is not installed: `make test` installs it with apt-get when run as root "
                    "(apt-get install chromium); tests/test_app.py (gradio_client) covers the server")
    from playwright.sync_api import expect, sync_playwright

    from lava_vision import zoo
    from lava_vision.inference import load_run

    url, _ = app_server
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
    from lava_vision.adapters import set_adapter
    from lava_vision.inference import Predictor

    shared = zoo.load(list(SHARED), root=app_server[1] / "zoo")[0]
    set_adapter(shared.model, {SHARED[0]: 1.0, SHARED[1]: -0.3})  # the sliders set below
    want["mix"] = Predictor(shared.task, shared.model, shared.config).predict(shape).label

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

        # two entries that each save their own head: no slider (it could only answer "no mix"), and
        # the card says why, naming the module the adapters' own check names
        choose("zoo: quickstart + quickstart_copy (one base, classification)", "quickstart + quickstart_copy")
        expect(page.locator("#card")).to_contain_text("These entries cannot be mixed")
        expect(page.locator("#card")).to_contain_text("both save module 'fc'")
        for i in range(2):
            expect(page.locator(f"#weight-{i}")).to_be_hidden()
        upload(tmp_path / "shape.png", "quickstart + quickstart_copy: base | quickstart | quickstart_copy done; no mix")
        expect(page.locator("#cls-alone-1")).to_be_visible()
        expect(page.locator("#cls-adapted")).to_be_hidden()  # no mix column either

        both = " + ".join(SHARED)
        choose(f"zoo: {both} (one base, classification)", both)
        for i, name in enumerate(SHARED):  # one strength slider per adapter, named after it
            expect(page.locator(f"#weight-{i}")).to_contain_text(f"strength of {name}")
        expect(page.locator("#weight-2")).to_be_hidden()
        page.locator("#weight-1 input[type=number]").fill("-0.3")
        page.locator("#weight-1 input[type=number]").press("Enter")
        upload(tmp_path / "shape.png", f"{both}: base | {' | '.join(SHARED)} | mix done")
        for element in ("#cls-base", "#cls-alone-0", "#cls-alone-1"):
            expect(page.locator(element)).to_be_visible()
        expect(page.locator("#cls-alone-0")).to_contain_text(f"{SHARED[0]} alone")
        expect(page.locator("#cls-adapted")).to_contain_text("mix: class probabilities")
        expect(page.locator("#cls-adapted")).to_contain_text(want["mix"])
        expect(page.locator("#cls-alone-2")).to_be_hidden()
        page.screenshot(path=str(shots / "app-shared-base.png"), full_page=True)

        choose("zoo: depth_synthetic (depth)", "depth_synthetic")
        upload(tmp_path / "room.png", "depth_synthetic: base | adapted done")
        plot, row_box = page.locator("#depth-plot img"), page.locator("#depth-row input[type=number]")
        expect(plot).to_be_visible()
        expect(row_box).to_have_value("60")  # the middle of 120 rows
        expect(download("upload_depth_m.npy")).to_have_count(1)
        page.screenshot(path=str(shots / "app-depth.png"), full_page=True)
        def plot_is(test: str, src: str) -> None:  # compared in the page: a failure does not print the PNG
            page.wait_for_function(f"src => document.querySelector('#depth-plot img').src {test} src", arg=src,
                                   timeout=60_000)

        # the profile row follows a typed value and the arrow keys, not only a drag
        drawn = {"middle": plot.get_attribute("src")}
        row_box.fill("10")
        plot_is("!==", drawn["middle"])
        drawn["typed"] = plot.get_attribute("src")
        page.locator("#depth-row input[type=range]").press("ArrowUp")
        expect(row_box).to_have_value("11")
        plot_is("!==", drawn["typed"])
        drawn["arrow"] = plot.get_attribute("src")
        assert len(set(drawn.values())) == 3
        # a new prediction keeps the chosen row: Run without an image (refused, nothing changes),
        # then the same image again draws the same figure along row 11, not the middle
        page.locator("#upload").get_by_label("Clear").click()
        page.locator("#run").click()
        expect(status).to_contain_text("upload an image first", timeout=60_000)
        upload(tmp_path / "room.png", "depth_synthetic: base | adapted done")
        expect(row_box).to_have_value("11")
        plot_is("===", drawn["arrow"])

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

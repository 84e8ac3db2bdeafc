"""tools/export.py and ``tools/zoo.py export``: a zoo entry and a run folder exported in one line,
each result loaded by its own loader (PEFT onto the plain base, ``load_state_dict`` of the merged
state dict) with the adapted outputs; a kohya export of a non-SDXL model is a one-line error;
``--strict`` refuses before writing anything, naming the layers."""
import json
import sys
from pathlib import Path

import peft
import pytest
import torch
from safetensors.torch import load_file

sys.path.insert(0, str(Path(__file__).parent / "toy"))
from inprocess_tools import run_tool  # noqa: E402
from toy_task import toy_config  # noqa: E402

from lava_vision import zoo  # noqa: E402
from lava_vision.train import build_base, train  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def quickstart():
    entry = zoo.load("quickstart")
    _, base = build_base(entry.config)
    return entry, base.eval()


def test_zoo_entry_exports_in_one_line(quickstart, tmp_path, monkeypatch, capsys):
    entry, base = quickstart
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        want, before = entry.model(x), base(x)
    assert (want - before).abs().max() > 0.1
    run_tool(monkeypatch, "zoo.py", "export", "quickstart", "--format", "peft", "--out", str(tmp_path / "peft"))
    assert "exported exactly" in capsys.readouterr().out
    report = json.loads((tmp_path / "peft" / "export_report.json").read_text())
    assert report["source"] == "zoo:quickstart" and report["not_exported"] == {}
    loaded = peft.PeftModel.from_pretrained(base, tmp_path / "peft").eval()  # CP convs + the new head
    with torch.no_grad():
        assert torch.allclose(loaded(x), want, rtol=0, atol=1e-5 * want.abs().max().item())
    run_tool(monkeypatch, "export.py", "--zoo", "quickstart", "--format", "merged", "--out", str(tmp_path / "merged"))
    _, plain = build_base(entry.config)
    plain.load_state_dict(load_file(str(tmp_path / "merged" / "model.safetensors")))
    with torch.no_grad():
        assert torch.allclose(plain.eval()(x), want, rtol=0, atol=1e-5 * want.abs().max().item())


def test_run_folder_exports_beside_the_run(tmp_path, monkeypatch, capsys):
    run = train(toy_config(tmp_path, "eval.num_visualize=0", "train.epochs=1", "eval.every=0"))
    run_tool(monkeypatch, "export.py", str(run), "--format", "peft")
    out = run / "export" / "peft"
    assert (out / "adapter_config.json").is_file() and (out / "export_report.json").is_file()
    from lava_vision.analysis.sources import load_for_analysis

    source = load_for_analysis(run)
    trained = source.model
    _, base = build_base(source.config)
    loaded = peft.PeftModel.from_pretrained(base, out).eval()
    x = torch.randn(5, 6)
    with torch.no_grad():
        want = trained(x)
        assert torch.allclose(loaded(x), want, rtol=0, atol=1e-6 * want.abs().max().item())
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        run_tool(monkeypatch, "export.py", str(run), "--format", "kohya")
    assert e.value.code == 2 and "kohya format names SDXL layers" in capsys.readouterr().err


def test_strict_export_leaves_nothing_on_disk_and_names_the_layers(tmp_path, monkeypatch, capsys):
    from torch import nn

    from lava_vision.adapters import adapter_layers

    transposed = {n for n, layer in adapter_layers(zoo.load("depth_synthetic").model)
                  if isinstance(layer.base_layer, nn.ConvTranspose2d)}  # DPT's upsamplers: no PEFT form
    assert len(transposed) == 2
    out = tmp_path / "peft"
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        run_tool(monkeypatch, "zoo.py", "export", "depth_synthetic", "--format", "peft", "--strict", "--out", str(out))
    err = capsys.readouterr().err
    assert e.value.code == 2 and not out.exists()
    assert "strict peft export: 2 layer(s)" in err and all(f"{n} (ConvTranspose2d" in err for n in transposed)
    run_tool(monkeypatch, "export.py", "--zoo", "depth_synthetic", "--format", "peft", "--out", str(out))
    assert set(json.loads((out / "export_report.json").read_text())["not_exported"]) == transposed


@pytest.mark.parametrize("name", sorted(zoo.read_index()["entries"]))
def test_shipped_cards_say_which_formats_load_where(name):
    from lava_vision.export import export_coverage
    from lava_vision.zoo.card import export_section

    card = (zoo.zoo_root() / name / "README.md").read_text()
    assert export_section(name, export_coverage(zoo.load(name).model)) in card


def test_ignored_options_are_refused_before_loading(monkeypatch, capsys):
    for args in (["zoo.py", "export", "quickstart", "--format", "merged", "--dtype", "fp16"],
                 ["export.py", "--zoo", "quickstart", "--format", "peft", "--tucker"]):
        with pytest.raises(SystemExit) as e:
            run_tool(monkeypatch, *args)
        assert e.value.code == 2 and "applies to" in capsys.readouterr().err

"""An entry from elsewhere names a task this installation knows: a "module:Class" task in a pulled or
copied entry's config.json is refused before anything of it is imported, unless the user opts in
(allow_task_module=True, tools: --allow-task-module)."""
import hashlib
import json
import shutil
import sys
from pathlib import Path

import pytest

from lava_vision import zoo
from lava_vision.zoo import ZooError
from lava_vision.zoo.hub import ENTRY_FILE, pull
from lava_vision.zoo.load import entry_config
from test_zoo_hub import FakeHfApi

ROOT = Path(__file__).resolve().parents[1]
MODULE = "i24_evil_task"  # its import-time code writes a marker file


@pytest.fixture
def evil_module(tmp_path, monkeypatch) -> Path:
    marker = tmp_path / "IMPORTED"
    pkg = tmp_path / "site"
    pkg.mkdir()
    (pkg / f"{MODULE}.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\nclass Evil:\n    pass\n")
    monkeypatch.syspath_prepend(str(pkg))
    monkeypatch.delitem(sys.modules, MODULE, raising=False)
    yield marker
    sys.modules.pop(MODULE, None)


def entry_files(task: str) -> dict[str, bytes]:
    """The shipped quickstart entry with its config.json naming ``task``."""
    files = {p.name: p.read_bytes() for p in (ROOT / "zoo" / "quickstart").iterdir()}
    config = json.loads(files["config.json"])
    config["task"] = task
    files["config.json"] = json.dumps(config).encode()
    return files


def record_of(files: dict[str, bytes]) -> dict:
    record = json.loads((ROOT / "zoo" / "index.json").read_text())["entries"]["quickstart"]
    return {**record, "files": {f: {"sha256": hashlib.sha256(d).hexdigest(), "size": len(d)} for f, d in files.items()}}


def test_pull_refuses_a_module_task_without_importing_it(tmp_path, evil_module):
    api = FakeHfApi()
    files = entry_files(f"{MODULE}:Evil")
    api.repos["evil/repo"] = {**files, ENTRY_FILE: json.dumps({"name": "demo", **record_of(files)}).encode()}
    root = tmp_path / "zoo"
    with pytest.raises(ZooError, match=rf"config.json: names the task class '{MODULE}:Evil'.*allow_task_module"):
        pull("evil/repo", root=root, api=api)
    assert not evil_module.exists() and MODULE not in sys.modules
    assert not (root / "demo").exists() and not (root / "index.json").exists()
    # the explicit opt-in imports it (and the class is then checked as a Task, which it is not)
    with pytest.raises(ZooError, match="is not a Task"):
        pull("evil/repo", root=root, api=api, allow_task_module=True)
    assert evil_module.read_text() == "ran"


def test_load_and_entry_config_refuse_a_module_task_in_the_local_zoo(tmp_path, evil_module):
    root = tmp_path / "zoo"
    files = entry_files(f"{MODULE}:Evil")
    (root / "quickstart").mkdir(parents=True)
    for name, data in files.items():
        (root / "quickstart" / name).write_bytes(data)
    (root / "index.json").write_text(json.dumps({"format": "lava-vision-zoo", "format_version": 1,
                                                 "entries": {"quickstart": record_of(files)}}))
    assert zoo.verify(root=root) == ["quickstart"]  # the files are intact: the task is what is refused
    for call in (lambda: zoo.load("quickstart", root), lambda: entry_config("quickstart", root)):
        with pytest.raises(ZooError, match=f"names the task class '{MODULE}:Evil'"):
            call()
    assert not evil_module.exists() and MODULE not in sys.modules


def test_a_known_task_pulls_and_loads_without_opt_in(tmp_path):
    api = FakeHfApi()
    files = entry_files("classification")
    api.repos["me/qs"] = {**files, ENTRY_FILE: json.dumps({"name": "qs", **record_of(files)}).encode()}
    pull("me/qs", root=tmp_path / "zoo", api=api)
    assert entry_config("qs", tmp_path / "zoo").task == "classification"
    shutil.rmtree(tmp_path / "zoo")

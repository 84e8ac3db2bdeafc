"""`--help` of every user tool and `tools/zoo.py list` answer without importing torch (issue 24: they
took ~3 s, nearly all of it `import torch`); `--zoo-root` works before and after a zoo.py subcommand."""
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOOLS = ["train", "eval", "predict", "export", "publish", "analyze", "compare", "sweep", "visualize", "generate",
         "zoo"]

# runs each tool as `python tools/<name>.py ARGS` would, in one process, and reports what got imported
PROBE = """
import json, runpy, sys
sys.path.insert(0, "tools")
out = {}
for name, args in json.loads(sys.argv[1]):
    sys.argv = [f"tools/{name}.py", *args]
    try:
        runpy.run_path(f"tools/{name}.py", run_name="__main__")
    except SystemExit as e:
        assert e.code in (0, None), (name, args, e.code)
    heavy = ("torch", "accelerate", "timm", "transformers")
    out[" ".join([name, *args])] = sorted(m for m in heavy if m in sys.modules)
print("RESULT" + json.dumps(out))
"""


def probe(calls: list) -> dict:
    done = subprocess.run([sys.executable, "-c", PROBE, json.dumps(calls)], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.split("RESULT", 1)[1])


def test_help_and_zoo_list_import_no_torch(tmp_path):
    calls = [(name, ["--help"]) for name in TOOLS] + [("zoo", ["list"]), ("zoo", ["verify"]),
                                                      ("zoo", ["show", "quickstart"])]
    imported = probe(calls)
    assert imported == {" ".join([n, *a]): [] for n, a in calls}


def test_zoo_root_before_or_after_the_subcommand(tmp_path):
    root = tmp_path / "myzoo"
    (root / "e1").mkdir(parents=True)
    (root / "e1" / "README.md").write_text("# e1\n")
    import hashlib

    data = (root / "e1" / "README.md").read_bytes()
    record = {"task": "depth", "base_model_id": "b", "adapter_method": "lava", "rank": 2, "split": "val",
              "metrics": {"d1": 0.5}, "files": {"README.md": {"sha256": hashlib.sha256(data).hexdigest(),
                                                              "size": len(data)}}}
    (root / "index.json").write_text(json.dumps({"format": "lava-vision-zoo", "format_version": 1,
                                                 "entries": {"e1": record}}))
    outputs = []
    for args in (["--zoo-root", str(root), "list"], ["list", "--zoo-root", str(root)],
                 ["verify", "--zoo-root", str(root)], ["--zoo-root", str(root), "verify"]):
        done = subprocess.run([sys.executable, "tools/zoo.py", *args], cwd=ROOT, capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 0, (args, done.stderr)
        outputs.append(done.stdout)
    assert outputs[0] == outputs[1] and "e1" in outputs[0] and "quickstart" not in outputs[0]
    assert outputs[2] == outputs[3] == "ok: 1 entry verified (e1)\n"

"""Hub push / pull, up to the Hub call. There is no network here, so the HfApi is a FAKE: every call
is first bound to the real ``huggingface_hub.HfApi`` method's signature (a wrong argument name
fails), then served from an in-memory dict of repos. What the real Hub does is NOT tested."""
from __future__ import annotations

import hashlib
import inspect
import json
from pathlib import Path

import pytest
from huggingface_hub import HfApi

from lava_vision import zoo
from lava_vision.zoo import ZooError
from lava_vision.zoo.hub import ENTRY_FILE, pull, push


class FakeHfApi:
    def __init__(self) -> None:
        self.repos: dict[str, dict[str, bytes]] = {}
        self.calls: list[tuple[str, dict]] = []

    def _check(self, method: str, kwargs: dict) -> None:
        inspect.signature(getattr(HfApi, method)).bind(self, **kwargs)
        self.calls.append((method, kwargs))

    def create_repo(self, **kwargs):
        self._check("create_repo", kwargs)
        self.repos.setdefault(kwargs["repo_id"], {})

    def upload_folder(self, **kwargs):
        self._check("upload_folder", kwargs)
        for p in Path(kwargs["folder_path"]).iterdir():
            self.repos[kwargs["repo_id"]][p.name] = p.read_bytes()
        return f"https://huggingface.co/{kwargs['repo_id']}/commit/fake"

    def snapshot_download(self, **kwargs):
        self._check("snapshot_download", kwargs)
        out = Path(kwargs["local_dir"])
        out.mkdir(parents=True)
        for name, data in self.repos[kwargs["repo_id"]].items():
            (out / name).parent.mkdir(parents=True, exist_ok=True)
            (out / name).write_bytes(data)
        return str(out)


def make_entry(root: Path, name: str = "demo") -> dict:
    """A hand-made entry (the hub code moves files and checks hashes; it never loads a model)."""
    (root / name).mkdir(parents=True)
    files = {"adapter.safetensors": b"\x00weights" * 50, "README.md": b"---\ntask: x\n---\n# demo\n"}
    for fname, data in files.items():
        (root / name / fname).write_bytes(data)
    record = {"task": "classification", "base_model_id": "b", "adapter_method": "lava", "rank": 4, "split": "val",
              "metrics": {"top1": 0.5}, "files": {f: {"sha256": hashlib.sha256(d).hexdigest(), "size": len(d)}
                                                  for f, d in files.items()}}
    (root / "index.json").write_text(json.dumps({"format": "lava-vision-zoo", "format_version": 1,
                                                 "entries": {name: record}}))
    return record


def test_push_then_pull_roundtrip(tmp_path):
    record = make_entry(tmp_path / "a")
    api = FakeHfApi()
    assert push("demo", "me/lava-demo", root=tmp_path / "a", api=api).endswith("/commit/fake")
    assert [c[0] for c in api.calls] == ["create_repo", "upload_folder"]
    assert set(api.repos["me/lava-demo"]) == {"adapter.safetensors", "README.md", ENTRY_FILE}
    target = pull("me/lava-demo", root=tmp_path / "b", api=api)
    assert target == tmp_path / "b" / "demo"
    assert zoo.read_index(tmp_path / "b")["entries"]["demo"] == record
    assert zoo.verify(root=tmp_path / "b") == ["demo"]
    published = tmp_path / "a" / "demo" / "adapter.safetensors"
    assert (target / "adapter.safetensors").read_bytes() == published.read_bytes()
    with pytest.raises(ZooError, match="already exists"):
        pull("me/lava-demo", root=tmp_path / "b", api=api)
    pull("me/lava-demo", "demo2", root=tmp_path / "b", api=api)
    assert zoo.verify(root=tmp_path / "b") == ["demo", "demo2"]


def test_pull_refuses_tampered_download(tmp_path):
    make_entry(tmp_path / "a")
    api = FakeHfApi()
    push("demo", "me/lava-demo", root=tmp_path / "a", api=api)
    api.repos["me/lava-demo"]["adapter.safetensors"] = b"\x00weights" * 49 + b"\x00weightz"
    with pytest.raises(ZooError, match="sha256"):
        pull("me/lava-demo", root=tmp_path / "b", api=api)
    assert not (tmp_path / "b" / "demo").exists() and not (tmp_path / "b" / "index.json").exists()


def test_push_refuses_damaged_entry(tmp_path):
    make_entry(tmp_path / "a")
    (tmp_path / "a" / "demo" / "README.md").write_text("changed")
    api = FakeHfApi()
    with pytest.raises(ZooError, match="README.md"):
        push("demo", "me/lava-demo", root=tmp_path / "a", api=api)
    assert api.calls == []  # nothing reached the Hub


def hostile_repo(api: FakeHfApi, files: dict[str, bytes], entry_name: str = "demo") -> str:
    """A repo whose zoo_entry.json lists ``files`` with their true sha256s (the hashes come from the
    same untrusted record, so they cannot be what stops a bad name)."""
    record = {"name": entry_name, "task": "classification", "base_model_id": "b", "adapter_method": "lava", "rank": 4,
              "split": "val", "metrics": {"top1": 0.5},
              "files": {f: {"sha256": hashlib.sha256(d).hexdigest(), "size": len(d)} for f, d in files.items()}}
    api.repos["evil/repo"] = {**files, ENTRY_FILE: json.dumps(record).encode()}
    return "evil/repo"


@pytest.mark.parametrize("bad", ["../escaped.txt", "../README.md", "sub/README.md", "..", "notes.txt",
                                 "ABSOLUTE"])
def test_pull_refuses_hostile_file_names(tmp_path, bad):
    root = tmp_path / "zoo"
    if bad == "ABSOLUTE":
        bad = str(tmp_path / "outside" / "README.md")
    api = FakeHfApi()
    files = {"adapter.safetensors": b"w" * 10, bad: b"pwned"}
    repo = hostile_repo(api, files if bad != ".." else {"adapter.safetensors": b"w" * 10, "..": b""})
    if bad == "..":
        api.repos[repo].pop("..")  # nothing can be written at "..": only the record names it
    with pytest.raises(ZooError, match="refused"):
        pull(repo, root=root, api=api)
    # nothing landed in the zoo root or beside it, and no entry was registered
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p.read_bytes() == b"pwned"]
    assert all(p.is_relative_to(tmp_path / "outside") for p in written if bad.startswith("/")), written
    assert not (root / "escaped.txt").exists() and not (root / "README.md").exists()
    assert not (root / "demo").exists() and not (root / "index.json").exists()


def test_pull_refuses_bad_file_records(tmp_path):
    api = FakeHfApi()
    repo = hostile_repo(api, {"adapter.safetensors": b"w"})
    record = json.loads(api.repos[repo][ENTRY_FILE])
    record["files"]["adapter.safetensors"]["sha256"] = "../x"
    api.repos[repo][ENTRY_FILE] = json.dumps(record).encode()
    with pytest.raises(ZooError, match="64 hex"):
        pull(repo, root=tmp_path / "zoo", api=api)
    api.repos[repo][ENTRY_FILE] = b"[1, 2]"
    with pytest.raises(ZooError, match="not a JSON object"):
        pull(repo, root=tmp_path / "zoo", api=api)


@pytest.mark.parametrize("planted", ["dot_symlink", "dot_file", "listed_symlink"])
def test_push_sends_only_the_listed_files_and_refuses_anything_else(tmp_path, planted):
    """A ``.x`` symlink to a secret outside the entry (the bytes the Hub would get if push followed
    it), an unlisted dot file, or a listed file replaced by a symlink to a copy of itself: push and
    verify refuse the entry naming the file, and nothing reaches the Hub."""
    make_entry(tmp_path / "a")
    entry = tmp_path / "a" / "demo"
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"SECRET-TOKEN-123")
    if planted == "dot_symlink":
        (entry / ".x").symlink_to(secret)
        named = ".x"
    elif planted == "dot_file":
        (entry / ".notes").write_bytes(b"SECRET-TOKEN-123")
        named = ".notes"
    else:
        readme = entry / "README.md"
        (tmp_path / "readme.copy").write_bytes(readme.read_bytes())
        readme.unlink()
        readme.symlink_to(tmp_path / "readme.copy")  # same bytes, same digest: still not a plain file
        named = "README.md"
    api = FakeHfApi()
    with pytest.raises(ZooError, match=rf"zoo entry 'demo'.*{named}"):
        push("demo", "me/lava-demo", root=tmp_path / "a", api=api)
    assert api.calls == [] and api.repos == {}
    with pytest.raises(ZooError, match=named):
        zoo.verify("demo", tmp_path / "a")


def test_push_uploads_exactly_the_listed_files_with_their_digests(tmp_path, monkeypatch):
    """What upload_folder receives is the listed files, their bytes hashing to the index's sha256s,
    plus zoo_entry.json, even when a file appears in the entry after ``verify`` read it."""
    from lava_vision.zoo import hub

    record = make_entry(tmp_path / "a")
    entry = tmp_path / "a" / "demo"
    real_verify = hub.verify

    def verify_then_plant(name, root):  # a file appears between the check and the copy
        out = real_verify(name, root)
        (entry / ".late").symlink_to(tmp_path / "secret.txt")
        return out

    (tmp_path / "secret.txt").write_bytes(b"SECRET-TOKEN-123")
    monkeypatch.setattr(hub, "verify", verify_then_plant)
    api = FakeHfApi()
    push("demo", "me/lava-demo", root=tmp_path / "a", api=api)
    sent = api.repos["me/lava-demo"]
    assert set(sent) == set(record["files"]) | {ENTRY_FILE}
    assert not any(b"SECRET-TOKEN" in data for data in sent.values())
    for fname, rec in record["files"].items():
        assert hashlib.sha256(sent[fname]).hexdigest() == rec["sha256"] and len(sent[fname]) == rec["size"]

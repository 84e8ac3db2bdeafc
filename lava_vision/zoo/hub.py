"""Optional Hugging Face Hub mirror: one model repo per zoo entry holding the entry's files plus
``zoo_entry.json`` (its index record, with every file's sha256). The local zoo never needs it
(nor the network).
"""
from __future__ import annotations

import json
import os
import shutil
import stat
import tempfile
from pathlib import Path
from typing import Any

from ..json_types import JsonFileError, read_json_file
from .index import ZooError, check_name, check_record, get_entry, locked, read_index, verify, verify_files, zoo_root
from .load import read_config
from .publish import _swap_in

ENTRY_FILE = "zoo_entry.json"


def _api(api: Any, token: str | None) -> Any:
    if api is not None:
        return api
    try:
        from huggingface_hub import HfApi
    except ImportError as e:
        raise ZooError("pushing to / pulling from the Hub needs huggingface_hub: pip install 'lava-vision[hub]'") from e
    return HfApi(token=token)


def push(name: str, repo_id: str, *, root: str | os.PathLike | None = None, private: bool = False,
         token: str | None = None, api: Any = None) -> str:
    """Verify entry ``name`` (its folder holds exactly the files the index lists, as plain files)
    and upload those files, their digests checked again on the copies, plus ``zoo_entry.json`` to
    model repo ``repo_id``.
    ``api``: an ``HfApi``-like object (default: a real one with ``token``). Returns the commit URL/info."""
    root = zoo_root(root)
    verify(name, root)
    entry = get_entry(name, root)
    api = _api(api, token)
    with tempfile.TemporaryDirectory() as tmp:
        # exactly the listed files, copied without following a link, and their digests checked on
        # the copies: what is uploaded is what the index records, whatever appeared since verify
        staged = Path(tmp) / name
        staged.mkdir()
        for fname in entry["files"]:
            _copy_plain(root / name / fname, staged / fname, f"zoo entry {name!r}")
        verify_files(staged, entry["files"], f"zoo entry {name!r} (the copy to upload)")
        (staged / ENTRY_FILE).write_text(json.dumps({"name": name, **entry}, indent=2, sort_keys=True) + "\n")
        api.create_repo(repo_id=repo_id, repo_type="model", private=private, exist_ok=True)
        info = api.upload_folder(folder_path=str(staged), repo_id=repo_id, repo_type="model",
                                 commit_message=f"lava-vision zoo entry {name}")
    return str(info)


def _copy_plain(src: Path, dst: Path, where: str) -> None:
    """Copy ``src`` if it is a plain file (opened with O_NOFOLLOW: a symlink is refused, not followed)."""
    try:
        fd = os.open(src, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as e:
        raise ZooError(f"{where}: file {src} cannot be read as a plain file ({e.strerror})") from e
    with open(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise ZooError(f"{where}: {src} is not a plain file")
        with open(dst, "wb") as out:
            shutil.copyfileobj(f, out)


def pull(repo_id: str, name: str | None = None, *, root: str | os.PathLike | None = None,
         revision: str | None = None, force: bool = False, token: str | None = None, api: Any = None,
         allow_task_module: bool = False) -> Path:
    """Download model repo ``repo_id`` and install it as a local entry (default name: the one it was
    pushed as), after checking every file against the sha256s in its ``zoo_entry.json`` and its
    config.json by type; an entry whose task is a module path of its own is refused (nothing of it
    imported) unless ``allow_task_module``."""
    api = _api(api, token)
    with tempfile.TemporaryDirectory() as tmp:
        local = Path(api.snapshot_download(repo_id=repo_id, repo_type="model", revision=revision,
                                           local_dir=str(Path(tmp) / "download")))
        record_path = local / ENTRY_FILE
        if not record_path.is_file():
            raise ZooError(f"hub repo {repo_id}: no {ENTRY_FILE}; not a lava-vision zoo entry")
        where = f"hub repo {repo_id}: {ENTRY_FILE}"
        try:
            entry = read_json_file(record_path)
        except JsonFileError as e:
            raise ZooError(f"hub repo {repo_id}: {e}") from e
        if not isinstance(entry, dict):
            raise ZooError(f"{where}: not a JSON object")
        name = check_name(name or str(entry.pop("name", "")))
        entry.pop("name", None)
        # the record is as untrusted as the files: check every name before building a path from it
        check_record(entry, where)
        root = zoo_root(root)
        with locked(root):
            staged = Path(tempfile.mkdtemp(dir=root, prefix=f".{name}.tmp-"))
            os.chmod(staged, 0o755)
            try:
                for fname in entry["files"]:
                    src = local / fname
                    if src.is_symlink() or not src.is_file():
                        raise ZooError(f"hub repo {repo_id}: file {fname} listed in {ENTRY_FILE} is missing "
                                       "(or not a plain file)")
                    shutil.copy2(src, staged / fname)
                verify_files(staged, entry["files"], f"hub repo {repo_id}")
                if "config.json" in entry["files"]:  # its task is checked before anything is imported
                    read_config(staged, f"hub repo {repo_id}", allow_task_module)
                index = read_index(root)
                if ((root / name).exists() or name in index["entries"]) and not force:
                    raise ZooError(f"zoo entry {name!r} already exists in {root}; pass --force to replace it")
                _swap_in(root, name, staged, index, entry)
            finally:
                shutil.rmtree(staged, ignore_errors=True)
    return root / name

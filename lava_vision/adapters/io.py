"""Adapter files: ``adapter.safetensors`` + ``adapter_config.json``, never pickle.

The JSON holds the full AdapterConfig, the library version, free metadata (base model id, task)
and a fingerprint of the base model: names, types and shapes of adapted layers and saved
modules, and ``base_sha256``, a digest of the adapted layers' base tensors as they were at
injection. Loading refuses (AdapterFileError naming the first culprit, model left as it was):
another model class; an adapted or saved layer missing, extra or of another type/shape; a
tensor missing, extra, mis-shaped, non-finite, or of a dtype that cannot be loaded exactly
(see ``check_dtype``). A different ``base_sha256`` (another checkpoint of the same
architecture) is a warning, or a refusal with ``strict_base=True``; files written before the
digest existed have none and load without that check.
"""
from __future__ import annotations

import json
import os
import tempfile
import warnings
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save
from torch import nn

from ..json_types import JsonFileError, read_json_file
from .base import DEFAULT_NAME
from .config import AdapterConfig, AdapterConfigError
from .config_file import FORMAT, AdapterFileError, check_adapter_doc
from .injector import adapter_layers, injection_state
from .named import delete_adapter, inject
from .state import BASE, named_adapters

WEIGHTS_NAME = "adapter.safetensors"
CONFIG_NAME = "adapter_config.json"


def adapter_state_dict(model: nn.Module, name: str | None = None) -> dict[str, torch.Tensor]:
    """The tensors an adapter file holds: adapter factors and modules_to_save (all for ``full``),
    of adapter ``name`` (``injection_state``'s choice without one), the model's own tensors (a
    saved module's values kept aside while another adapter's are live)."""
    state = injection_state(model, name)
    if state.config.method == "full":
        return {k: v for k, v in model.state_dict().items()}
    out = {}
    for lname, layer in adapter_layers(model, state.name):
        for pname in layer.factor_names:
            out[f"{lname}.{pname}" if lname else pname] = getattr(layer, pname)
    reg = named_adapters(model)
    for s in state.plan.saved_modules:
        live = reg.live.get(s, BASE) == state.name
        for k, v in (model.get_submodule(s).state_dict() if live else reg.stored[(state.name, s)]).items():
            out[f"{s}.{k}"] = v
    return out


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temp file beside ``path`` and rename it over: a crash leaves the old file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; these files are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_adapter(model: nn.Module, directory: str | os.PathLike, metadata: dict | None = None,
                 name: str | None = None) -> Path:
    """Write ``adapter.safetensors`` and ``adapter_config.json`` of adapter ``name`` (the only or
    only active one when omitted) into ``directory``; return it. The file holds no name: any
    adapter loads under any name."""
    from .. import __version__

    state = injection_state(model, name)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in adapter_state_dict(model, state.name).items()}
    atomic_write_bytes(directory / WEIGHTS_NAME, save(tensors, metadata={"format": FORMAT}))
    doc = {"format": FORMAT, "format_version": 1, "library_version": __version__,
           "adapter_config": state.config.to_dict(), "fingerprint": state.fingerprint,
           "trainable_params": state.plan.trainable_params, "base_params": state.plan.base_params,
           "metadata": metadata or {}}
    atomic_write_bytes(directory / CONFIG_NAME, json.dumps(doc, indent=2).encode())
    return directory


def read_adapter_config(directory: str | os.PathLike) -> dict:
    """The parsed ``adapter_config.json`` of an adapter folder, checked for its format."""
    path = Path(directory) / CONFIG_NAME
    if not path.is_file():
        raise AdapterFileError(f"{path}: no adapter config here (is {directory} an adapter folder?)")
    try:
        doc = read_json_file(path)
    except JsonFileError as e:
        raise AdapterFileError(str(e)) from e
    return check_adapter_doc(doc, path)  # types and ranges of every key, before anything uses them


def compare_fingerprints(expected: dict, actual: dict, where: str) -> None:
    """Raise naming the first layer whose name, type or shape differs."""
    if expected.get("model_class") != actual.get("model_class"):
        raise AdapterFileError(f"{where}: adapter was trained on a {expected.get('model_class')}, "
                               f"this model is a {actual.get('model_class')}")
    for section in ("adapted", "saved"):
        exp, act = expected.get(section, {}), actual.get(section, {})
        for name, spec in exp.items():
            if name not in act:
                raise AdapterFileError(f"{where}: base model has no {section} layer {name!r}")
            if act[name] != spec:
                raise AdapterFileError(f"{where}: layer {name!r} differs: adapter expects {spec}, "
                                       f"base has {act[name]}")
        for name in act:
            if name not in exp:
                raise AdapterFileError(f"{where}: base model has {section} layer {name!r} the adapter does not")


def check_base_digest(expected: dict, actual: dict, where: str, strict: bool) -> None:
    """Compare ``base_sha256`` of two fingerprints: a warning (AdapterFileError when ``strict``) when
    both have one and they differ; nothing to check for a file written without it."""
    want, have = expected.get("base_sha256"), actual.get("base_sha256")
    if want is None or have is None or want == have:
        return
    msg = (f"{where}: the adapted layers' base weights differ from those the adapter was trained on "
           f"(base_sha256 {have[:16]}... here, {want[:16]}... in the file): another checkpoint of this architecture?")
    if strict:
        raise AdapterFileError(msg)
    warnings.warn(msg + " Loading anyway; pass strict_base=True to refuse.", UserWarning, stacklevel=3)


# float dtypes a file tensor may widen into exactly (every value representable, no rounding)
_EXACT_WIDENING = {torch.float16: (torch.float32, torch.float64), torch.bfloat16: (torch.float32, torch.float64),
                   torch.float32: (torch.float64,)}


def check_dtype(key: str, got: torch.dtype, want: torch.dtype, where: str) -> None:
    """A file tensor loads when its dtype is the model tensor's, or a float type that widens into it
    exactly (float16/bfloat16 -> float32/float64, float32 -> float64); anything else (an integer
    tensor for a float factor, a float32 file into a float16 model) would be cast silently: refuse."""
    if got != want and want not in _EXACT_WIDENING.get(got, ()):
        raise AdapterFileError(f"{where}: tensor {key!r} is {str(got).replace('torch.', '')}, the model holds "
                               f"{str(want).replace('torch.', '')}; loading would cast it")


def _read_tensors(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise AdapterFileError(f"{path}: missing adapter weights file")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise AdapterFileError(f"{path}: unreadable or truncated safetensors file ({e})") from e


def load_adapter(model: nn.Module, directory: str | os.PathLike, strict_base: bool = False,
                 name: str | None = None) -> nn.Module:
    """Inject the adapter described in ``directory`` into ``model`` and load its weights.

    name: a new name adds the adapter beside the model's others (``named.inject``: inactive until
    ``set_adapter``); the name of an adapter present (or none, on a model that has adapters: the
    only or only active one) loads the file into it: its config must equal the file's; merged
    layers are unmerged, loaded and merged again (so a later ``unmerge`` returns the base). Raises
    AdapterFileError (naming file, layer or tensor) and leaves ``model`` unchanged on any mismatch.
    strict_base: refuse (instead of warn) when the base weights' digest differs from the file's.
    """
    directory = Path(directory)
    doc, cfg, tensors = read_adapter(directory)
    reg = named_adapters(model)
    injected_here = reg is None or (name is not None and name not in reg.states)
    if injected_here:
        recorded = doc["fingerprint"].get("model_class")
        if recorded != type(model).__name__:  # before plan(), whose pattern errors would hide the cause
            raise AdapterFileError(f"{directory / CONFIG_NAME}: adapter was trained on a {recorded} (task "
                                   f"{(doc.get('metadata') or {}).get('task', '?')!r}), this model is a "
                                   f"{type(model).__name__}")
        flags = {n: prm.requires_grad for n, prm in model.named_parameters()}
        try:
            inject(model, cfg, name)  # plans first: a refused plan leaves the model as it was
        except AdapterConfigError as e:  # the file's patterns or ranks do not fit this model
            raise AdapterFileError(f"{directory / CONFIG_NAME}: {e}") from e
        state = injection_state(model, DEFAULT_NAME if name is None else name)
        try:
            compare_fingerprints(doc["fingerprint"], state.fingerprint, str(directory / CONFIG_NAME))
        except AdapterFileError:
            _remove_adapter(model, state.name, flags)
            raise
    else:
        state = injection_state(model, name)
        if state.config.to_dict() != cfg.to_dict():
            raise AdapterFileError(f"{directory / CONFIG_NAME}: adapter config differs from the adapters "
                                   "already in this model")
        compare_fingerprints(doc["fingerprint"], state.fingerprint, str(directory / CONFIG_NAME))
    try:
        targets = adapter_state_dict(model, state.name)
        check_tensors(tensors, targets, str(directory / WEIGHTS_NAME))
        # the digest inject() recorded before any update touched the base
        check_base_digest(doc["fingerprint"], state.fingerprint, str(directory / CONFIG_NAME), strict_base)
    except AdapterFileError:
        if injected_here:
            _remove_adapter(model, state.name, flags)
        raise
    copy_into(model, state.name, tensors, targets)
    return model


def read_adapter(directory: Path) -> tuple[dict, AdapterConfig, dict[str, torch.Tensor]]:
    """``(config doc, AdapterConfig, tensors)`` of an adapter folder; refuses unreadable files and
    non-finite tensors."""
    doc = read_adapter_config(directory)
    try:
        cfg = AdapterConfig.from_dict(doc["adapter_config"])
    except (TypeError, ValueError) as e:
        raise AdapterFileError(f"{directory / CONFIG_NAME}: bad adapter_config ({e})") from e
    tensors = _read_tensors(directory / WEIGHTS_NAME)
    check_finite(tensors, str(directory / WEIGHTS_NAME))
    return doc, cfg, tensors


def check_finite(tensors: dict[str, torch.Tensor], where: str) -> None:
    for k, v in tensors.items():
        if v.is_floating_point() and not torch.isfinite(v).all():
            raise AdapterFileError(f"{where}: tensor {k!r} has non-finite values")


def check_tensors(tensors: dict[str, torch.Tensor], targets: dict[str, torch.Tensor], where: str) -> None:
    """The file's tensors are exactly the adapter's: same keys, shapes, and dtypes that load exactly."""
    for k in targets:
        if k not in tensors:
            raise AdapterFileError(f"{where}: missing tensor {k!r}")
    for k, v in tensors.items():
        if k not in targets:
            raise AdapterFileError(f"{where}: unexpected tensor {k!r}")
        if tuple(v.shape) != tuple(targets[k].shape):
            raise AdapterFileError(f"{where}: tensor {k!r} has shape {list(v.shape)}, "
                                   f"the model expects {list(targets[k].shape)}")
        check_dtype(k, v.dtype, targets[k].dtype, where)


def copy_into(model: nn.Module, name: str, tensors: dict[str, torch.Tensor], targets: dict[str, torch.Tensor]) -> None:
    """Copy checked ``tensors`` into adapter ``name``'s ``targets`` in place (no new tensor)."""
    # merged layers hold W + dW_old: take dW_old out before the factors change, fold dW_new in after
    merged = [layer for _, layer in adapter_layers(model, name) if layer.merged]
    for layer in merged:
        layer.unmerge()
    with torch.no_grad():
        for k, v in tensors.items():
            targets[k].copy_(v)
    for layer in merged:
        layer.merge()


def _remove_adapter(model: nn.Module, name: str, flags: dict[str, bool]) -> None:
    """Undo a fresh injection without merging (used when a load is refused)."""
    delete_adapter(model, name)
    for n, prm in model.named_parameters():
        prm.requires_grad_(flags.get(n, prm.requires_grad))

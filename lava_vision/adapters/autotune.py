"""Pick each CP conv's execution path by measurement, on the device and input sizes it trains with.

``auto`` (conv_cp.choose_path) decides from FLOP counts and the device type alone; this times
every path of every CP conv on the inputs one real forward pass gives it (forward + backward,
interleaved, median), like ``cudnn.benchmark`` does for conv algorithms, and keeps the fastest.
Layers with the same shape, geometry and input size are measured once. All paths compute the
same update, so only speed changes (and float rounding).
"""
from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

from .conv_cp import PATHS, CPConv
from .injector import adapter_layers


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time_paths(layer: CPConv, x: torch.Tensor, output_size, repeats: int,
                clock: Callable[[], float]) -> dict[str, float]:
    """Median seconds of forward + backward of ``layer`` per path on an input like ``x``."""
    x = torch.randn_like(x).requires_grad_(True)  # a layer mid-network passes gradients on
    grad = None
    times: dict[str, list[float]] = {p: [] for p in PATHS}
    saved = layer.path
    try:
        for i in range(repeats + 1):  # the first round warms up
            for path in PATHS:
                layer.path = path
                _sync(x.device)
                t0 = clock()
                y = layer(x, output_size) if output_size is not None else layer(x)
                grad = torch.ones_like(y) if grad is None else grad
                y.backward(grad)
                _sync(x.device)
                if i:
                    times[path].append(clock() - t0)
    finally:
        layer.path = saved
        for n in layer.factor_names:
            getattr(layer, n).grad = None
    return {p: statistics.median(v) for p, v in times.items()}


def tune_conv_paths(model: nn.Module, run: Callable[[], object], repeats: int = 3,
                    clock: Callable[[], float] = time.perf_counter, auto_only: bool = False) -> dict[str, str]:
    """Run ``run()`` once (no grad) to see each CP conv's input, time every path, set the fastest.

    Returns {layer name: chosen path}. ``run`` calls the model as training does (same batch
    size and resolution). ``auto_only``: leave the convs whose path was set explicitly (not
    ``auto``) as they are. Parameter ``.grad`` of the adapter factors is reset to None.
    """
    convs = [(n, m) for n, m in adapter_layers(model)
             if isinstance(m, CPConv) and (not auto_only or m.requested_path == "auto")]
    seen: dict[str, tuple[torch.Tensor, object]] = {}
    def record(name: str):
        def hook(module, args, kwargs) -> None:
            seen.setdefault(name, (args[0], args[1] if len(args) > 1 else kwargs.get("output_size")))
        return hook
    hooks = [m.register_forward_pre_hook(record(n), with_kwargs=True) for n, m in convs]
    try:
        with torch.no_grad():
            run()
    finally:
        for h in hooks:
            h.remove()
    chosen, cache = {}, {}
    for name, layer in convs:
        if name not in seen:
            continue  # not on the path ``run`` exercises
        x, output_size = seen[name]
        b = layer.base_layer
        key = (type(b), tuple(b.weight.shape), b.stride, b.padding, b.dilation, b.groups, b.padding_mode,
               layer.rank, tuple(x.shape), x.dtype, x.device, output_size)
        if key not in cache:
            with torch.enable_grad():
                times = _time_paths(layer, x, output_size, repeats, clock)
            cache[key] = min(times, key=times.get)
        layer.path = layer.requested_path = cache[key]
        chosen[name] = cache[key]
    return chosen

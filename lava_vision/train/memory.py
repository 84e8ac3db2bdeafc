"""Peak memory of one run, for the training log (``peak_mem_mb``).

On a GPU: the CUDA caching allocator's peak of allocated memory since ``reset_peak_memory``.
On Linux CPUs: the process's peak resident set size (``VmHWM``) since ``reset_peak_memory``, which
resets it through ``/proc/self/clear_refs``. Elsewhere: ``ru_maxrss``, the peak over the whole
process lifetime (so a later run in the same process reports at least an earlier run's peak).
"""
from __future__ import annotations

import re
import resource
import sys
from pathlib import Path

import torch

_STATUS, _CLEAR_REFS = Path("/proc/self/status"), Path("/proc/self/clear_refs")


def reset_peak_memory(device: torch.device) -> bool:
    """Start a new peak; False where only the process-lifetime peak exists."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        return True
    try:
        _CLEAR_REFS.write_text("5")  # Linux >= 4.0: reset VmHWM to the current RSS
        return True
    except OSError:
        return False


def peak_memory_mb(device: torch.device) -> float:
    """MiB: see the module docstring for what is measured where."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    try:
        match = re.search(r"^VmHWM:\s+(\d+) kB", _STATUS.read_text(), re.MULTILINE)
        if match:
            return int(match.group(1)) / 2**10
    except OSError:
        pass
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return rss / 2**20 if sys.platform == "darwin" else rss / 2**10

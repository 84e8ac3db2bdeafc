"""The small JSON report every export writes beside its files: what was exported, what was not
and why. A layer that cannot be written exactly is listed here, never approximated."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..adapters.io import atomic_write_bytes

REPORT_NAME = "export_report.json"


@dataclass
class ExportReport:
    """format: peft | kohya | merged; exported: {layer name: how}; not_exported: {layer name: why};
    files: the written files, relative to the export folder; notes: how to load the result."""

    format: str
    source: str = ""
    dtype: str = "float32"
    exported: dict[str, str] = field(default_factory=dict)
    not_exported: dict[str, str] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    options: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def exact(self) -> bool:
        return not self.not_exported

    def summary(self) -> str:
        """One line for the command-line tools."""
        text = f"{self.format}: {len(self.exported)} layer(s) exported exactly"
        if self.not_exported:
            text += f", {len(self.not_exported)} not exported (see {REPORT_NAME}): " + ", ".join(
                f"{k} ({v})" for k, v in list(self.not_exported.items())[:3]) + (
                ", ..." if len(self.not_exported) > 3 else "")
        return text

    def require_exact(self, shown: int = 5) -> None:
        """Raise ValueError naming the first ``shown`` left-out layers and why (``strict=True``
        exports call this before writing anything, so a refused export leaves nothing on disk)."""
        if not self.not_exported:
            return
        items = list(self.not_exported.items())
        more = len(items) - shown
        raise ValueError(
            f"strict {self.format} export: {len(items)} layer(s) have no exact {self.format} form, nothing "
            "written: " + "; ".join(f"{k} ({v})" for k, v in items[:shown])
            + (f"; and {more} more (strict=False lists them all in {REPORT_NAME})" if more > 0 else ""))

    def write(self, directory: str | Path) -> Path:
        path = Path(directory) / REPORT_NAME
        atomic_write_bytes(path, (json.dumps(asdict(self), indent=2) + "\n").encode())
        return path

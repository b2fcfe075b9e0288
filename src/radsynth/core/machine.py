"""What machine a measurement ran on, in one line, for model cards and benchmark tables."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def hardware_text(torch_threads: int | None = None) -> str:
    """``"<CPU model name>, <n> CPU cores[, torch threads <t>]"`` (the model name from ``/proc/cpuinfo`` where
    there is one, else ``platform.processor()`` or the machine type)."""
    name = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    text = f"{name}, {os.cpu_count()} CPU cores" if name else f"{os.cpu_count()} CPU cores"
    return text + (f", torch threads {torch_threads}" if torch_threads is not None else "")

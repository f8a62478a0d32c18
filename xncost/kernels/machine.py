"""The machine a benchmark ran on: CPU model, cores, popcount support, numpy/torch versions.

Read from /proc/cpuinfo (Linux) and package metadata, so nothing heavy is imported.
"""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata
from pathlib import Path

POPCOUNT_FLAGS = ("popcnt", "avx2", "avx512f", "avx512_vpopcntdq", "avx512_bitalg")


def _cpuinfo(path: str = "/proc/cpuinfo") -> list[dict[str, str]]:
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    blocks = []
    for block in text.strip().split("\n\n"):
        entry = {}
        for line in block.splitlines():
            key, sep, value = line.partition(":")
            if sep:
                entry[key.strip()] = value.strip()
        if entry:
            blocks.append(entry)
    return blocks


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _blas() -> str | None:
    try:
        import numpy as np

        config = np.show_config(mode="dicts")
        blas = config["Build Dependencies"]["blas"]
        return f"{blas.get('name')} {blas.get('version')}".strip()
    except Exception:  # numpy < 1.25 or a build without the section
        return None


def describe(cpuinfo: str = "/proc/cpuinfo") -> dict[str, str | int | None]:
    """CPU model, logical CPUs, physical cores, popcount flags, BLAS, numpy/torch versions."""
    procs = _cpuinfo(cpuinfo)
    first = procs[0] if procs else {}
    cores = {(p.get("physical id"), p.get("core id")) for p in procs if "core id" in p}
    flags = set(first.get("flags", "").split())
    return {
        "cpu_model": first.get("model name") or platform.processor() or None,
        "logical_cpus": os.cpu_count(),
        "physical_cores": len(cores) or None,
        "cpu_flags": " ".join(f for f in POPCOUNT_FLAGS if f in flags) or None,
        "python": platform.python_version(),
        "platform": f"{sys.platform} {platform.machine()}",
        "numpy": _version("numpy"),
        "blas": _blas(),
        "torch": _version("torch"),
    }


def describe_markdown(info: dict[str, str | int | None] | None = None) -> str:
    """The machine as a markdown bullet list."""
    info = describe() if info is None else info
    labels = {
        "cpu_model": "CPU",
        "logical_cpus": "logical CPUs",
        "physical_cores": "physical cores",
        "cpu_flags": "popcount-related CPU flags",
        "python": "Python",
        "platform": "platform",
        "numpy": "numpy",
        "blas": "numpy BLAS",
        "torch": "torch",
    }
    return "\n".join(f"- {labels[k]}: {v if v is not None else 'n/a'}" for k, v in info.items())

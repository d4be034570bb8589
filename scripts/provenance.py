"""Writing a generated dataset: gzipped extxyz frames plus a provenance JSON beside them.

Shared by the scripts that make equipot's shipped data (run as ``python scripts/X.py``,
which puts this folder on the import path).
"""

from __future__ import annotations

import datetime
import gzip
import json
import os
import platform
import subprocess
from importlib.metadata import version
from pathlib import Path
from typing import Any

import ase.io
from ase import Atoms


def git_commit() -> str | None:
    """The commit of the checkout the script runs from, or None outside git."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                             cwd=Path(__file__).parent, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip() or None


def write_dataset(frames: list[Atoms], output: Path, provenance: dict[str, Any],
                  packages: tuple[str, ...] = ("ase", "numpy")) -> Path:
    """Write ``frames`` to ``output`` (gzipped extxyz) and ``<stem>.json`` beside it.

    ``provenance`` holds what the script knows (generator, command, method, settings);
    the dataset name, frame count, package versions, OMP threads, git commit and date are
    added here. Returns the JSON path.
    """
    output.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(output, "wt", encoding="ascii") as handle:
        ase.io.write(handle, frames, format="extxyz")
    record = {
        "dataset": output.name,
        **provenance,
        "n_frames": len(frames),
        "versions": {"python": platform.python_version(), **{name: version(name) for name in packages}},
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "git_commit": git_commit(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    json_path = output.with_name(output.name.removesuffix(".gz").removesuffix(".xyz") + ".json")
    json_path.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {output} ({len(frames)} frames, {output.stat().st_size / 1e6:.2f} MB) and {json_path}",
          flush=True)
    return json_path

"""``equipot export --lammps``: the ``.pt2`` that ``pair_style equipot`` loads.

The archive holds one AOTInductor program, ``lammps`` (`program`), compiled for one
device, dtype and thread count, with what the pair style needs to know stored as the
program's metadata (read in C++ with ``AOTIModelPackageLoader::get_metadata``):
``species`` (space-separated symbols, in the model's index order), ``cutoff`` (Å),
``num_layers``, ``dtype``, ``device`` and ``format``. The model file it came from rides
along (as in `equipot.inference.export_model`) so the export can be traced back.
"""

from __future__ import annotations

import base64
import io
import json
import os
from contextlib import contextmanager
from pathlib import Path
from collections.abc import Iterator

import torch

from ..atomic_files import atomic_write
from ..inference.compiled import COMPILE_OPTIONS, require_aot_inductor
from ..models import EquivariantPotential
from ..models.devices import checked_device
from ..models.io import model_payload
from ..nn import use_dense_linears
from .program import PROGRAM_NAME, lammps_exported_program

__all__ = ["LAMMPS_EXPORT_FORMAT", "export_for_lammps", "lammps_metadata"]

#: ``format`` in the metadata; the pair style refuses other values
LAMMPS_EXPORT_FORMAT = "equipot-lammps-1"


def lammps_metadata(model: EquivariantPotential, dtype: torch.dtype, device: torch.device, threads: int) -> dict[str, str]:
    """What the pair style reads from the archive (all values are strings)."""
    return {
        "format": LAMMPS_EXPORT_FORMAT,
        "species": " ".join(model.species),
        "cutoff": repr(float(model.cutoff)),
        "num_layers": str(model.config.num_layers),
        "dtype": str(dtype).removeprefix("torch."),
        "device": device.type,
        "threads": str(threads),
    }


@contextmanager
def _torch_threads(threads: int) -> Iterator[None]:
    """Compile under ``threads`` CPU threads (AOTInductor writes the count into the
    code's parallel loops), then restore the caller's count."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def export_for_lammps(
    model: EquivariantPotential,
    path: str | os.PathLike,
    dtype: torch.dtype | None = None,
    device: str | torch.device = "cpu",
    threads: int = 1,
) -> Path:
    """Compile ``model`` in ``dtype`` (default: the model's; float64 for exact agreement
    across MPI ranks, float32 for speed) for ``device`` and write the ``.pt2`` that
    ``pair_style equipot`` loads at ``path``. On a CPU the compiled loops use ``threads``
    threads per MPI rank (1, the default, for one rank per core). Takes one compilation
    (about a minute for a small model on one core; docs/lammps.md)."""
    path = Path(path)
    if path.suffix != ".pt2":
        raise ValueError(f"a LAMMPS export is a .pt2 file; got {path}")
    if not isinstance(model, EquivariantPotential):
        raise TypeError(
            f"LAMMPS runs one EquivariantPotential; got {type(model).__name__}. Composed potentials "
            "(long-range, committees, uncertainty wrappers, sums) are not supported by pair_style equipot: "
            "export the local EquivariantPotential it wraps"
        )
    if threads < 1:
        raise ValueError(f"threads must be at least 1, got {threads}")
    require_aot_inductor()
    dtype = dtype or model.dtype
    device = checked_device(device)
    inference = model.converted(dtype).to(device).eval().requires_grad_(False)
    use_dense_linears(inference)
    options = {**COMPILE_OPTIONS, "aot_inductor.package": True}
    options["aot_inductor.metadata"] = lammps_metadata(model, dtype, device, threads)
    with _torch_threads(threads), torch.no_grad():
        program = lammps_exported_program(inference)
        aoti_files = torch._inductor.aot_compile(program.module(), *program.example_inputs, options=options)
    model_bytes = io.BytesIO()
    torch.save(model_payload(model.converted(dtype), getattr(model, "metadata", {})), model_bytes)
    from torch.export.pt2_archive._package import package_pt2

    extra_files = {
        "equipot_model": base64.b64encode(model_bytes.getvalue()).decode(),
        "equipot_lammps.json": json.dumps(options["aot_inductor.metadata"]),
    }
    return atomic_write(
        path, lambda stream: package_pt2(stream, aoti_files={PROGRAM_NAME: aoti_files}, extra_files=extra_files)
    )

"""Exported models: the compiled energy, forces and stress of a model as one ``.pt2`` file.

`export_model` compiles a model ahead of time with AOTInductor (see `inference.compiled`)
and writes a PyTorch 2 archive with two compiled programs, ``single`` (one structure)
and ``batch`` (several), plus the model file it came from. `load_exported` gives back a
`CompiledPotential` that runs those programs at once, without tracing or compiling; what
they do not cover (Hessians, heads, energies alone, tiny or huge graphs) runs eagerly on
the embedded model file, which is read with ``weights_only=True``.

Unlike a model file, a ``.pt2`` holds machine code that runs when it is loaded: load only
files you made or trust. `load_exported` is the only call that loads one (`load_model`
refuses them). Share the ``.pt`` model file; export where it will run.
"""

from __future__ import annotations

import base64
import io
import json
import os
import warnings
import zipfile
from pathlib import Path

import torch
from ase import Atoms

from ..atomic_files import atomic_write
from ..data import batch_graphs, graph_from_atoms
from ..models import EquivariantPotential
from ..models.io import ModelFileError, model_from_payload, model_payload, read_model_file
from .compiled import require_aot_inductor
from ..models.devices import checked_device
from .compiled_potential import CompiledPotential

__all__ = ["EXPORT_FORMAT", "export_model", "load_exported"]

EXPORT_FORMAT = "equipot-export-1"
_MODEL_FILE = "equipot_model"  # base64 of the model file, in the archive's extra files
_INFO_FILE = "equipot_export.json"
_PROGRAMS = {True: "single", False: "batch"}


def _example_structure(model: EquivariantPotential, n_atoms: int) -> Atoms:
    """A compact cluster of the model's elements, every pair within the cutoff."""
    species = model.config.species
    spacing = 0.45 * model.cutoff
    positions = [(spacing * (i % 2), spacing * ((i // 2) % 2), spacing * (i // 4)) for i in range(n_atoms)]
    return Atoms([species[i % len(species)] for i in range(n_atoms)], positions=positions)


def export_model(
    model: EquivariantPotential,
    path: str | os.PathLike,
    device: str | torch.device | None = None,
    dtype: torch.dtype | None = None,
    metadata: dict | None = None,
) -> Path:
    """Compile ``model`` for ``device`` (default: the model's) in ``dtype`` (default: the
    model's) and write the ``.pt2`` archive at ``path``. Takes as long as compiling
    twice; `load_exported` then starts at once (times: docs/performance.md). On a CPU the compiled loops use the number of threads set now
    (``torch.set_num_threads``): export under the count the runs will use. ``metadata``
    (JSON-like) is stored with the embedded model file (default: the model's)."""
    if not isinstance(model, EquivariantPotential):
        raise TypeError(
            f"only an EquivariantPotential can be exported, got {type(model).__name__}; run it eagerly from its "
            ".pt file (equipot md/relax/neb MODEL.pt without --exported, or EquipotCalculator.from_file)"
        )
    path = Path(path)
    if path.suffix != ".pt2":
        raise ValueError(f"an exported model is a .pt2 file; got {path}")
    require_aot_inductor()
    dtype = dtype or model.dtype
    device = checked_device(device) if device is not None else model.device
    compiled = CompiledPotential(model.converted(dtype).to(device))
    gradients = compiled.gradients
    single = graph_from_atoms(_example_structure(model, 4), model.cutoff, dtype=dtype).to(device=device)
    batch = batch_graphs([single, graph_from_atoms(_example_structure(model, 5), model.cutoff, dtype=dtype).to(device=device)])
    aoti_files = {}
    for graph in (single, batch):
        program = gradients.exported_program(graph)
        with torch.no_grad():
            aoti_files[_PROGRAMS[graph.n_graphs == 1]] = torch._inductor.aot_compile(
                program.module(), *program.example_inputs, options={**gradients.options, "aot_inductor.package": True}
            )
    model_bytes = io.BytesIO()
    torch.save(model_payload(compiled.model, metadata if metadata is not None else getattr(model, "metadata", {})), model_bytes)
    info = {
        "format": EXPORT_FORMAT,
        "device": device.type,
        "dtype": str(dtype).removeprefix("torch."),
        "threads": torch.get_num_threads(),
        "torch_version": torch.__version__,
    }
    from torch.export.pt2_archive._package import package_pt2

    extra_files = {_MODEL_FILE: base64.b64encode(model_bytes.getvalue()).decode(), _INFO_FILE: json.dumps(info)}
    return atomic_write(path, lambda stream: package_pt2(stream, aoti_files=aoti_files, extra_files=extra_files))


def load_exported(
    path: str | os.PathLike, device: str | torch.device = "cpu", dtype: torch.dtype | None = None
) -> CompiledPotential | EquivariantPotential:
    """The `CompiledPotential` stored by `export_model` at ``path``, ready to run (no
    tracing, no compiling). This RUNS MACHINE CODE from the file: load only exports you
    made or trust. Raises `ModelFileError` for a file that is not an equipot export or
    was made for another kind of device, before any of its code is loaded. Asked for
    another ``dtype`` than the export's, it returns the embedded model in that dtype,
    uncompiled (an `EquivariantPotential`), with a warning."""
    require_aot_inductor()
    from torch.export.pt2_archive._package import load_pt2

    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"exported model {path} does not exist")
    info, model_bytes = _read_export_files(path)  # before load_pt2 loads any compiled code
    device = checked_device(device)
    if device.type != info["device"]:
        raise ModelFileError(
            f"{path} was compiled for {info['device']}, not {device.type}; export the model again with "
            f"--device {device.type}"
        )
    model = model_from_payload(read_model_file(io.BytesIO(model_bytes), name=str(path)), path)
    exported_dtype = getattr(torch, info["dtype"])
    if dtype is not None and dtype != exported_dtype:
        warnings.warn(
            f"{path} was compiled in {info['dtype']}; running its model eagerly in {str(dtype).removeprefix('torch.')}",
            RuntimeWarning,
            stacklevel=2,
        )
        return model.converted(dtype).to(device=device).eval()
    if device.type == "cpu" and info["threads"] != torch.get_num_threads():
        warnings.warn(
            f"{path} was compiled for {info['threads']} threads and this process runs {torch.get_num_threads()}; "
            f"its loops will use {info['threads']} (export again under the thread count the runs use)",
            RuntimeWarning,
            stacklevel=2,
        )
    runners = load_pt2(str(path), device_index=device.index if device.index is not None else -1).aoti_runners
    compiled = CompiledPotential(model.to(device=device))
    for single, name in _PROGRAMS.items():
        compiled.gradients.use_compiled(single, runners[name].loader.boxed_run)
    return compiled


def _read_export_files(path: Path) -> tuple[dict, bytes]:
    """The export's info and embedded model file, read from the zip listing alone;
    raises `ModelFileError` for anything that is not an equipot export."""
    files = {}
    try:
        with zipfile.ZipFile(path) as archive:
            for name in archive.namelist():
                folder, _, file = name.rpartition("/")
                if folder.endswith("extra") and file in (_INFO_FILE, _MODEL_FILE):
                    files[file] = archive.read(name)
    except (zipfile.BadZipFile, OSError) as error:
        raise ModelFileError(f"{path} is not an equipot export ({error}); make one with `equipot export MODEL.pt`") from error
    if set(files) != {_INFO_FILE, _MODEL_FILE}:
        raise ModelFileError(f"{path} is not an equipot export (no equipot model in it); make one with `equipot export MODEL.pt`")
    info = json.loads(files[_INFO_FILE])
    if info.get("format") != EXPORT_FORMAT:
        raise ModelFileError(f"{path} is an equipot export of another format ({info.get('format')}); export the model again")
    return info, base64.b64decode(files[_MODEL_FILE])

"""Model files: config, species map, normalization and weights as plain data.

Files are written with `torch.save` of a dict of tensors and primitive values and read
with ``torch.load(weights_only=True)``: loading never executes code from the file.
``.pt2`` exports hold compiled machine code: `load_model` refuses them; they load only
through the explicit `equipot.inference.load_exported`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, BinaryIO

import torch

from .._version import __version__
from ..atomic_files import atomic_write
from ..config import ModelConfig
from .devices import checked_device
from .potential import EquivariantPotential

__all__ = [
    "ModelFileError",
    "load_model",
    "model_from_payload",
    "model_payload",
    "read_model_file",
    "read_plain_data",
    "save_model",
]

FORMAT = "equipot-model"
FORMAT_VERSION = 1


class ModelFileError(ValueError):
    """A model file is missing, unreadable, or not an equipot model."""


def model_payload(model: EquivariantPotential, metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    """What a model file holds (tensors and plain values), for `torch.save`."""
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "equipot_version": __version__,
        "model": "EquivariantPotential",
        "config": model.config.model_dump(),
        "state_dict": {k: v.detach().cpu() for k, v in model.learned_state().items()},
        "dtype": str(next(model.parameters()).dtype).removeprefix("torch."),
        "metadata": metadata or {},
    }


def save_model(model: Any, path: str | os.PathLike, metadata: dict[str, Any] | None = None) -> Path:
    """Write ``model`` to ``path`` atomically (temporary file, then rename).

    ``model`` is an `EquivariantPotential`, or a composed potential with a
    ``model_file_payload(metadata)`` method (`equipot.longrange.LongRangePotential`).
    ``metadata`` (JSON-like: str, numbers, lists, dicts) is stored alongside, e.g. the
    training config and dataset statistics.
    """
    if isinstance(model, EquivariantPotential):
        payload = model_payload(model, metadata)
    elif callable(getattr(model, "model_file_payload", None)):
        payload = model.model_file_payload(metadata)
    else:
        raise TypeError(
            f"save_model writes an EquivariantPotential or a potential with model_file_payload(); got "
            f"{type(model).__name__} (a committee: equipot.uq.save_committee)"
        )
    return atomic_write(Path(path), lambda stream: torch.save(payload, stream))


def read_plain_data(path: str | os.PathLike | BinaryIO, name: str | None = None, what: str = "model file") -> Any:
    """What ``torch.save`` wrote to ``path`` (a path, or a binary stream called ``name`` in
    messages), read with ``torch.load(weights_only=True)``: tensors and plain values only,
    never code. Raises `ModelFileError` for a missing, corrupt or unsafe file, calling it an
    equipot ``what`` in the message."""
    if isinstance(path, (str, os.PathLike)):
        path = Path(path)
        if not path.is_file():
            raise ModelFileError(f"model file {path} does not exist")
    name = name or str(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several types for corrupt or unsafe files
        raise ModelFileError(
            f"{name} is not a readable equipot {what} ({type(error).__name__}: {error}). "
            "Model files are loaded without executing code; re-save it with equipot.save_model "
            "(a committee: equipot.uq.save_committee)"
        ) from error


def read_model_file(path: str | os.PathLike | BinaryIO, name: str | None = None) -> dict[str, Any]:
    """The raw payload of a model file (a path, or a binary stream called ``name`` in
    messages), loaded safely; raises `ModelFileError`."""
    name = name or str(path)
    payload = read_plain_data(path, name)
    if isinstance(payload, dict) and payload.get("format") == "equipot-committee":
        raise ModelFileError(
            f"{name} is a committee file, not a single model; load it with equipot.load_potential(path) "
            "(or equipot.uq.load_committee, or EquipotCalculator.from_file)"
        )
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ModelFileError(f"{name} is not an equipot model file (no '{FORMAT}' header)")
    if payload.get("format_version", 0) > FORMAT_VERSION:
        raise ModelFileError(
            f"{name} was written by a newer equipot (file format {payload['format_version']}); upgrade equipot"
        )
    return payload


def model_from_payload(payload: dict[str, Any], path: str | os.PathLike) -> EquivariantPotential:
    """The `EquivariantPotential` of a `read_model_file` payload, in its stored dtype, on the
    CPU, in eval mode. A file of another kind (a long-range hybrid) is refused with a pointer
    to `equipot.load_potential`, which reads every kind."""
    kind = payload.get("model", "EquivariantPotential")
    if kind != "EquivariantPotential":
        raise ModelFileError(
            f"{path} holds a {kind}, not a single EquivariantPotential; load it with "
            "equipot.load_potential(path) (or EquipotCalculator.from_file), which reads every kind of model file"
        )
    config = ModelConfig.model_validate(payload["config"])
    model = EquivariantPotential(config, dtype=getattr(torch, payload.get("dtype", "float32")))
    try:
        model.load_learned_state(payload["state_dict"])
    except RuntimeError as error:
        raise ModelFileError(f"{path}: weights do not match the stored config: {error}") from error
    model.metadata = payload.get("metadata", {})  # type: ignore[assignment]
    return model.eval()


def load_model(path: str | os.PathLike, device: str | torch.device = "cpu", dtype: torch.dtype | None = None) -> EquivariantPotential:
    """Rebuild the `EquivariantPotential` stored in the ``.pt`` model file ``path`` (see
    `save_model`), in eval mode. Loading never runs code from the file. Files of other
    potentials (long-range hybrids, committees, models with uncertainty estimators) load with
    `equipot.load_potential`, which reads every kind.

    Raises `ModelFileError` for a ``.pt2`` export: it holds machine code that runs when
    loaded, so it loads only through the explicit ``equipot.inference.load_exported(path)``.
    A ``device`` this PyTorch cannot use raises ValueError (`checked_device`)."""
    device = checked_device(device)
    if Path(path).suffix == ".pt2":
        raise ModelFileError(
            f"{path} is an exported model (.pt2), which holds machine code that runs when loaded; "
            "load_model reads .pt model files only. Load an export you trust with "
            "equipot.inference.load_exported(path)"
        )
    model = model_from_payload(read_model_file(path), path)
    if dtype is not None and dtype != model.dtype:
        model = model.converted(dtype)
    return model.to(device=device).eval()

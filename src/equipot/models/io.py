"""Model files: config, species map, normalization and weights as plain data.

Files are written with `torch.save` of a dict of tensors and primitive values and read
with ``torch.load(weights_only=True)``: loading never executes code from the file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from .. import __version__
from ..atomic_files import atomic_write
from ..config import ModelConfig
from .potential import EquivariantPotential

__all__ = ["ModelFileError", "save_model", "load_model", "read_model_file"]

FORMAT = "equipot-model"
FORMAT_VERSION = 1


class ModelFileError(ValueError):
    """A model file is missing, unreadable, or not an equipot model."""


def save_model(model: EquivariantPotential, path: str | os.PathLike, metadata: dict[str, Any] | None = None) -> Path:
    """Write ``model`` to ``path`` atomically (temporary file, then rename).

    ``metadata`` (JSON-like: str, numbers, lists, dicts) is stored alongside, e.g. the
    training config and dataset statistics.
    """
    path = Path(path)
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "equipot_version": __version__,
        "model": "EquivariantPotential",
        "config": model.config.model_dump(),
        "state_dict": {k: v.detach().cpu() for k, v in model.learned_state().items()},
        "dtype": str(next(model.parameters()).dtype).removeprefix("torch."),
        "metadata": metadata or {},
    }
    return atomic_write(path, lambda stream: torch.save(payload, stream))


def read_model_file(path: str | os.PathLike) -> dict[str, Any]:
    """The raw payload of a model file, loaded safely; raises `ModelFileError`."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"model file {path} does not exist")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several types for corrupt or unsafe files
        raise ModelFileError(
            f"{path} is not a readable equipot model file ({type(error).__name__}: {error}). "
            "Model files are loaded without executing code; re-save the model with equipot.save_model"
        ) from error
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ModelFileError(f"{path} is not an equipot model file (no '{FORMAT}' header)")
    if payload.get("format_version", 0) > FORMAT_VERSION:
        raise ModelFileError(
            f"{path} was written by a newer equipot (file format {payload['format_version']}); upgrade equipot"
        )
    return payload


def load_model(path: str | os.PathLike, device: str | torch.device = "cpu", dtype: torch.dtype | None = None) -> EquivariantPotential:
    """Rebuild the model stored in ``path`` (see `save_model`), in eval mode."""
    payload = read_model_file(path)
    config = ModelConfig.model_validate(payload["config"])
    stored_dtype = getattr(torch, payload.get("dtype", "float32"))
    model = EquivariantPotential(config, dtype=stored_dtype)
    try:
        model.load_learned_state(payload["state_dict"])
    except RuntimeError as error:
        raise ModelFileError(f"{path}: weights do not match the stored config: {error}") from error
    model.metadata = payload.get("metadata", {})  # type: ignore[assignment]
    if dtype is not None and dtype != stored_dtype:
        model = model.converted(dtype)
    return model.to(device=device).eval()

"""Model files with uncertainty estimators: the model file of `equipot.models.io` plus an
``"uncertainty"`` entry of plain data (tensors and numbers), read with
``torch.load(weights_only=True)`` like the rest. A file with the entry still loads with
`equipot.load_model` (as the bare model); `load_uncertainty_model` (and
`equipot.load_potential`, which the calculator and the commands use) brings back the wrapper."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from ..atomic_files import atomic_write
from ..models import EquivariantPotential
from ..models.io import ModelFileError, load_model, model_payload, read_model_file
from .potential import UncertaintyPotential

__all__ = ["load_uncertainty_model", "save_uncertainty_model", "with_uncertainty"]


def save_uncertainty_model(potential: UncertaintyPotential, path: str | os.PathLike, metadata: dict[str, Any] | None = None) -> Path:
    """Write ``potential`` (model, weights, and its estimators' state) to ``path`` atomically;
    `load_uncertainty_model` and `equipot.load_potential` read it back.
    ``metadata`` defaults to the wrapped model's."""
    payload = model_payload(potential.model, metadata if metadata is not None else dict(potential.metadata))
    payload["uncertainty"] = potential.uncertainty_state()
    return atomic_write(Path(path), lambda stream: torch.save(payload, stream))


def with_uncertainty(model: EquivariantPotential, payload: dict[str, Any], path: str | os.PathLike) -> EquivariantPotential | UncertaintyPotential:
    """``model`` wrapped in an `UncertaintyPotential` with the estimators of the model-file
    ``payload`` (its ``"uncertainty"`` entry), or ``model`` itself if there is none."""
    state = payload.get("uncertainty")
    if state is None:
        return model
    try:
        potential = UncertaintyPotential.from_state(model, state)
    except (KeyError, TypeError, ValueError) as error:
        raise ModelFileError(f"{path}: the stored uncertainty estimators do not match the model: {error}") from error
    return potential.to(device=model.device, dtype=model.dtype).eval()


def load_uncertainty_model(
    path: str | os.PathLike, device: str | torch.device = "cpu", dtype: torch.dtype | None = None
) -> EquivariantPotential | UncertaintyPotential:
    """The potential stored in ``path``: an `UncertaintyPotential` if the file holds
    uncertainty estimators (``equipot uncertainty fit``), else the plain model
    (`equipot.load_model`; `equipot.load_potential` reads every kind of file). Loading never
    runs code from the file."""
    return with_uncertainty(load_model(path, device=device, dtype=dtype), read_model_file(path), path)

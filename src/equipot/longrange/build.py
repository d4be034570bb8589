"""Potentials from a `ModelConfig`: the local model alone, or with its long-range part; and
model files of long-range potentials (plain data, like `equipot.models.save_model`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from ..config import ModelConfig
from ..models.devices import checked_device
from ..models.io import ModelFileError, model_payload, read_model_file
from ..models.potential import EquivariantPotential
from ..atomic_files import atomic_write
from .coulomb import CoulombEnergy
from .potential import LongRangePotential

__all__ = ["build_potential", "load_long_range_model", "save_long_range_model"]


def build_potential(config: ModelConfig, dtype: torch.dtype = torch.float32) -> EquivariantPotential | LongRangePotential:
    """The potential ``config`` describes: an `EquivariantPotential`, wrapped in a
    `LongRangePotential` when ``config.long_range`` is set."""
    local = EquivariantPotential(config, dtype=dtype)
    settings = config.long_range
    if settings is None:
        return local
    coulomb = CoulombEnergy(
        method=settings.method,
        screening=settings.screening,
        sigma=settings.sigma,
        kappa=settings.kappa,
        accuracy=settings.accuracy,
        real_space_cutoff=settings.real_space_cutoff,
    )
    return LongRangePotential(local, charges=settings.charges, coulomb=coulomb)


def save_long_range_model(model: LongRangePotential, path: str | os.PathLike, metadata: dict[str, Any] | None = None) -> Path:
    """Write ``model`` atomically: the local model's payload (`model_payload`, its config
    holding the ``long_range`` section) plus the charge head's weights, all plain data."""
    if model.local.config.long_range is None:
        raise ValueError(
            "this LongRangePotential was assembled by hand; build it with build_potential(config) from a config "
            "with a long_range section so that its file can be rebuilt"
        )
    payload = model_payload(model.local, metadata)
    payload["model"] = "LongRangePotential"
    payload["charge_head"] = {k: v.detach().cpu() for k, v in model.charge_head.state_dict().items()}
    return atomic_write(Path(path), lambda stream: torch.save(payload, stream))


def load_long_range_model(
    path: str | os.PathLike, device: str | torch.device = "cpu", dtype: torch.dtype | None = None
) -> LongRangePotential:
    """Rebuild a model written by `save_long_range_model`, in eval mode, without running
    code from the file (``torch.load(weights_only=True)``)."""
    device = checked_device(device)
    payload = read_model_file(path)
    if payload.get("model") != "LongRangePotential":
        raise ModelFileError(f"{path} holds a {payload.get('model')}, not a LongRangePotential; load it with equipot.load_model")
    config = ModelConfig.model_validate(payload["config"])
    model = build_potential(config, dtype=getattr(torch, payload.get("dtype", "float32")))
    assert isinstance(model, LongRangePotential)
    try:
        model.local.load_learned_state(payload["state_dict"])
        model.charge_head.load_state_dict(payload["charge_head"])
    except RuntimeError as error:
        raise ModelFileError(f"{path}: weights do not match the stored config: {error}") from error
    model.metadata = payload.get("metadata", {})  # type: ignore[assignment]
    if dtype is not None and dtype != model.dtype:
        model = model.converted(dtype)
    return model.to(device=device).eval()

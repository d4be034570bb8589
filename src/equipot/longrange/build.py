"""Potentials from a `ModelConfig`: the local model alone, or with its long-range part; and
model files of long-range potentials (plain data, like `equipot.models.save_model`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from ..config import ModelConfig
from ..models.devices import checked_device
from ..models.io import ModelFileError, read_model_file, save_model
from ..models.potential import EquivariantPotential
from .potential import LongRangePotential
from .reference_charges import coulomb_energy_of

__all__ = ["build_potential", "load_long_range_model", "long_range_from_payload", "save_long_range_model"]


def build_potential(config: ModelConfig, dtype: torch.dtype = torch.float32) -> EquivariantPotential | LongRangePotential:
    """The potential ``config`` describes: an `EquivariantPotential`, wrapped in a
    `LongRangePotential` when ``config.long_range`` is set."""
    local = EquivariantPotential(config, dtype=dtype)
    settings = config.long_range
    if settings is None:
        return local
    return LongRangePotential(
        local, charges=settings.charges, coulomb=coulomb_energy_of(settings), fixed_charges=settings.fixed_charges
    )


def save_long_range_model(model: LongRangePotential, path: str | os.PathLike, metadata: dict[str, Any] | None = None) -> Path:
    """Write ``model`` atomically (`equipot.save_model`, which takes any potential with a
    model file): the local model's payload plus the charge head's weights, all plain data."""
    return save_model(model, path, metadata)


def long_range_from_payload(payload: dict[str, Any], path: str) -> LongRangePotential:
    """The `LongRangePotential` of a model-file payload (plain data: config, weights), in its
    stored dtype, on the CPU; `equipot.load_potential` calls it for files of this kind."""
    config = ModelConfig.model_validate(payload["config"])
    if config.long_range is None:
        raise ModelFileError(f"{path} holds a LongRangePotential whose config has no long_range section")
    model = build_potential(config, dtype=getattr(torch, payload.get("dtype", "float32")))
    assert isinstance(model, LongRangePotential)
    try:
        model.local.load_learned_state(payload["state_dict"])
        model.charge_head.load_state_dict(_with_zero_baseline(model, payload["charge_head"]))
    except (KeyError, RuntimeError) as error:
        raise ModelFileError(f"{path}: weights do not match the stored config: {error}") from error
    model.metadata = payload.get("metadata", {})
    return model.eval()


def _with_zero_baseline(model: LongRangePotential, state: dict[str, Any]) -> dict[str, Any]:
    """``state`` with ``element_baseline`` at zero where a file written before the charge
    head had one lacks it (those heads computed exactly that)."""
    baseline = model.charge_head.element_baseline
    if baseline is None or "element_baseline" in state:
        return state
    return {**state, "element_baseline": torch.zeros_like(baseline)}


def load_long_range_model(
    path: str | os.PathLike, device: str | torch.device = "cpu", dtype: torch.dtype | None = None
) -> LongRangePotential:
    """The `LongRangePotential` stored in ``path`` (raises `ModelFileError` for another kind;
    `equipot.load_potential` reads every kind). Loading never runs code from the file."""
    device = checked_device(device)
    payload = read_model_file(path)
    kind = payload.get("model", "EquivariantPotential")
    if kind != "LongRangePotential":
        raise ModelFileError(f"{path} holds a {kind}, not a LongRangePotential; load it with equipot.load_potential")
    model = long_range_from_payload(payload, str(path))
    if dtype is not None and dtype != model.dtype:
        model = model.converted(dtype)
    return model.to(device=device).eval()

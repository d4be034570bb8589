"""Committee files: the members' model payloads in one ``.pt``, read without running code.

A committee file is ``torch.save`` of a dict of plain data: a header, each member's model
payload (`equipot.models.io.model_payload`: config, weights, dtype, metadata) and the
committee's own metadata. It loads with ``torch.load(weights_only=True)``, like a model
file. `load_potential` reads either kind, so every command that takes ``model.pt`` takes
``committee.pt`` too.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from .._version import __version__
from ..atomic_files import atomic_write
from ..models import EquivariantPotential
from ..models.devices import checked_device
from ..models.io import FORMAT as MODEL_FORMAT
from ..models.io import ModelFileError, model_from_payload, model_payload
from .committee import Committee
from .io import load_uncertainty_model

__all__ = ["COMMITTEE_FORMAT", "load_committee", "load_potential", "save_committee"]

COMMITTEE_FORMAT = "equipot-committee"
FORMAT_VERSION = 1


def save_committee(committee: Committee, path: str | os.PathLike, metadata: dict[str, Any] | None = None) -> Path:
    """Write ``committee`` (whose members are `EquivariantPotential`s) to ``path``
    atomically. ``metadata`` (JSON-like) is stored alongside, e.g. the members' run folders."""
    members = list(committee.members)
    for index, member in enumerate(members):
        if not isinstance(member, EquivariantPotential):
            raise TypeError(
                f"save_committee stores EquivariantPotential members; member {index} is a {type(member).__name__}"
            )
    payload = {
        "format": COMMITTEE_FORMAT,
        "format_version": FORMAT_VERSION,
        "equipot_version": __version__,
        "members": [model_payload(member, getattr(member, "metadata", None)) for member in members],
        "metadata": metadata or {},
    }
    return atomic_write(Path(path), lambda stream: torch.save(payload, stream))


def _read_payload(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ModelFileError(f"model file {path} does not exist")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several types for corrupt or unsafe files
        raise ModelFileError(
            f"{path} is not a readable equipot model or committee file ({type(error).__name__}: {error}). "
            "Files are loaded without executing code; re-save with equipot.save_model or save_committee"
        ) from error
    if not isinstance(payload, dict) or payload.get("format") not in (MODEL_FORMAT, COMMITTEE_FORMAT):
        raise ModelFileError(f"{path} is neither an equipot model nor a committee file (no equipot header)")
    return payload


def load_committee(
    path: str | os.PathLike, device: str | torch.device = "cpu", dtype: torch.dtype | None = None
) -> Committee:
    """The `Committee` stored in ``path`` (see `save_committee`), in eval mode, on
    ``device``, in ``dtype`` (default: as stored). Loading never runs code from the file."""
    path = Path(path)
    device = checked_device(device)
    payload = _read_payload(path)
    if payload["format"] != COMMITTEE_FORMAT:
        raise ModelFileError(f"{path} is a single model file, not a committee; load it with equipot.load_model")
    if payload.get("format_version", 0) > FORMAT_VERSION:
        raise ModelFileError(
            f"{path} was written by a newer equipot (committee format {payload['format_version']}); upgrade equipot"
        )
    members = []
    for index, member_payload in enumerate(payload["members"]):
        model = model_from_payload(member_payload, f"{path} (member {index})")
        if dtype is not None and dtype != model.dtype:
            model = model.converted(dtype)
        members.append(model.to(device=device))
    committee = Committee(members).eval()
    committee.metadata = payload.get("metadata", {})  # type: ignore[assignment]
    return committee


def load_potential(
    path: str | os.PathLike, device: str | torch.device = "cpu", dtype: torch.dtype | None = None
) -> EquivariantPotential | Committee:
    """A model file (`load_uncertainty_model`: the model, wrapped in an
    `UncertaintyPotential` if the file carries estimators) or a committee file
    (`load_committee`), whichever ``path`` holds. A ``.pt2`` export is refused, as by `load_model`."""
    if Path(path).suffix != ".pt2" and Path(path).is_file():
        payload = _read_payload(Path(path))
        if payload["format"] == COMMITTEE_FORMAT:
            return load_committee(path, device=device, dtype=dtype)
    return load_uncertainty_model(path, device=device, dtype=dtype)

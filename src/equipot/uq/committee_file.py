"""Committee files: the members' model payloads in one ``.pt``, read without running code.

A committee file is ``torch.save`` of a dict of plain data: a header, each member's model
payload (`equipot.models.io.model_payload`: config, weights, dtype, metadata), the
committee's own metadata and its calibration (``{"scales": {name: float}, "on": str}``,
`calibrate_committee`; format version 2). It loads with ``torch.load(weights_only=True)``, like a model
file. `equipot.load_potential` reads either kind, so every command that takes ``model.pt``
takes ``committee.pt`` too.
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
from ..models.io import ModelFileError, model_from_payload, model_payload, read_plain_data
from .committee import Committee

__all__ = ["COMMITTEE_FORMAT", "committee_from_payload", "load_committee", "save_committee"]

COMMITTEE_FORMAT = "equipot-committee"
FORMAT_VERSION = 2  # 2: the calibration entry


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
        "calibration": {"scales": dict(committee.scales), "on": committee.calibrated_on},
    }
    return atomic_write(Path(path), lambda stream: torch.save(payload, stream))


def committee_from_payload(payload: dict[str, Any], path: str | os.PathLike) -> Committee:
    """The `Committee` of a committee-file payload (plain data), in its stored dtype, on
    the CPU, in eval mode."""
    if payload.get("format_version", 0) > FORMAT_VERSION:
        raise ModelFileError(
            f"{path} was written by a newer equipot (committee format {payload['format_version']}); upgrade equipot"
        )
    members = [
        model_from_payload(member_payload, f"{path} (member {index})")
        for index, member_payload in enumerate(payload["members"])
    ]
    calibration = payload.get("calibration") or {}
    committee = Committee(members, calibration.get("scales"), calibration.get("on")).eval()
    committee.metadata = payload.get("metadata", {})  # type: ignore[assignment]
    return committee


def load_committee(
    path: str | os.PathLike, device: str | torch.device = "cpu", dtype: torch.dtype | None = None
) -> Committee:
    """The `Committee` stored in ``path`` (see `save_committee`), in eval mode, on
    ``device``, in ``dtype`` (default: as stored). Loading never runs code from the file."""
    device = checked_device(device)
    payload = read_plain_data(path, what="model or committee file")
    header = payload.get("format") if isinstance(payload, dict) else None
    if header == MODEL_FORMAT:
        raise ModelFileError(f"{path} is a single model file, not a committee; load it with equipot.load_potential")
    if header != COMMITTEE_FORMAT:
        raise ModelFileError(f"{path} is neither an equipot model nor a committee file (no equipot header)")
    committee = committee_from_payload(payload, path)
    if dtype is not None and dtype != committee.dtype:
        committee = committee.converted(dtype)
    return committee.to(device=device).eval()

"""`load_potential`: any equipot potential file, whatever potential it holds, read as
plain data (``torch.load(weights_only=True)``: no code from the file ever runs).

| file | written by | loads as |
| --- | --- | --- |
| model file | `equipot.save_model`, ``equipot train`` | `EquivariantPotential` |
| model file, ``"model": "LongRangePotential"`` | ``equipot train`` with ``model.long_range`` | `equipot.longrange.LongRangePotential` |
| model file with an ``"uncertainty"`` entry | ``equipot uncertainty fit`` | `equipot.uq.UncertaintyPotential` |
| committee file | ``equipot train --committee N`` | `equipot.uq.Committee` |

Each of ``models/``, ``longrange/`` and ``uq/`` reads its own kind; this module sits above
them (beside the calculator) and picks by the file's header, so the calculator and every
command take any of these files. A ``.pt2`` export (machine code) is refused here as by
`equipot.load_model`; it loads only through `equipot.inference.load_exported`.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from .longrange.build import long_range_from_payload
from .models.devices import checked_device
from .models.io import FORMAT as MODEL_FORMAT
from .models.io import FORMAT_VERSION as MODEL_FORMAT_VERSION
from .models.io import ModelFileError, model_from_payload, read_plain_data
from .models.protocol import Potential
from .uq.committee_file import COMMITTEE_FORMAT, committee_from_payload
from .uq.io import with_uncertainty

__all__ = ["load_potential"]


def load_potential(
    path: str | os.PathLike, device: str | torch.device = "cpu", dtype: torch.dtype | None = None
) -> Potential:
    """The potential stored in the ``.pt`` file ``path`` (see the module table), in eval
    mode, on ``device``, in ``dtype`` (default: as stored). Raises `ModelFileError` (a
    ValueError) for a missing, unreadable or unknown file and for a ``.pt2`` export."""
    device = checked_device(device)
    path = Path(path)
    if path.suffix == ".pt2":
        raise ModelFileError(
            f"{path} is an exported model (.pt2), which holds machine code that runs when loaded; "
            "load_potential reads .pt files only. Load an export you trust with equipot.inference.load_exported(path)"
        )
    payload = read_plain_data(path, what="model or committee file")
    header = payload.get("format") if isinstance(payload, dict) else None
    if header == COMMITTEE_FORMAT:
        potential: Potential = committee_from_payload(payload, path)
    elif header == MODEL_FORMAT:
        potential = _model_from_payload(payload, path)
    else:
        raise ModelFileError(f"{path} is neither an equipot model nor a committee file (no equipot header)")
    if dtype is not None and dtype != potential.dtype:
        potential = potential.converted(dtype)  # type: ignore[attr-defined]
    return potential.to(device=device).eval()  # type: ignore[attr-defined]


def _model_from_payload(payload: dict, path: Path) -> Potential:
    if payload.get("format_version", 0) > MODEL_FORMAT_VERSION:
        raise ModelFileError(
            f"{path} was written by a newer equipot (file format {payload['format_version']}); upgrade equipot"
        )
    kind = payload.get("model", "EquivariantPotential")
    if kind == "LongRangePotential":
        return long_range_from_payload(payload, str(path))
    if kind == "EquivariantPotential":
        return with_uncertainty(model_from_payload(payload, path), payload, path)
    raise ModelFileError(
        f"{path} holds a model of kind {kind!r}, which this equipot cannot rebuild "
        "(it knows EquivariantPotential and LongRangePotential); upgrade equipot"
    )

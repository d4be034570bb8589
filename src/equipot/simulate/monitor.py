"""`UncertaintyMonitor`: watch a simulation's uncertainty and act when the model extrapolates.

Attach it to any ASE dynamics or optimizer (``dynamics.attach(monitor)``, or
``run_md(..., monitor=monitor)``). After each step it reads what the calculator computed
with the forces (an `UncertaintyPotential` or a committee declares them, and
`EquipotCalculator` returns them by name): ``extrapolating``, ``energy_std``,
``forces_std``, ``max_descriptor_distance``. A step is **flagged** when the model's
``extrapolating`` flag is 1, or when the largest ``forces_std`` (else ``energy_std``)
exceeds ``max_uncertainty``. A flagged frame is appended to ``frames_file``; with
``on_extrapolation="stop"`` the run ends with `ExtrapolationError`, with ``"warn"`` a
warning is issued (once per flagged step) and the run goes on. ``summary()`` reports the
largest uncertainties seen.
"""

from __future__ import annotations

import math
import os
import warnings
from pathlib import Path

import numpy as np
from ase import Atoms

__all__ = ["ExtrapolationError", "ExtrapolationWarning", "UNCERTAINTY_RESULTS", "UncertaintyMonitor"]

#: calculator results the monitor reads (any it finds)
UNCERTAINTY_RESULTS = ("extrapolating", "energy_std", "forces_std", "max_descriptor_distance", "max_mahalanobis_distance")


class ExtrapolationError(RuntimeError):
    """The model extrapolates (``on_extrapolation="stop"``); the frame was written out."""


class ExtrapolationWarning(UserWarning):
    """The model extrapolates (``on_extrapolation="warn"``)."""


class UncertaintyMonitor:
    """An ASE observer of the uncertainty outputs of ``atoms.calc`` (module docstring).

    Args:
        atoms: the structure the dynamics moves (its calculator must declare uncertainty
            outputs: ValueError otherwise).
        max_uncertainty: flag a step whose largest ``forces_std`` (eV/Å; ``energy_std`` in
            eV if the model gives no force uncertainty) exceeds this; None: only the
            model's ``extrapolating`` flag counts.
        on_extrapolation: ``"warn"`` or ``"stop"``.
        frames_file: where flagged frames are appended (extxyz); None: not written.
    """

    def __init__(
        self,
        atoms: Atoms,
        max_uncertainty: float | None = None,
        on_extrapolation: str = "warn",
        frames_file: str | os.PathLike | None = "extrapolating_frames.xyz",
    ):
        if on_extrapolation not in ("warn", "stop"):
            raise ValueError(f"on_extrapolation must be 'warn' or 'stop', got {on_extrapolation!r}")
        if max_uncertainty is not None and not (math.isfinite(max_uncertainty) and max_uncertainty > 0):
            raise ValueError(f"max_uncertainty must be a positive number (eV/Å), got {max_uncertainty}")
        provided = set(getattr(atoms.calc, "implemented_properties", ()))
        specs = getattr(atoms.calc, "heads", {})
        # an output computed only on request (e.g. a costly one an extension declares) is read only
        # when a threshold needs it
        self.names = [
            name
            for name in UNCERTAINTY_RESULTS
            if name in provided and (max_uncertainty is not None or not getattr(specs.get(name), "on_request", False))
        ]
        if not self.names:
            raise ValueError(
                "the model gives no uncertainty (no energy_std, forces_std or extrapolating output); "
                "attach estimators with `equipot uncertainty fit model.pt train.xyz -o model_uq.pt` or use a committee"
            )
        if max_uncertainty is None and "extrapolating" not in self.names:
            raise ValueError(
                "this model has no extrapolation threshold (no descriptor distances); give --max-uncertainty (eV/Å)"
            )
        self.atoms = atoms
        self.max_uncertainty = max_uncertainty
        self.on_extrapolation = on_extrapolation
        self.frames_file = Path(frames_file) if frames_file is not None else None
        self.steps_seen = 0
        self.flagged_steps: list[int] = []
        self.flagged: list[str] = []  # the label of each flagged check ("step 3", "band step 2, image 4")
        self.largest: dict[str, float] = {}

    def _values(self) -> dict[str, float]:
        calc = self.atoms.calc
        # by name: an output declared on_request is computed
        # only when asked; the others come with the forces of this configuration
        return {name: float(np.max(calc.get_property(name, self.atoms))) for name in self.names}  # type: ignore[union-attr]

    def _reason(self, values: dict[str, float]) -> str | None:
        if values.get("extrapolating", 0.0) > 0.5:
            return f"max descriptor distance {values.get('max_descriptor_distance', float('nan')):.4g} above the training threshold"
        if self.max_uncertainty is not None:
            name = "forces_std" if "forces_std" in values else "energy_std"
            if name in values and values[name] > self.max_uncertainty:
                return f"{name} {values[name]:.4g} above --max-uncertainty {self.max_uncertainty:g}"
        return None

    def __call__(self) -> None:
        self._check(None)

    def observe(self, atoms: Atoms, label: str | None = None) -> None:
        """Check ``atoms`` (its own calculator) instead of the structure given at construction.

        For workflows over several structures: the images of a NEB band, the displaced
        supercells of a phonon calculation. ``label`` names the check in messages (e.g.
        ``"band step 3, image 2"``; default ``"step N"``); a flagged ``atoms`` is the frame
        written out.
        """
        self.atoms = atoms
        self._check(label)

    def _check(self, label: str | None) -> None:
        values = self._values()
        for name, value in values.items():
            self.largest[name] = max(self.largest.get(name, -math.inf), value)
        step = self.steps_seen
        self.steps_seen += 1
        reason = self._reason(values)
        if reason is None:
            return
        self.flagged_steps.append(step)
        label = label if label is not None else f"step {step}"
        self.flagged.append(label)
        written = ""
        if self.frames_file is not None:
            from ase.io import write  # ase.io loads on first use (start-up time)

            self.frames_file.parent.mkdir(parents=True, exist_ok=True)
            write(self.frames_file, self.atoms, format="extxyz", append=True)
            written = f"; frame written to {self.frames_file}"
        message = f"the model extrapolates at {label}: {reason}{written}"
        if self.on_extrapolation == "stop":
            raise ExtrapolationError(f"{message}; run stopped (--on-extrapolation stop)")
        warnings.warn(message, ExtrapolationWarning, stacklevel=2)

    def summary(self) -> dict[str, object]:
        """JSON-safe: the largest value of each uncertainty seen, the flagged steps."""
        return {
            "max_seen": dict(self.largest),
            "flagged_steps": list(self.flagged_steps),
            "flagged": list(self.flagged),
            "steps_checked": self.steps_seen,
            "max_uncertainty": self.max_uncertainty,
            "on_extrapolation": self.on_extrapolation,
        }

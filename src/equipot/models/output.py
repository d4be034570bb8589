"""`ModelOutput`: what a model returns."""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import Tensor

__all__ = ["ModelOutput", "OUTPUT_NAMES"]

OUTPUT_NAMES = frozenset({"energy", "atomic_energies", "forces", "stress", "virial"})


@dataclass
class ModelOutput:
    """Outputs of a potential for a batch of structures.

    - ``energy`` [n_graphs], eV
    - ``atomic_energies`` [n_atoms], eV (sum over a structure's atoms = its energy)
    - ``forces`` [n_atoms, 3], eV/Å, ``-dE/dr``
    - ``virial`` [n_graphs, 3, 3], eV, ``dE/d(strain)`` (symmetric)
    - ``stress`` [n_graphs, 3, 3], eV/Å³, ``virial / volume`` (ASE's sign); zeros for a
      structure without a 3D cell, where stress is undefined
    - ``extra``: outputs of additional heads, by name
    """

    energy: Tensor
    atomic_energies: Tensor
    forces: Tensor | None = None
    virial: Tensor | None = None
    stress: Tensor | None = None
    extra: dict[str, Tensor] = field(default_factory=dict)

"""Dataset statistics that set a model's normalization: isolated-atom energies (E0) fitted
by least squares, the mean residual energy per atom (shift), the force RMS (scale) and
the average number of neighbors (message normalization)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
import torch

from .graph import AtomicGraph

__all__ = ["DatasetStatistics", "compute_statistics"]

N_ELEMENTS = 119  # atomic numbers 0..118
RIDGE = 1e-8  # relative ridge of the E0 fit: keeps collinear or unseen elements finite


@dataclass
class DatasetStatistics:
    """Normalization constants of a dataset (units: eV, Å).

    - ``atomic_energies``: Z -> E0 (eV), fitted as ``E ≈ sum_Z n_Z E0_Z`` over the
      structures with an energy, or given; elements never seen with an energy get 0.
    - ``mean_residual_energy_per_atom``: mean over structures of
      ``(E - sum_Z n_Z E0_Z) / n_atoms`` (eV/atom); None without energies.
    - ``force_rms``: root mean square of all force components (eV/Å); None without forces.
    - ``avg_num_neighbors``: edges per atom, averaged over all atoms.
    - ``atomic_numbers``: sorted atomic numbers present in the data.
    - ``n_structures``: number of structures seen.
    """

    atomic_energies: dict[int, float]
    mean_residual_energy_per_atom: float | None
    force_rms: float | None
    avg_num_neighbors: float
    atomic_numbers: list[int]
    n_structures: int

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict (atomic-energy keys as strings) for model files."""
        data = asdict(self)
        data["atomic_energies"] = {str(z): float(e) for z, e in self.atomic_energies.items()}
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DatasetStatistics:
        """Inverse of `to_dict`; unknown or missing fields raise ValueError."""
        names = {f.name for f in fields(cls)}
        if set(data) != names:
            raise ValueError(
                f"DatasetStatistics.from_dict: unknown fields {sorted(set(data) - names)}, "
                f"missing fields {sorted(names - set(data))}"
            )
        optional = ("mean_residual_energy_per_atom", "force_rms")
        return cls(
            atomic_energies={int(z): float(e) for z, e in data["atomic_energies"].items()},
            **{name: None if data[name] is None else float(data[name]) for name in optional},
            avg_num_neighbors=float(data["avg_num_neighbors"]),
            atomic_numbers=[int(z) for z in data["atomic_numbers"]],
            n_structures=int(data["n_structures"]),
        )


def compute_statistics(
    graphs: Iterable[AtomicGraph], atomic_energies: dict[int, float] | None = None
) -> DatasetStatistics:
    """Statistics of ``graphs`` (one-structure graphs or batches), in one pass.

    Energies are read from ``graph_targets["energy"]`` [n_graphs] (eV) and forces from
    ``atom_targets["forces"]`` [n_atoms, 3] (eV/Å). ``atomic_energies`` (Z -> eV) fixes
    the E0 of the elements it names; the others are fitted to what remains of the energy.
    """
    counts_with_energy: list[np.ndarray] = []  # [n_graphs, N_ELEMENTS] element counts
    energies: list[np.ndarray] = []
    seen = np.zeros(N_ELEMENTS, dtype=bool)
    n_structures = n_atoms = n_edges = n_force_components = 0
    force_square_sum = 0.0
    for graph in graphs:
        numbers = graph.atomic_numbers.cpu()
        counts = torch.bincount(
            graph.batch.cpu() * N_ELEMENTS + numbers, minlength=graph.n_graphs * N_ELEMENTS
        ).reshape(graph.n_graphs, N_ELEMENTS).numpy()
        seen |= counts.sum(axis=0) > 0
        n_structures += graph.n_graphs
        n_atoms += graph.n_atoms
        n_edges += graph.n_edges
        if "energy" in graph.graph_targets:
            counts_with_energy.append(counts)
            energies.append(graph.graph_targets["energy"].detach().cpu().double().numpy().reshape(-1))
        if "forces" in graph.atom_targets:
            forces = graph.atom_targets["forces"].detach().cpu().double()
            force_square_sum += float((forces**2).sum())
            n_force_components += forces.numel()
    if n_structures == 0:
        raise ValueError("compute_statistics: no structures given")

    fitted, mean_residual = _fit_atomic_energies(counts_with_energy, energies, seen, atomic_energies or {})
    return DatasetStatistics(
        atomic_energies=fitted,
        mean_residual_energy_per_atom=mean_residual,
        force_rms=float(np.sqrt(force_square_sum / n_force_components)) if n_force_components else None,
        avg_num_neighbors=n_edges / n_atoms if n_atoms else 0.0,
        atomic_numbers=np.flatnonzero(seen).tolist(),
        n_structures=n_structures,
    )


def _fit_atomic_energies(
    counts: list[np.ndarray], energies: list[np.ndarray], seen: np.ndarray, given: dict[int, float]
) -> tuple[dict[int, float], float | None]:
    """E0 per element by ridge-stabilized least squares, and the mean residual per atom."""
    fixed = np.zeros(N_ELEMENTS)
    is_given = np.zeros(N_ELEMENTS, dtype=bool)
    for z, energy in given.items():
        fixed[int(z)], is_given[int(z)] = float(energy), True
    e0 = fixed.copy()
    if counts:
        n = np.concatenate(counts).astype(np.float64)  # [n_structures, N_ELEMENTS]
        target = np.concatenate(energies) - n @ fixed
        free = np.flatnonzero((n.sum(axis=0) > 0) & ~is_given)  # others keep 0 or the given E0
        if free.size:
            design = n[:, free]
            # ridge as extra rows: sqrt(lambda) * I against zeros, lambda relative to the data
            ridge = np.sqrt(RIDGE * max(float((design**2).sum()) / free.size, 1.0))
            design = np.vstack([design, ridge * np.eye(free.size)])
            rhs = np.concatenate([target, np.zeros(free.size)])
            e0[free] = np.linalg.lstsq(design, rhs, rcond=None)[0]
        n_atoms = n.sum(axis=1)
        has_atoms = n_atoms > 0
        residual = (np.concatenate(energies) - n @ e0)[has_atoms] / n_atoms[has_atoms]
        mean_residual = float(residual.mean()) if residual.size else None
    else:
        mean_residual = None
    keep = seen | is_given
    return {int(z): float(e0[z]) for z in np.flatnonzero(keep)}, mean_residual

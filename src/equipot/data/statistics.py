"""Dataset statistics that set a model's normalization: isolated-atom energies (E0) fitted
by least squares, the mean residual energy per atom (shift), the force RMS (scale) and
the average number of neighbors (message normalization).

E0 is determined by the data only if the compositions of the structures span every
element (rank of the composition matrix = number of elements). A dataset of one molecule
(every structure C2H6O) does not: any E0 with ``2 E0_C + 6 E0_H + E0_O`` equal to the
mean energy fits equally well. Then the undetermined part is set by the mean energy per
atom shared equally (`MEAN_ENERGY_PER_ATOM`), an `AtomicEnergiesWarning` names the
elements that cannot be separated, and the source is recorded; give isolated-atom
energies (``atomic_energies`` in the training config) for a meaningful baseline."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from typing import Any

import warnings

import numpy as np
import torch
from ase.data import chemical_symbols

from .graph import AtomicGraph

__all__ = ["AtomicEnergiesWarning", "DatasetStatistics", "compute_statistics"]

N_ELEMENTS = 119  # atomic numbers 0..118
RIDGE = 1e-8  # relative ridge of the E0 fit: keeps nearly collinear compositions finite

#: values of `DatasetStatistics.atomic_energies_source`
CONFIG, LEAST_SQUARES, MEAN_ENERGY_PER_ATOM, NO_ENERGIES = "config", "least_squares", "mean_energy_per_atom", "none"


class AtomicEnergiesWarning(UserWarning):
    """The training energies do not determine the reference energy E0 of every element."""


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
    - ``atomic_energies_source``: where E0 came from: ``"config"`` (all given),
      ``"least_squares"`` (fitted, determined by the data), ``"config+least_squares"``
      (some given, the rest fitted), ``"mean_energy_per_atom"`` (the data cannot separate
      the elements: the fallback of `compute_statistics`) or ``"none"`` (no energies: 0).
    """

    atomic_energies: dict[int, float]
    mean_residual_energy_per_atom: float | None
    force_rms: float | None
    avg_num_neighbors: float
    atomic_numbers: list[int]
    n_structures: int
    atomic_energies_source: str = LEAST_SQUARES

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict (atomic-energy keys as strings) for model files."""
        data = asdict(self)
        data["atomic_energies"] = {str(z): float(e) for z, e in self.atomic_energies.items()}
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DatasetStatistics:
        """Inverse of `to_dict`; unknown or missing fields raise ValueError (files written
        before ``atomic_energies_source`` existed read as ``"least_squares"``)."""
        names = {f.name for f in fields(cls)}
        data = {"atomic_energies_source": LEAST_SQUARES, **data}
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
            atomic_energies_source=str(data["atomic_energies_source"]),
        )


def compute_statistics(
    graphs: Iterable[AtomicGraph], atomic_energies: dict[int, float] | None = None
) -> DatasetStatistics:
    """Statistics of ``graphs`` (one-structure graphs or batches), in one pass.

    Energies are read from ``graph_targets["energy"]`` [n_graphs] (eV) and forces from
    ``atom_targets["forces"]`` [n_atoms, 3] (eV/Å). ``atomic_energies`` (Z -> eV) fixes
    the E0 of the elements it names; the others are fitted to what remains of the energy.

    When the compositions do not determine the E0 of the fitted elements (e.g. every
    structure is the same molecule), E0 is the least-squares solution closest to the mean
    energy per atom shared equally by those elements, and an `AtomicEnergiesWarning` names
    them; with ``atomic_energies`` given for some elements, elements the data cannot
    separate are an error (ValueError) instead: the caller wants reference energies.
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

    fitted, mean_residual, source = _fit_atomic_energies(counts_with_energy, energies, seen, atomic_energies or {})
    return DatasetStatistics(
        atomic_energies=fitted,
        mean_residual_energy_per_atom=mean_residual,
        force_rms=float(np.sqrt(force_square_sum / n_force_components)) if n_force_components else None,
        avg_num_neighbors=n_edges / n_atoms if n_atoms else 0.0,
        atomic_numbers=np.flatnonzero(seen).tolist(),
        n_structures=n_structures,
        atomic_energies_source=source,
    )


def _fit_atomic_energies(
    counts: list[np.ndarray], energies: list[np.ndarray], seen: np.ndarray, given: dict[int, float]
) -> tuple[dict[int, float], float | None, str]:
    """E0 per element by ridge-stabilized least squares, the mean residual per atom, and
    the source of E0 (see `DatasetStatistics.atomic_energies_source`)."""
    fixed = np.zeros(N_ELEMENTS)
    is_given = np.zeros(N_ELEMENTS, dtype=bool)
    for z, energy in given.items():
        fixed[int(z)], is_given[int(z)] = float(energy), True
    e0 = fixed.copy()
    source = CONFIG if given else NO_ENERGIES
    mean_residual = None
    if counts:
        n = np.concatenate(counts).astype(np.float64)  # [n_structures, N_ELEMENTS]
        target = np.concatenate(energies) - n @ fixed
        free = np.flatnonzero((n.sum(axis=0) > 0) & ~is_given)  # others keep 0 or the given E0
        if free.size:
            e0[free], source = _fit_free(n[:, free], target, [int(z) for z in free], sorted(given))
        n_atoms = n.sum(axis=1)
        has_atoms = n_atoms > 0
        residual = (np.concatenate(energies) - n @ e0)[has_atoms] / n_atoms[has_atoms]
        mean_residual = float(residual.mean()) if residual.size else None
    keep = seen | is_given
    return {int(z): float(e0[z]) for z in np.flatnonzero(keep)}, mean_residual, source


def _fit_free(design: np.ndarray, target: np.ndarray, elements: list[int], given: list[int]) -> tuple[np.ndarray, str]:
    """E0 of ``elements`` from counts ``design`` [n_structures, n_free] and energies
    ``target`` [n_structures] (eV, given E0 already subtracted).

    Fits ``E0 = m + x``, with ``m`` the mean energy per atom and ``x`` the ridge
    (minimum-norm) least-squares solution of ``design @ x = target - m n_atoms``. With
    compositions that span the elements this is plain least squares; otherwise the
    undetermined directions are set so that E0 stays as close as possible to equal
    shares of the mean energy per atom, instead of to zero (which would split the energy
    in proportion to the counts of one molecule: 6:2:1 for the H, C, O of ethanol).
    """
    inseparable = _inseparable(design, elements)
    symbols = [chemical_symbols[z] for z in inseparable]
    if inseparable and given:
        named = ", ".join(chemical_symbols[z] for z in given)
        raise ValueError(
            f"atomic_energies gives {named} but not {', '.join(symbols)}, whose reference energies the "
            f"training energies cannot separate (their counts in the structures are proportional); add "
            f"{', '.join(symbols)} to atomic_energies (isolated-atom energies in eV)"
        )
    atoms = design.sum(axis=1)
    baseline = float(target[atoms > 0].sum() / atoms.sum()) if inseparable else 0.0
    shifted = target - baseline * atoms
    # ridge as extra rows: sqrt(lambda) * I against zeros, lambda relative to the data
    ridge = np.sqrt(RIDGE * max(float((design**2).sum()) / design.shape[1], 1.0))
    stacked = np.vstack([design, ridge * np.eye(design.shape[1])])
    rhs = np.concatenate([shifted, np.zeros(design.shape[1])])
    e0 = baseline + np.linalg.lstsq(stacked, rhs, rcond=None)[0]
    if not inseparable:
        return e0, CONFIG + "+" + LEAST_SQUARES if given else LEAST_SQUARES
    warnings.warn(
        f"the training energies cannot separate the reference energies (E0) of {', '.join(symbols)}: "
        f"their counts are proportional in every structure (composition matrix of rank "
        f"{np.linalg.matrix_rank(design)} for {len(elements)} elements), so any split of the energy fits "
        f"equally well. E0 is set to the mean energy per atom shared equally ({baseline:.4f} eV) within "
        "the least-squares solutions; predictions for other compositions inherit this arbitrary "
        "baseline. Give isolated-atom energies in the training config, "
        "e.g. atomic_energies: {" + ", ".join(f"{s}: ..." for s in symbols) + "} (eV)",
        AtomicEnergiesWarning,
        stacklevel=4,
    )
    return e0, MEAN_ENERGY_PER_ATOM


def _inseparable(design: np.ndarray, elements: list[int]) -> list[int]:
    """Elements whose E0 the counts ``design`` [n_structures, n_elements] do not
    determine: those with a component in the null space of the composition matrix."""
    _, singular, vt = np.linalg.svd(design, full_matrices=True)
    tolerance = singular.max(initial=0.0) * max(design.shape) * np.finfo(np.float64).eps
    rank = int((singular > tolerance).sum())
    null_space = vt[rank:]  # [n_elements - rank, n_elements]
    if not null_space.size:
        return []
    return [z for z, weight in zip(elements, np.abs(null_space).max(axis=0)) if weight > 1e-8]

"""Conversion of `ase.Atoms` (with their labels) into an `AtomicGraph`."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from ase import Atoms
from ase.stress import voigt_6_to_full_3x3_stress

from .graph import AtomicGraph
from .neighbors import NeighborList

__all__ = [
    "LabelKeys",
    "MissingLabelError",
    "NonFiniteLabelError",
    "atoms_from_graph",
    "graph_from_atoms",
    "read_label",
]


class MissingLabelError(KeyError):
    """A structure lacks a label that was asked for."""

    def __str__(self) -> str:  # KeyError quotes its message; we want it plain
        return str(self.args[0])


class NonFiniteLabelError(ValueError):
    """A label (energy, forces, stress, ...) holds NaN or infinite values."""


@dataclass(frozen=True)
class LabelKeys:
    """Where the labels of a structure are found.

    Each key is looked up in ``atoms.calc.results`` (where ASE's readers put ``energy``,
    ``forces``, ``stress``), then ``atoms.info`` (per structure) or ``atoms.arrays`` (per atom).
    ``None`` means the label is not read. ``graph_extra`` and ``atom_extra`` map a target
    name to a file key for further labels (dipoles, charges, ...).
    """

    energy: str | None = "energy"
    forces: str | None = "forces"
    stress: str | None = "stress"
    graph_extra: dict[str, str] = field(default_factory=dict)
    atom_extra: dict[str, str] = field(default_factory=dict)

    def graph_keys(self) -> dict[str, str]:
        keys = {"energy": self.energy, "stress": self.stress, **self.graph_extra}
        return {name: key for name, key in keys.items() if key is not None}

    def atom_keys(self) -> dict[str, str]:
        keys = {"forces": self.forces, **self.atom_extra}
        return {name: key for name, key in keys.items() if key is not None}


def read_label(atoms: Atoms, key: str, per_atom: bool) -> np.ndarray | None:
    """The label ``key`` of ``atoms`` as a new float64 array, or None where it is absent."""
    results = getattr(atoms.calc, "results", None) or {}
    if key in results:
        value = results[key]
    elif not per_atom and key in atoms.info:
        value = atoms.info[key]
    elif per_atom and key in atoms.arrays:
        value = atoms.arrays[key]
    else:
        return None
    # a copy: targets must not alias (possibly read-only) arrays of the Atoms or its calculator
    return np.array(value, dtype=np.float64)


def check_finite_label(value: np.ndarray, target: str, key: str, per_atom: bool, name: str | None = None) -> None:
    """Raise `NonFiniteLabelError` naming ``name`` (e.g. ``"structure 17 of train.xyz"``),
    the label and, for a per-atom label, the atoms, when ``value`` holds NaN or infinities.

    Such a label would only show later as a NaN loss; refusing it when the data are read
    points at the frame to fix."""
    finite = np.isfinite(value)
    if finite.all():
        return
    what = "NaN" if np.isnan(value).any() else "infinite values"
    where = ""
    if per_atom and value.ndim >= 1:
        bad = np.flatnonzero(~finite.reshape(value.shape[0], -1).all(axis=1))
        more = ", ..." if len(bad) > 10 else ""
        where = f" (atom {bad[0]})" if len(bad) == 1 else f" (atoms {bad[:10].tolist()}{more})"
    label = target if key == target else f"{target} (key {key!r})"
    raise NonFiniteLabelError(
        f"{name or 'structure'}: {label} contains {what}{where}; fix or remove the structure"
    )


def _target_tensor(name: str, value: np.ndarray, dtype: torch.dtype) -> torch.Tensor:
    if name == "stress":
        value = value.reshape(-1)
        value = voigt_6_to_full_3x3_stress(value) if value.size == 6 else value.reshape(3, 3)
    return torch.as_tensor(value, dtype=dtype)


def graph_from_atoms(
    atoms: Atoms,
    cutoff: float,
    keys: LabelKeys | None = None,
    require: tuple[str, ...] = (),
    dtype: torch.dtype = torch.float64,
    name: str | None = None,
    neighbor_list: NeighborList | None = None,
) -> AtomicGraph:
    """Build a one-structure `AtomicGraph` from ``atoms``.

    ``keys`` says where labels are read (None reads none); the target names in
    ``require`` must be present or `MissingLabelError` is raised, naming ``name``
    (e.g. ``"structure 12 of train.xyz"``); a label read with NaN or infinite values
    raises `NonFiniteLabelError`, and non-finite positions or cell `StructureError`.
    Stress is stored as a 3x3 matrix in eV/Å³.
    """
    neighbor_list = neighbor_list or NeighborList(cutoff)
    positions = atoms.get_positions()
    cell = np.asarray(atoms.get_cell(), dtype=np.float64)
    pbc = np.asarray(atoms.get_pbc(), dtype=bool)
    receivers, senders, shifts = neighbor_list(positions, cell, pbc, name=name)

    graph_targets: dict[str, torch.Tensor] = {}
    atom_targets: dict[str, torch.Tensor] = {}
    if keys is not None:
        for target, key in keys.graph_keys().items():
            value = read_label(atoms, key, per_atom=False)
            if value is not None:
                check_finite_label(value, target, key, per_atom=False, name=name)
                graph_targets[target] = _target_tensor(target, value, dtype).unsqueeze(0)
        for target, key in keys.atom_keys().items():
            value = read_label(atoms, key, per_atom=True)
            if value is not None:
                check_finite_label(value, target, key, per_atom=True, name=name)
                atom_targets[target] = _target_tensor(target, value, dtype)
        for target in require:
            if target not in graph_targets and target not in atom_targets:
                key = {**keys.graph_keys(), **keys.atom_keys()}.get(target, target)
                where = name or "structure"
                available = sorted(
                    set(atoms.info) | set(atoms.arrays) | set(getattr(atoms.calc, "results", {}) or {})
                )
                raise MissingLabelError(
                    f"{where}: label {target!r} (key {key!r}) is missing; keys present: "
                    f"{available}. Set the right key in the config or drop the structure"
                )
    return AtomicGraph(
        positions=torch.as_tensor(positions, dtype=dtype),
        atomic_numbers=torch.as_tensor(atoms.numbers, dtype=torch.long),
        cell=torch.as_tensor(cell, dtype=dtype).unsqueeze(0),
        pbc=torch.as_tensor(pbc).unsqueeze(0),
        senders=torch.as_tensor(senders),
        receivers=torch.as_tensor(receivers),
        cell_shifts=torch.as_tensor(shifts, dtype=dtype),
        batch=torch.zeros(len(atoms), dtype=torch.long),
        cutoff=float(cutoff),
        total_charge=torch.tensor([float(atoms.info.get("charge", 0.0))], dtype=dtype),
        graph_targets=graph_targets,
        atom_targets=atom_targets,
    )


def atoms_from_graph(graph: AtomicGraph) -> Atoms:
    """The structure of a one-structure graph as `ase.Atoms` (positions, elements, cell, pbc)."""
    if graph.n_graphs != 1:
        raise ValueError(f"atoms_from_graph needs a single structure, got a batch of {graph.n_graphs}")
    return Atoms(
        numbers=graph.atomic_numbers.cpu().numpy(),
        positions=graph.positions.detach().cpu().double().numpy(),
        cell=graph.cell[0].detach().cpu().double().numpy(),
        pbc=graph.pbc[0].cpu().numpy(),
    )

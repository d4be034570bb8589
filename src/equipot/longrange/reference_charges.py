"""The normalization of a hybrid trained on reference charges.

A `LongRangePotential` learns ``E_ref - E_coulomb`` with its local part. When the data
carry reference charges (a ``charges`` loss target), the Coulomb energy of those charges is
known before training, so the local part's reference energies (E0) and mean energy per
atom (``shift``) are fitted to ``E_ref - E_coulomb(q_ref)`` instead of ``E_ref``: the local
part then starts near what it has to learn rather than having to cancel the whole Madelung
energy (about 4.5 eV/atom in NaCl) with features that differ between structures. With
``charges: fixed`` the charges are known for every structure, so the same is done with them,
with or without a charges target.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

import torch

from ..config.longrange import LongRangeConfig
from ..data import AtomicGraph
from ..nn.scatter import scatter_sum
from .charges import fixed_charges_of
from .coulomb import CoulombEnergy

__all__ = ["coulomb_energy_of", "energies_without_reference_coulomb"]


def coulomb_energy_of(settings: LongRangeConfig) -> CoulombEnergy:
    """The `CoulombEnergy` a ``long_range`` config section describes."""
    return CoulombEnergy(
        method=settings.method,
        screening=settings.screening,
        sigma=settings.sigma,
        kappa=settings.kappa,
        accuracy=settings.accuracy,
        real_space_cutoff=settings.real_space_cutoff,
    )


def energies_without_reference_coulomb(
    graphs: Iterable[AtomicGraph], coulomb: CoulombEnergy, name: str = "charges", fixed_charges: dict[str, float] | None = None
) -> list[AtomicGraph]:
    """Copies of ``graphs`` whose ``energy`` target [n_graphs] (eV) has the Coulomb energy of
    their reference charges (``atom_targets[name]`` [n_atoms], e) subtracted, computed in
    float64 without gradients; graphs without an energy or without those charges are
    returned unchanged. With ``fixed_charges`` (symbol -> e, the ``fixed`` scheme) those
    charges, corrected to each structure's total charge, are used instead of the targets."""
    result = []
    for graph in graphs:
        if "energy" not in graph.graph_targets or (fixed_charges is None and name not in graph.atom_targets):
            result.append(graph)
            continue
        if fixed_charges is not None:
            charges = fixed_charges_of(graph, fixed_charges)
        else:
            charges = graph.atom_targets[name].detach().double().reshape(-1)
        with torch.no_grad():
            per_atom, _ = coulomb(charges, graph.positions.detach().double(), graph.cell.detach().double(), graph.pbc, graph.batch)
        energy = graph.graph_targets["energy"]
        electrostatic = scatter_sum(per_atom, graph.batch, graph.n_graphs).to(energy.dtype)
        result.append(replace(graph, graph_targets={**graph.graph_targets, "energy": energy - electrostatic}))
    return result

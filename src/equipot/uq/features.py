"""Invariant features of a trained model: what uncertainty estimates and downstream ML use.

Two kinds of per-atom features come out of one pass through an `EquivariantPotential`:

- **descriptors** [n_atoms, C]: the even-scalar (``0e``) channels of the final node
  features, invariant under rotations, reflections, translations and permutations of
  identical atoms by construction (they are the ``l = 0``, even-parity irreps);
- **last-layer features** [n_atoms, K]: the inputs of every final linear map of the
  readouts, times the model's ``scale``, so that the atomic energy is exactly
  ``E_i = phi_i . w + shift + E0[Z_i]`` with ``w`` [K] the concatenated readout weights
  (K = ``num_channels * (num_layers - 1) + readout_hidden``).

`invariant_features` gives the descriptors as numpy arrays for downstream ML.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from ase import Atoms
from torch import Tensor

from ..data import AtomicGraph, batch_graphs, graph_from_atoms
from ..models import EquivariantPotential

__all__ = ["ModelFeatures", "base_model", "invariant_features", "model_features", "readout_weights"]


@dataclass
class ModelFeatures:
    """Per-atom quantities of one pass (see the module docstring)."""

    atomic_energies: Tensor  # [n_atoms], eV
    last_layer: Tensor  # [n_atoms, K], eV per unit weight
    descriptors: Tensor  # [n_atoms, C]
    node_features: Tensor  # [n_atoms, C, layout.dim], for the model's heads


def base_model(potential: object) -> EquivariantPotential:
    """The `EquivariantPotential` inside ``potential`` (itself, or the ``model`` a wrapper
    holds); TypeError otherwise."""
    inner = potential
    while not isinstance(inner, EquivariantPotential) and hasattr(inner, "model"):
        inner = inner.model  # type: ignore[attr-defined]
    if not isinstance(inner, EquivariantPotential):
        raise TypeError(
            f"features come from an EquivariantPotential (or a wrapper of one), got {type(potential).__name__}; "
            "load a model file with equipot.load_model"
        )
    return inner


def readout_weights(model: EquivariantPotential) -> Tensor:
    """[K] the concatenated weights of the readouts' final linear maps."""
    return torch.cat([readout.last_layer_weight for readout in model.readouts])


def model_features(
    model: EquivariantPotential, graph: AtomicGraph, positions: Tensor, cell: Tensor, first_order_only: bool = False
) -> ModelFeatures:
    """Atomic energies, last-layer features and descriptors of ``graph`` at (possibly
    strained) ``positions`` [n_atoms, 3] and ``cell`` [n_graphs, 3, 3], in one pass that
    follows `EquivariantPotential.energies_and_features` (the energies agree with it to
    rounding; tests/uq/test_features.py checks this)."""
    species = model.species_of(graph)
    edges = model.edge_context(graph, positions, cell, first_order_only)
    features = model.embedding(species).unsqueeze(-1)
    inputs = []
    for block, readout in zip(model.blocks, model.readouts):
        features = block(features, species, edges)
        inputs.append(readout.last_layer_inputs(features))
    last_layer = model.scale * torch.cat(inputs, dim=-1)
    energies = last_layer @ readout_weights(model) + model.shift + model.atomic_energies.index_select(0, species)
    if model.density_readout is not None:  # part of the energy, not of the last-layer features
        energies = energies + model.scale * model.density_readout(species, edges)
    offset = model.readouts[-1].offset
    return ModelFeatures(energies, last_layer, features[:, :, offset], features)


def _graphs(model: EquivariantPotential, structures: Atoms | AtomicGraph | Sequence[Atoms | AtomicGraph]) -> list[AtomicGraph]:
    items = [structures] if isinstance(structures, (Atoms, AtomicGraph)) else list(structures)
    if not items:
        raise ValueError("invariant_features needs at least one structure, got none")
    graphs = []
    for index, item in enumerate(items):
        if isinstance(item, Atoms):
            graphs.append(graph_from_atoms(item, model.cutoff, dtype=model.dtype))
        elif isinstance(item, AtomicGraph):
            graphs.append(item)
        else:
            raise TypeError(f"structure {index} is a {type(item).__name__}; pass ase.Atoms or AtomicGraph objects")
    return graphs


def invariant_features(
    model: object,
    structures: Atoms | AtomicGraph | Sequence[Atoms | AtomicGraph],
    reduce: str = "mean",
    batch_size: int = 32,
) -> tuple[np.ndarray, np.ndarray]:
    """Invariant features of ``structures`` for downstream ML.

    Args:
        model: an `EquivariantPotential` or a wrapper of one (e.g. `UncertaintyPotential`).
        structures: ``ase.Atoms``, an `AtomicGraph`, or a list of either (a batched graph
            counts as its structures).
        reduce: ``"mean"`` (default: comparable across sizes) or ``"sum"`` (extensive) over
            each structure's atoms.
        batch_size: graphs per forward pass.

    Returns:
        ``(per_atom [n_atoms, C], per_structure [n_graphs, C])`` float64 numpy arrays: the
        even-scalar (``0e``) channels of the final node features, atoms in input order.

        >>> per_atom, per_structure = invariant_features(model, read("data.xyz", ":"))  # doctest: +SKIP
    """
    if reduce not in ("mean", "sum"):
        raise ValueError(f"reduce must be 'mean' or 'sum', got {reduce!r}")
    network = base_model(model)
    graphs = _graphs(network, structures)
    per_atom, per_structure = [], []
    with torch.no_grad():
        for start in range(0, len(graphs), batch_size):
            graph = batch_graphs(graphs[start : start + batch_size]).to(device=network.device, dtype=network.dtype)
            descriptors = model_features(network, graph, graph.positions, graph.cell, first_order_only=True).descriptors
            summed = descriptors.new_zeros(graph.n_graphs, descriptors.shape[1]).index_add(0, graph.batch, descriptors)
            if reduce == "mean":
                counts = torch.bincount(graph.batch, minlength=graph.n_graphs).clamp(min=1)
                summed = summed / counts[:, None].to(summed.dtype)
            per_atom.append(descriptors.cpu().double().numpy())
            per_structure.append(summed.cpu().double().numpy())
    return np.concatenate(per_atom), np.concatenate(per_structure)

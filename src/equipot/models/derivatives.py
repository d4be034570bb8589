"""Forces and stress as derivatives of an energy function, by automatic differentiation."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from ..data import AtomicGraph, apply_strain
from .output import OUTPUT_NAMES, ModelOutput

__all__ = [
    "AtomicEnergyFunction",
    "derive_outputs",
    "energies_and_gradients",
    "hessian_vector_products",
    "outputs_from_gradients",
]

#: ``(graph, positions [n_atoms, 3], cell [n_graphs, 3, 3]) -> atomic energies [n_atoms]``
AtomicEnergyFunction = Callable[[AtomicGraph, Tensor, Tensor], Tensor]

_MIN_VOLUME = 1e-12  # Å³; below this a structure has no 3D cell and no stress


def derive_outputs(
    atomic_energy_fn: AtomicEnergyFunction,
    graph: AtomicGraph,
    outputs: set[str] | frozenset[str],
    create_graph: bool,
) -> ModelOutput:
    """Evaluate ``atomic_energy_fn`` and the derivatives named in ``outputs``.

    Forces are ``-dE/dr``. Stress uses the strain trick: positions and cells are deformed
    by ``(I + eps)`` with ``eps = 0`` requiring grad, so one backward pass gives forces and
    the virial ``dE/d eps``; stress is ``virial / volume``. ``create_graph=True`` keeps the
    graph of the derivatives (for training on forces, or for Hessians). If
    ``graph.positions`` already requires grad it is used as is, so callers can
    differentiate the forces again.
    """
    unknown = set(outputs) - OUTPUT_NAMES
    if unknown:
        raise ValueError(f"unknown outputs {sorted(unknown)}; choose from {sorted(OUTPUT_NAMES)}")
    want_forces = "forces" in outputs
    want_virial = "stress" in outputs or "virial" in outputs
    differentiate = want_forces or want_virial

    if not differentiate:  # energy alone runs in the caller's grad mode (training on energies)
        return outputs_from_gradients(graph, outputs, atomic_energy_fn(graph, graph.positions, graph.cell))
    with torch.enable_grad():
        return outputs_from_gradients(graph, outputs, *energies_and_gradients(atomic_energy_fn, graph, want_virial, create_graph))


def energies_and_gradients(
    atomic_energy_fn: AtomicEnergyFunction, graph: AtomicGraph, want_virial: bool, create_graph: bool
) -> tuple[Tensor, Tensor, Tensor | None]:
    """Atomic energies [n_atoms] (eV), ``dE/dpositions`` [n_atoms, 3] (eV/Å) and, if
    ``want_virial``, ``dE/dstrain`` [n_graphs, 3, 3] (eV; else None), by one backward pass
    through the strain trick of `derive_outputs`. Call with grad enabled."""
    positions, cell = graph.positions, graph.cell
    if not positions.requires_grad:
        positions = positions.detach().requires_grad_(True)
    strained_positions, strained_cell = positions, cell
    inputs = [positions]
    if want_virial:
        strain = torch.zeros_like(cell, requires_grad=True)
        strained_positions, strained_cell = apply_strain(positions, cell, graph.batch, strain)
        inputs.append(strain)
    atomic_energies = atomic_energy_fn(graph, strained_positions, strained_cell)
    gradients = torch.autograd.grad(atomic_energies.sum(), inputs, create_graph=create_graph, allow_unused=True)
    gradients = [torch.zeros_like(x) if g is None else g for g, x in zip(gradients, inputs)]
    return atomic_energies, gradients[0], gradients[1] if want_virial else None


def cell_volumes(cell: Tensor) -> Tensor:
    """[n_graphs] volumes (Å³) of cells [n_graphs, 3, 3] (rows are cell vectors): the
    triple product, written out so that it compiles to a few fused multiplications."""
    a, b, c = cell[:, 0], cell[:, 1], cell[:, 2]
    b_cross_c = torch.stack(
        (b[:, 1] * c[:, 2] - b[:, 2] * c[:, 1], b[:, 2] * c[:, 0] - b[:, 0] * c[:, 2], b[:, 0] * c[:, 1] - b[:, 1] * c[:, 0]),
        dim=-1,
    )
    return (a * b_cross_c).sum(-1).abs()


def outputs_from_gradients(
    graph: AtomicGraph,
    outputs: set[str] | frozenset[str],
    atomic_energies: Tensor,
    position_gradient: Tensor | None = None,
    strain_gradient: Tensor | None = None,
) -> ModelOutput:
    """The energies and the forces, virial and stress named in ``outputs``, from atomic
    energies [n_atoms] (eV), ``dE/dpositions`` [n_atoms, 3] (eV/Å; for forces) and
    ``dE/dstrain`` [n_graphs, 3, 3] (eV; for stress or virial)."""
    # graph.cell.shape[0], not graph.n_graphs: a symbolic trace keeps it a symbol
    energy = atomic_energies.new_zeros(graph.cell.shape[0]).index_add(0, graph.batch, atomic_energies)
    result = ModelOutput(energy=energy, atomic_energies=atomic_energies)
    if "forces" in outputs:
        assert position_gradient is not None, "forces need dE/dpositions"
        result.forces = -position_gradient
    if "stress" in outputs or "virial" in outputs:
        assert strain_gradient is not None, "stress needs dE/dstrain"
        virial = 0.5 * (strain_gradient + strain_gradient.transpose(1, 2))
        volume = cell_volumes(graph.cell)
        has_cell = volume > _MIN_VOLUME
        safe_volume = torch.where(has_cell, volume, torch.ones_like(volume))
        result.virial = virial
        result.stress = torch.where(has_cell[:, None, None], virial / safe_volume[:, None, None], 0.0)
    return result


def hessian_vector_products(forces: Tensor, positions: Tensor, probes: Tensor, create_graph: bool) -> Tensor:
    """Hessian-vector products ``H v`` [n_atoms, 3, K] (eV/Å² per unit of ``v``) by double
    backward: ``H v = -d(F . v)/dr`` for each of the K probe vectors.

    ``forces`` [n_atoms, 3] (eV/Å) must have been computed with ``create_graph=True`` from
    ``positions`` [n_atoms, 3] that require grad (pass a graph whose positions require grad
    to the potential); ``probes`` [n_atoms, 3, K] are the vectors v (a batch of structures
    stacks its atoms, so memory is linear in atoms: H is never formed). Each probe costs one
    backward pass; ``create_graph=True`` keeps the graph to train on the products.
    """
    if probes.dim() != 3 or probes.shape[:2] != forces.shape:
        raise ValueError(f"probes must have shape [n_atoms, 3, K] = [{forces.shape[0]}, 3, K], got {tuple(probes.shape)}")
    products = []
    for k in range(probes.shape[2]):
        (gradient,) = torch.autograd.grad(
            (forces * probes[:, :, k]).sum(), positions, create_graph=create_graph, retain_graph=True, allow_unused=True
        )
        products.append(torch.zeros_like(positions) if gradient is None else -gradient)
    return torch.stack(products, dim=-1) if products else probes.new_zeros(probes.shape)

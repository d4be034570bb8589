"""The program LAMMPS runs: atomic energies and the gradient of the local energy with
respect to each edge vector, traced with its backward pass and compiled by AOTInductor.

LAMMPS owns the atoms, their periodic images (ghost atoms) and the neighbor list, so the
program takes edges, not positions and a cell: nothing periodic happens inside it, and
any cell LAMMPS supports (triclinic included) works. Its inputs:

- ``vectors`` [n_edges, 3] (Å): sender position minus receiver position, in LAMMPS's
  frame (ghosts are images, so no cell shifts);
- ``senders``, ``receivers`` [n_edges] (int64): indices into the atoms (local then ghost);
- ``species`` [n_atoms] (int64): the model's dense species index of each atom;
- ``local_weights`` [n_atoms]: 1 for atoms this MPI rank owns, 0 for ghosts;

and its outputs:

- ``atomic_energies`` [n_atoms] (eV; only the local entries are meaningful);
- ``edge_gradients`` [n_edges, 3] (eV/Å): ``dE_local/d vectors``, where
  ``E_local = sum(local_weights * atomic_energies)``.

The pair style assembles forces (``F_sender -= g``, ``F_receiver += g``), the virial
``-sum_e r_e (x) g_e`` and the per-atom virial (half to each end) from them.
"""

from __future__ import annotations

import torch
import torch.fx.experimental._config as fx_config
from torch import Tensor
from torch.fx.experimental.proxy_tensor import make_fx

from ..models import EquivariantPotential

__all__ = ["PROGRAM_NAME", "lammps_example_inputs", "lammps_exported_program", "lammps_outputs"]

#: the program's name inside the .pt2 (the pair style loads this one)
PROGRAM_NAME = "lammps"


def lammps_outputs(
    model: EquivariantPotential, vectors: Tensor, senders: Tensor, receivers: Tensor, species: Tensor, local_weights: Tensor
) -> tuple[Tensor, Tensor]:
    """``(atomic_energies [n_atoms] eV, edge_gradients [n_edges, 3] eV/Å)`` of the module
    docstring, computed eagerly with ``model`` (also the function that is traced)."""
    with torch.enable_grad():
        vectors = vectors.detach().requires_grad_(True)
        edges = model.edge_context_of_vectors(vectors, senders, receivers)
        atomic_energies = model.energies_from_edges(species, edges)[0]
        (edge_gradients,) = torch.autograd.grad((atomic_energies * local_weights).sum(), [vectors], allow_unused=True)
    if edge_gradients is None:  # a model whose energy ignores geometry (no layers reach the edges)
        edge_gradients = torch.zeros_like(vectors)
    return atomic_energies.detach(), edge_gradients


def lammps_example_inputs(model: EquivariantPotential) -> tuple[Tensor, ...]:
    """Inputs of the program for tracing: 5 atoms (3 local) and 7 edges, sizes that differ
    from each other and from 3 so that nothing is mistaken for a constant."""
    dtype, device = model.dtype, model.device
    generator = torch.Generator().manual_seed(0)
    vectors = (torch.rand(7, 3, generator=generator, dtype=torch.float64) - 0.5) * model.cutoff
    senders = torch.tensor([1, 2, 3, 4, 0, 2, 4])
    receivers = torch.tensor([0, 0, 1, 1, 2, 3, 4])
    species = torch.arange(5) % len(model.species)
    local_weights = torch.tensor([1.0, 1.0, 1.0, 0.0, 0.0])
    tensors = (vectors.to(dtype), senders, receivers, species, local_weights.to(dtype))
    return tuple(tensor.to(device) for tensor in tensors)


def lammps_exported_program(model: EquivariantPotential) -> torch.export.ExportedProgram:
    """The program of the module docstring for ``model`` (an inference copy: eval mode,
    parameters that do not require grad), traced with its backward pass, sizes symbolic."""
    inputs = lammps_example_inputs(model)

    def traced(*tensors: Tensor) -> tuple[Tensor, Tensor]:
        return lammps_outputs(model, *tensors)

    with fx_config.patch(use_duck_shape=False):
        graph = make_fx(traced, tracing_mode="symbolic", _allow_non_fake_inputs=True)(*inputs)
    graph.graph.eliminate_dead_code()
    graph.recompile()
    atoms, edges = torch.export.Dim("atoms", min=2), torch.export.Dim("edges", min=2)
    shapes = ({0: edges}, {0: edges}, {0: edges}, {0: atoms}, {0: atoms})
    with torch.no_grad():  # inductor freezes parameters only for graphs compiled without grad
        return torch.export.export(graph, inputs, dynamic_shapes=shapes, strict=False)

"""torch-pme's Ewald and PME calculators as `CoulombEnergy` runs them: the real-space sum
over a half neighbour list from vesin (`_half_pairs`), and PME on the mesh size its error
bound assumes (`smooth_mesh_size`) with the charges spread and read through flat mesh
indices. Private: `CoulombEnergy` and `pme_parameters` are the public face."""

from __future__ import annotations

import torch
import torchpme
import vesin
from torch import Tensor


def _next_smooth_integer(n: int) -> int:
    """The smallest integer >= ``n`` with no prime factor above 7 (sizes pocketfft, torch's CPU FFT, has kernels for)."""
    while True:
        rest = n
        for prime in (2, 3, 5, 7):
            while rest % prime == 0:
                rest //= prime
        if rest == 1:
            return n
        n += 1


def smooth_mesh_size(cell: Tensor, mesh_spacing: float) -> Tensor:
    """PME mesh points per axis [3] (int64) for ``mesh_spacing`` (Å): the ``2 |a_i| / h + 1``
    that torch-pme's PME error bound (`PMEErrorBounds.err_kspace`) assumes, rounded up to a
    7-smooth integer (no prime factor above 7). torch-pme itself rounds up to the next power of two
    (`torchpme.lib.kvectors.get_ns_mesh`): up to 8x more points than its bound asks for, by
    an amount that jumps with the box size, which made the cost per atom vary 5-fold between
    boxes (benchmarks/README.md)."""
    lengths = torch.linalg.norm(cell.detach(), dim=1)
    needed = torch.ceil(2 * lengths / mesh_spacing + 1).long().tolist()
    return torch.tensor([_next_smooth_integer(int(n)) for n in needed], dtype=torch.long, device=cell.device)


def _half_pairs(positions: Tensor, cell: Tensor, cutoff: float) -> tuple[Tensor, Tensor]:
    """Each pair of atoms closer than ``cutoff`` (Å), periodic images included, once (a half
    list: half the pairs, memory and work of a full one): ``[n_pairs, 2]`` indices (i, j)
    and distances [n_pairs] (Å, differentiable in ``positions`` and ``cell``). vesin runs on
    as many threads as torch (`torch.get_num_threads`), not on every core."""
    engine = vesin.NeighborList(cutoff=cutoff, full_list=False, n_threads=torch.get_num_threads())
    pairs, shifts = engine.compute(
        positions.detach().to("cpu", torch.float64), cell.detach().to("cpu", torch.float64), True, quantities="PS"
    )
    pairs = pairs.view(torch.int64).to(positions.device)  # vesin's indices are uint64
    vectors = positions.index_select(0, pairs[:, 1]) - positions.index_select(0, pairs[:, 0])
    vectors = vectors + shifts.to(dtype=positions.dtype, device=positions.device) @ cell
    return pairs, torch.linalg.norm(vectors, dim=-1)


def _half_pair_potential(charges: Tensor, pairs: Tensor, kernel: Tensor) -> Tensor:
    """``sum_j q_j v(r_ij)`` [n_atoms, n_channels] over a half list: each pair (i, j) of
    ``pairs`` [n_pairs, 2] once, with its ``kernel`` v(r_ij) [n_pairs] added to both atoms.
    ``index_select`` rather than ``charges[j]``: the backward of advanced indexing (an
    accumulating ``index_put``) was 2.6x slower on CPU than ``index_add``."""
    receivers, senders = pairs[:, 0], pairs[:, 1]
    kernel = kernel[:, None]
    potential = torch.zeros_like(charges).index_add(0, receivers, charges.index_select(0, senders) * kernel)
    return potential.index_add(0, senders, charges.index_select(0, receivers) * kernel)


class _HalfListRealSpace:
    """The real-space part of a torch-pme calculator over a half list (`_half_pairs`), by
    `_half_pair_potential`; like torch-pme's ``_compute_rspace``, half the potential."""

    potential: torchpme.CoulombPotential

    def _compute_rspace(
        self, charges: Tensor, neighbor_indices: Tensor, neighbor_distances: Tensor, pair_mask: Tensor | None = None
    ) -> Tensor:
        kernel = self.potential.sr_from_dist(neighbor_distances, pair_mask)
        return _half_pair_potential(charges, neighbor_indices, kernel) / 2


class _HalfListEwald(_HalfListRealSpace, torchpme.EwaldCalculator):
    """torch-pme's `EwaldCalculator` with the real space of `_HalfListRealSpace`."""


def _mesh_stencil(interpolator: torchpme.lib.MeshInterpolator, positions: Tensor, ns: Tensor) -> tuple[Tensor, Tensor]:
    """The p³ mesh points each atom spreads its charge to and reads its potential from:
    flat indices into the mesh of ``ns`` points per axis [p³ n_atoms] and the weights
    [p³, n_atoms] (differentiable in ``positions``), from torch-pme's interpolator. Spreading
    and reading through flat indices (``index_add``, ``index_select``) instead of torch-pme's
    ``index_put`` and advanced indexing on the 3-D mesh: their backward passes were the most
    expensive part of a PME call."""
    interpolator.compute_weights(positions)
    ny, nz = int(ns[1]), int(ns[2])
    nodes = (interpolator.x_indices * ny + interpolator.y_indices) * nz + interpolator.z_indices
    w = interpolator.interpolation_weights  # [p, n_atoms, 3], one factor per axis
    p = w.shape[0]
    weights = w[:, None, None, :, 0] * w[None, :, None, :, 1] * w[None, None, :, :, 2]  # node (a, b, c) = a p² + b p + c
    return nodes.reshape(-1), weights.reshape(p**3, -1)


class _SmoothMeshPME(_HalfListRealSpace, torchpme.PMECalculator):
    """torch-pme's `PMECalculator` on the mesh of `smooth_mesh_size` instead of the next power
    of two (its ``_compute_kspace`` with the mesh size changed and the charges spread and
    read through `_mesh_stencil`; torch-pme 0.5), with the real space of `_HalfListRealSpace`."""

    def _compute_kspace(
        self,
        charges: Tensor,
        cell: Tensor,
        positions: Tensor,
        periodic: Tensor | None = None,
        node_mask: Tensor | None = None,
        kvectors: Tensor | None = None,
    ) -> Tensor:
        if node_mask is not None or kvectors is not None:
            raise NotImplementedError("batching is not implemented for mesh-based calculators")
        ns = smooth_mesh_size(cell, self.mesh_spacing)
        self.mesh_interpolator.update(cell, ns)
        self.kspace_filter.update(cell, ns)
        nodes, weights = _mesh_stencil(self.mesh_interpolator, positions, ns)
        points = int(ns.prod())
        rho_mesh = torch.stack(
            [charges.new_zeros(points).index_add(0, nodes, (weights * q).reshape(-1)) for q in charges.T]
        ).reshape(-1, *ns.tolist())
        potential_mesh = self.kspace_filter.forward(rho_mesh).reshape(rho_mesh.shape[0], points)
        inverse_volume = torch.abs(cell.det()).pow(-1)
        at_nodes = [(mesh.index_select(0, nodes).reshape(weights.shape) * weights).sum(0) for mesh in potential_mesh]
        potential = torch.stack(at_nodes, dim=1) * inverse_volume
        potential -= charges * self.potential.self_contribution()
        # a charged cell: the uniform compensating background (x 2, halved below)
        potential -= 2 * self.potential.background_correction() * torch.sum(charges, dim=0) * inverse_volume
        potential += self.potential.pbc_correction(periodic, positions, cell, charges)
        return potential / 2  # pairs (i, j) and (j, i) both counted

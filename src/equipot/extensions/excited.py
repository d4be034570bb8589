"""Several coupled electronic states from a learned diabatic Hamiltonian.

A model predicts a symmetric ``n x n`` diabatic Hamiltonian ``H(r)`` per structure (eV)
from invariant features, so ``H`` is invariant under rotations, reflections and
translations. The adiabatic energies are its eigenvalues ``E_1 <= ... <= E_n``
(`torch.linalg.eigh`). Their gradients and the non-adiabatic couplings follow from the
gradient of ``H`` (Hellmann-Feynman), taken by autograd of the diabatic elements:

    dE_i/dr = <i| dH/dr |i>,        d_ij = <i| d/dr |j> = <i| dH/dr |j> / (E_j - E_i)

so the forces never differentiate eigenvectors and stay smooth up to a degeneracy; only
``d_ij`` itself diverges there (as it must at a conical intersection). The states' signs
are arbitrary, so ``d_ij`` is defined up to sign per structure; `sign_invariant_error`
compares couplings under that freedom.

`DiabaticHamiltonianModel` reads ``H`` from the invariant (``0e``) node features of an
`EquivariantPotential`: each element is a sum over atoms of a per-atom scalar readout.
`LinearVibronicReference` is an analytic two-state linear vibronic coupling model of a
bent triatomic A-B-C with a conical intersection, for reference data and tests.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from ase import Atoms
from torch import Tensor, nn

from equipot.data.atoms import graph_from_atoms
from equipot.data.batching import batch_graphs
from equipot.data.graph import AtomicGraph
from equipot.models.potential import EquivariantPotential
from equipot.nn.readout import _scalar_offset


def state_pairs(n_states: int) -> tuple[Tensor, Tensor]:
    """Indices ``(i, j)`` of the pairs ``i < j`` of ``n_states`` states (row-major order),
    the order of the couplings in `AdiabaticStates`."""
    rows, cols = torch.triu_indices(n_states, n_states, offset=1)
    return rows, cols


@dataclass
class AdiabaticStates:
    """Adiabatic quantities of a batch of ``n_graphs`` structures with ``n_atoms`` atoms
    in all and ``n`` states (``n_pairs = n (n - 1) / 2`` pairs ``i < j``, see `state_pairs`).

    - ``hamiltonian`` [n_graphs, n, n]: diabatic H (eV)
    - ``energies`` [n_graphs, n]: adiabatic energies, ascending (eV)
    - ``states`` [n_graphs, n, n]: eigenvectors as columns (each of arbitrary sign)
    - ``forces`` [n, n_atoms, 3]: ``-dE_i/dr`` (eV/Å)
    - ``coupling_vectors`` [n_pairs, n_atoms, 3]: ``<i|dH/dr|j>`` (eV/Å), finite at an
      intersection; a good training target
    - ``couplings`` [n_pairs, n_atoms, 3]: non-adiabatic couplings
      ``d_ij = <i|dH/dr|j> / (E_j - E_i)`` (1/Å)
    """

    hamiltonian: Tensor
    energies: Tensor
    states: Tensor
    forces: Tensor
    coupling_vectors: Tensor
    couplings: Tensor


def _check_hamiltonian(hamiltonian: Tensor, positions: Tensor, batch: Tensor) -> None:
    if hamiltonian.ndim != 3 or hamiltonian.shape[1] != hamiltonian.shape[2] or hamiltonian.shape[1] < 2:
        raise ValueError(
            f"hamiltonian must be [n_graphs, n, n] with at least 2 states; got {tuple(hamiltonian.shape)}"
        )
    if positions.ndim != 2 or positions.shape[1] != 3 or batch.shape != positions.shape[:1]:
        raise ValueError(
            f"positions must be [n_atoms, 3] and batch [n_atoms]; got {tuple(positions.shape)} and {tuple(batch.shape)}"
        )
    if not positions.requires_grad:
        raise ValueError("positions must require grad and the hamiltonian be computed from them (autograd gives dH/dr)")


def adiabatic_states(hamiltonian: Tensor, positions: Tensor, batch: Tensor, create_graph: bool = False) -> AdiabaticStates:
    """Energies, forces and couplings of the diabatic ``hamiltonian`` [n_graphs, n, n]
    (eV; symmetric, computed from ``positions`` [n_atoms, 3] (Å), which require grad)
    of structures indexed by ``batch`` [n_atoms]. ``dH/dr`` is taken by autograd, one
    backward pass per independent element; ``create_graph=True`` keeps the graph (training)."""
    _check_hamiltonian(hamiltonian, positions, batch)
    n = hamiltonian.shape[1]
    rows, cols = torch.triu_indices(n, n)
    gradient = positions.new_zeros(positions.shape[0], n, n, 3)
    for a, b in zip(rows.tolist(), cols.tolist()):
        (grad,) = torch.autograd.grad(
            hamiltonian[:, a, b].sum(), positions, retain_graph=True, create_graph=create_graph, allow_unused=True
        )
        if grad is not None:
            gradient[:, a, b] = grad
            gradient[:, b, a] = grad
    energies, states = torch.linalg.eigh(hamiltonian)
    per_atom = states[batch]  # [n_atoms, n, n]
    matrix = torch.einsum("nai,nabx,nbj->nijx", per_atom, gradient, per_atom)  # <i|dH/dr|j> per atom
    forces = -matrix.diagonal(dim1=1, dim2=2).permute(2, 0, 1)
    i, j = state_pairs(n)
    coupling_vectors = matrix[:, i, j].permute(1, 0, 2)
    gaps = (energies[:, j] - energies[:, i])[batch].T  # [n_pairs, n_atoms]
    couplings = coupling_vectors / gaps[..., None]
    if not create_graph:
        forces, coupling_vectors, couplings = forces.detach(), coupling_vectors.detach(), couplings.detach()
    return AdiabaticStates(hamiltonian, energies, states, forces, coupling_vectors, couplings)


def sign_invariant_error(predicted: Tensor, reference: Tensor, batch: Tensor, n_graphs: int) -> Tensor:
    """Squared error of couplings up to the arbitrary sign of the states:
    ``min(|p - r|^2, |p + r|^2)`` summed over each structure's atoms, per structure and
    pair, [n_pairs, n_graphs]. ``predicted``, ``reference``: [n_pairs, n_atoms, 3]."""
    if predicted.shape != reference.shape or predicted.ndim != 3 or predicted.shape[1] != batch.shape[0]:
        raise ValueError(
            f"predicted and reference must both be [n_pairs, n_atoms, 3] with n_atoms = len(batch) = {batch.shape[0]}; "
            f"got {tuple(predicted.shape)} and {tuple(reference.shape)}"
        )

    def per_structure(values: Tensor) -> Tensor:
        summed = values.new_zeros(values.shape[0], n_graphs)
        return summed.index_add(1, batch, values.pow(2).sum(-1))

    return torch.minimum(per_structure(predicted - reference), per_structure(predicted + reference))


class DiabaticHamiltonianModel(nn.Module):
    """A learned symmetric ``n_states x n_states`` diabatic Hamiltonian (eV) per structure.

    Each independent element ``H_ab`` (``a <= b``) is a sum over atoms of a per-atom
    scalar: a small MLP of the even-scalar (``0e``) final node features of ``backbone``
    (an `EquivariantPotential`; its own energy readouts are not used), times
    ``element_scale``, plus ``diagonal_shift`` on the diagonal. Invariant features make H
    invariant under rotations, reflections and translations, so the energies are
    invariant and forces and couplings rotate with the structure (couplings up to sign).

    ``forward(graph, create_graph=False) -> AdiabaticStates``.
    """

    def __init__(self, backbone: EquivariantPotential, n_states: int = 2, hidden: int = 16,
                 element_scale: float = 1.0, diagonal_shift: float = 0.0):
        super().__init__()
        if n_states < 2:
            raise ValueError(f"n_states must be at least 2 (coupled states), got {n_states}")
        self.backbone = backbone
        self.n_states = int(n_states)
        self.offset = _scalar_offset(backbone.layout_node)
        rows, cols = torch.triu_indices(n_states, n_states)
        self.register_buffer("rows", rows)
        self.register_buffer("cols", cols)
        channels = backbone.layout_node.channels
        dtype = backbone.dtype
        self.readout = nn.Sequential(
            nn.Linear(channels, hidden, dtype=dtype), nn.SiLU(), nn.Linear(hidden, len(rows), dtype=dtype)
        )
        self.species_bias = nn.Parameter(torch.zeros(len(backbone.species), len(rows), dtype=dtype))
        self.register_buffer("element_scale", torch.tensor(float(element_scale), dtype=dtype))
        self.register_buffer("diagonal_shift", torch.tensor(float(diagonal_shift), dtype=dtype))

    @property
    def cutoff(self) -> float:
        return self.backbone.cutoff

    @property
    def species(self) -> list[str]:
        return self.backbone.species

    @property
    def dtype(self) -> torch.dtype:
        return self.backbone.dtype

    def hamiltonian(self, graph: AtomicGraph, positions: Tensor) -> Tensor:
        """Diabatic H [n_graphs, n, n] (eV) of ``graph`` at ``positions`` [n_atoms, 3] (Å)."""
        if graph.cell.abs().sum() > 0 or bool(graph.pbc.any()):
            raise ValueError("DiabaticHamiltonianModel is for molecules: give graphs without a cell or periodicity")
        species = self.backbone.species_of(graph)
        _, features = self.backbone.energies_and_features(graph, positions, graph.cell, species=species)
        per_atom = self.readout(features[:, :, self.offset]) + self.species_bias[species]  # [n_atoms, n_elements]
        n_graphs = graph.cell.shape[0]
        elements = per_atom.new_zeros(n_graphs, per_atom.shape[1]).index_add(0, graph.batch, per_atom)
        elements = self.element_scale * elements + self.diagonal_shift * (self.rows == self.cols).to(elements.dtype)
        matrix = elements.new_zeros(n_graphs, self.n_states, self.n_states)
        matrix[:, self.rows, self.cols] = elements
        return matrix + matrix.triu(1).transpose(1, 2)

    def forward(self, graph: AtomicGraph, create_graph: bool = False) -> AdiabaticStates:
        graph = graph.to(dtype=self.dtype) if graph.positions.dtype != self.dtype else graph
        with torch.enable_grad():
            positions = graph.positions.detach().requires_grad_()
            return adiabatic_states(self.hamiltonian(graph, positions), positions, graph.batch, create_graph)


@dataclass(frozen=True)
class LinearVibronicReference:
    """Two-state linear vibronic coupling model of a bent triatomic A-B-C (eV, Å).

    Internal coordinates: the displacements ``q = (d_AB, d_BC, d_AC) - distances`` of the
    three distances from the reference geometry. With ``t = q_AB - q_BC`` (tuning mode)
    and ``c = q_AC`` (coupling mode),

        H = V0(q) 1 + [[-gap/2 - tuning t,  coupling c], [coupling c,  gap/2 + tuning t]],
        V0 = 1/2 sum_k force_constants_k q_k^2,

    so the two diabatic states cross where ``t = -gap / (2 tuning)`` and ``c = 0``: a seam
    of conical intersections (one line in the three internal coordinates). H depends on
    distances only, so it is invariant under rotations, reflections and translations.
    """

    symbols: tuple[str, str, str] = ("O", "C", "N")
    distances: tuple[float, float, float] = (1.2, 1.2, 2.0)  # d_AB, d_BC, d_AC at the reference, Å
    force_constants: tuple[float, float, float] = (20.0, 20.0, 8.0)  # eV/Å^2
    gap: float = 0.4  # eV, diabatic gap at the reference geometry
    tuning: float = 1.5  # eV/Å
    coupling: float = 0.8  # eV/Å

    @property
    def intersection_tuning(self) -> float:
        """The value of the tuning coordinate t (Å) on the intersection seam (c = 0)."""
        return -self.gap / (2 * self.tuning)

    def hamiltonian(self, positions: Tensor) -> Tensor:
        """Diabatic H [n_frames, 2, 2] (eV) of ``positions`` [n_frames, 3, 3] (Å; atoms A, B, C)."""
        if positions.ndim != 3 or positions.shape[1:] != (3, 3):
            raise ValueError(f"positions must be [n_frames, 3, 3] (atoms A, B, C); got {tuple(positions.shape)}")
        a, b, c = positions.unbind(1)
        d = torch.stack([(a - b).norm(dim=-1), (b - c).norm(dim=-1), (a - c).norm(dim=-1)], -1)
        q = d - d.new_tensor(self.distances)
        v0 = 0.5 * (d.new_tensor(self.force_constants) * q**2).sum(-1)
        t = q[:, 0] - q[:, 1]
        diagonal = self.gap / 2 + self.tuning * t
        off = self.coupling * q[:, 2]
        first = torch.stack([v0 - diagonal, off], -1)
        second = torch.stack([off, v0 + diagonal], -1)
        return torch.stack([first, second], 1)

    def states(self, positions: Tensor, create_graph: bool = False) -> AdiabaticStates:
        """`AdiabaticStates` of ``positions`` [n_frames, 3, 3] (Å); atoms flattened frame by frame."""
        with torch.enable_grad():
            flat = positions.detach().reshape(-1, 3).requires_grad_()
            batch = torch.arange(positions.shape[0]).repeat_interleave(3)
            return adiabatic_states(self.hamiltonian(flat.reshape(-1, 3, 3)), flat, batch, create_graph)


def triatomic_positions(d_ab: Tensor, d_bc: Tensor, d_ac: Tensor) -> Tensor:
    """Positions [n, 3, 3] (Å) of triangles A-B-C with the given distances [n] (B at the
    origin, A on x, C in the xy plane)."""
    cos = (d_ab**2 + d_bc**2 - d_ac**2) / (2 * d_ab * d_bc)
    if bool((cos.abs() > 1).any()):
        raise ValueError("the distances do not form a triangle (triangle inequality violated)")
    sin = (1 - cos**2).sqrt()
    zero = torch.zeros_like(d_ab)
    a = torch.stack([d_ab, zero, zero], -1)
    c = torch.stack([d_bc * cos, d_bc * sin, zero], -1)
    return torch.stack([a, torch.zeros_like(a), c], 1)


def random_rotations(n: int, generator: torch.Generator, dtype: torch.dtype = torch.float64) -> Tensor:
    """[n, 3, 3] uniformly random proper rotations (QR of Gaussian matrices)."""
    q, r = torch.linalg.qr(torch.randn(n, 3, 3, generator=generator, dtype=dtype))
    q = q * torch.sign(torch.diagonal(r, dim1=1, dim2=2))[:, None, :]
    return q * torch.sign(torch.linalg.det(q))[:, None, None]


def sample_vibronic_frames(
    reference: LinearVibronicReference, n_frames: int, near_intersection: float = 0.25, seed: int = 0,
    displacement: float = 0.06, dtype: torch.dtype = torch.float64,
) -> Tensor:
    """Positions [n_frames, 3, 3] (Å): the reference triangle with Gaussian displacements
    of ``displacement`` Å per atom and coordinate, and a fraction ``near_intersection`` of
    frames with distances within about 0.03 Å of the intersection point (t on the seam,
    c = 0); every frame randomly rotated and moved."""
    generator = torch.Generator().manual_seed(seed)
    d0 = torch.tensor(reference.distances, dtype=dtype)
    base = triatomic_positions(*d0[:, None])[0]
    n_near = int(round(near_intersection * n_frames))
    positions = base + displacement * torch.randn(n_frames, 3, 3, generator=generator, dtype=dtype)
    if n_near:
        t = reference.intersection_tuning
        target = d0 + torch.tensor([t / 2, -t / 2, 0.0], dtype=dtype)
        distances = target + 0.03 * torch.randn(n_near, 3, generator=generator, dtype=dtype)
        positions[:n_near] = triatomic_positions(*distances.T)
    positions = positions @ random_rotations(n_frames, generator, dtype).transpose(1, 2)
    positions = positions + torch.randn(n_frames, 1, 3, generator=generator, dtype=dtype)
    return positions[torch.randperm(n_frames, generator=generator)]


def molecule_graphs(positions: Tensor, numbers: list[int] | np.ndarray, cutoff: float) -> AtomicGraph:
    """One batched `AtomicGraph` of molecules with the same atoms ``numbers``:
    ``positions`` [n_frames, n_atoms, 3] (Å), no cell."""
    graphs = [graph_from_atoms(Atoms(numbers=numbers, positions=p), cutoff, dtype=positions.dtype)
              for p in positions.detach().cpu().numpy()]
    return batch_graphs(graphs)

"""Output heads: tensor properties read from the shared final node features.

Each head is built from a `HeadConfig` (stored in the model config, so saved models rebuild
their heads) and declares how its output transforms (`OutputSpec`), which the public
equivariance tests (`equipot.testing.assert_equivariant`) use to check it:

- `IrrepsHead`: any e3nn irreps, per atom ``[n_atoms, dim]`` or summed per structure
  ``[n_graphs, dim]``; e.g. ``0o`` (pseudoscalar: changes sign under a reflection);
- `CartesianHead`: a Cartesian tensor with index symmetries (``ij=ji`` polarizability,
  ``ijk=ikj`` piezoelectric, ``ijkl=jikl=klij`` elastic), ``[n, 3, ..., 3]``, computed as
  irreps times e3nn's change of basis, so the symmetries hold exactly;
- `DipoleHead`: ``mu = sum_i q_i (r_i - r_com) + sum_i p_i`` (e·Å) from atomic charges
  ``q_i`` (shifted so that they sum to the structure's total charge) and atomic dipoles
  ``p_i``, ``[n_graphs, 3]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from ase.data import atomic_masses
from torch import Tensor, nn

from ..config.heads import HeadConfig
from ..data import AtomicGraph
from ..nn.layout import IrrepsLayout
from ..nn.projection import IrrepsProjection
from ..nn.scatter import scatter_sum
from ..o3.cartesian import cartesian_change_of_basis, cartesian_rank
from ..o3.irreps import Irrep
from .irreps_flow import head_output_irreps

__all__ = ["CartesianHead", "DipoleHead", "HeadSet", "IrrepsHead", "OutputSpec", "PeriodicDipoleError", "build_head"]


class PeriodicDipoleError(ValueError):
    """A dipole was asked for a periodic structure, where it is not defined."""


@dataclass(frozen=True)
class OutputSpec:
    """How an output transforms, for tests and tools.

    ``irreps``: e3nn irreps of a flat output (``x' = D(R) x``), or None for Cartesian
    outputs of ``cartesian_rank`` indices (``T' = R ⊗ ... ⊗ R T``, times ``det R`` if
    ``pseudo``). ``per_atom`` outputs have a leading atom axis (they permute with the atoms).
    ``periodic``: whether the output is defined for periodic structures (a dipole head
    declared ``periodic: error`` is not; asked for one, it raises).
    ``on_request``: computed by the calculator only when asked for by name
    (``calc.get_property(name, atoms)``), for outputs that cost much more than the forces
    (e.g. the single-model ``forces_std_exact``); the others come with every calculation.
    """

    name: str
    per_atom: bool
    irreps: str | None = None
    cartesian_rank: int | None = None
    pseudo: bool = False
    unit: str = ""
    periodic: bool = True
    on_request: bool = False


#: the irreps the node features carry (`irreps_flow.check_heads`); None: all of the layout
Carried = set[Irrep] | None


def _projection(config: HeadConfig, layout: IrrepsLayout, parity: bool, available: Carried) -> IrrepsProjection:
    """The map from node features to the irreps the head predicts."""
    return IrrepsProjection(layout, head_output_irreps(config), parity, f"head {config.name!r}", available)


def _scale(config: HeadConfig) -> float:
    return float(config.scale if config.scale is not None else 1.0)


class IrrepsHead(nn.Module):
    """Declared irreps per atom, or their sum over each structure.

    ``features`` [n_atoms, C, layout.dim] -> [n_atoms, irreps.dim] or [n_graphs, irreps.dim].
    """

    def __init__(self, config: HeadConfig, layout: IrrepsLayout, parity: bool, available: Carried = None):
        super().__init__()
        self.config, self.scale = config, _scale(config)
        self.projection = _projection(config, layout, parity, available)

    def spec(self) -> OutputSpec:
        irreps = str(self.projection.irreps_out)
        return OutputSpec(self.config.name, self.config.per_atom, irreps=irreps, unit=self.config.resolved_unit)

    def forward(self, features: Tensor, graph: AtomicGraph, positions: Tensor) -> Tensor:
        values = self.scale * self.projection(features)
        return values if self.config.per_atom else scatter_sum(values, graph.batch, graph.n_graphs)


class CartesianHead(nn.Module):
    """A Cartesian tensor with the index symmetries of ``config.resolved_formula``.

    ``features`` [n_atoms, C, layout.dim] -> [n_atoms or n_graphs, 3, ..., 3]; the network
    predicts the irreps of the formula (e.g. 0e+2e for ``ij=ji``), and ``x @ Q`` maps them
    to the Cartesian tensor, symmetric by construction. ``pseudo`` heads predict the
    parity-flipped irreps (axial tensors).
    """

    def __init__(self, config: HeadConfig, layout: IrrepsLayout, parity: bool, available: Carried = None):
        super().__init__()
        formula = config.resolved_formula
        assert formula is not None
        self.config, self.scale, self.rank = config, _scale(config), cartesian_rank(formula)
        self.projection = _projection(config, layout, parity, available)
        basis = cartesian_change_of_basis(formula).to(torch.get_default_dtype())
        self.register_buffer("change_of_basis", basis.reshape(basis.shape[0], -1), persistent=False)

    def spec(self) -> OutputSpec:
        config = self.config
        return OutputSpec(config.name, config.per_atom, cartesian_rank=self.rank, pseudo=config.pseudo, unit=config.resolved_unit)

    def forward(self, features: Tensor, graph: AtomicGraph, positions: Tensor) -> Tensor:
        values = self.scale * self.projection(features) @ self.change_of_basis
        if not self.config.per_atom:
            values = scatter_sum(values, graph.batch, graph.n_graphs)
        return values.reshape(values.shape[0], *(3,) * self.rank)


class DipoleHead(nn.Module):
    """Dipole moment (e·Å) from atomic charges and atomic dipoles.

    ``q_i = s_i - (sum_{j in structure} s_j - Q) / n_atoms`` makes the charges of each
    structure sum to its total charge ``Q`` (``graph.total_charge``, e); the dipole is taken
    about the centre of mass, ``mu = sum_i q_i (r_i - r_com) + sum_i p_i``. For a neutral
    structure the result does not depend on the origin. Periodic structures raise
    `PeriodicDipoleError` unless ``periodic: sum`` (then the same sum over the atoms as
    placed in the cell, which is not the polarization: that is defined only modulo
    ``e R / V`` for lattice vectors R).

    ``features`` [n_atoms, C, layout.dim] -> [n_graphs, 3]; `charges` gives the q_i.
    """

    def __init__(self, config: HeadConfig, layout: IrrepsLayout, parity: bool, available: Carried = None):
        super().__init__()
        self.config, self.scale = config, _scale(config)
        self.projection = _projection(config, layout, parity, available)
        masses = torch.as_tensor(atomic_masses, dtype=torch.get_default_dtype())
        self.register_buffer("masses", masses, persistent=False)  # amu, by atomic number

    def spec(self) -> OutputSpec:
        return OutputSpec(
            self.config.name, False, cartesian_rank=1, unit=self.config.resolved_unit, periodic=self.config.periodic != "error"
        )

    def _charges_and_dipoles(self, features: Tensor, graph: AtomicGraph) -> tuple[Tensor, Tensor]:
        values = self.scale * self.projection(features)
        raw, dipoles = values[:, 0], values[:, 1:4]
        counts = graph.atoms_per_graph.clamp(min=1).to(raw.dtype)
        total_charge = graph.total_charge.to(raw.dtype)  # type: ignore[union-attr]
        excess = (scatter_sum(raw, graph.batch, graph.n_graphs) - total_charge) / counts
        return raw - excess.index_select(0, graph.batch), dipoles

    def charges(self, features: Tensor, graph: AtomicGraph) -> Tensor:
        """[n_atoms] atomic charges (e), summing to each structure's total charge."""
        return self._charges_and_dipoles(features, graph)[0]

    def forward(self, features: Tensor, graph: AtomicGraph, positions: Tensor) -> Tensor:
        if self.config.periodic == "error" and bool(graph.pbc.any()):
            structure = int(torch.nonzero(graph.pbc.any(dim=1))[0, 0])
            raise PeriodicDipoleError(
                f"head {self.config.name!r}: structure {structure} of the batch is periodic, and the dipole of "
                "a periodic cell is not defined (the polarization is defined only modulo a quantum e·R/V). "
                "Set periodic: sum in the head config for the sum over the atoms as placed in the cell, or "
                "use non-periodic structures"
            )
        charges, dipoles = self._charges_and_dipoles(features, graph)
        masses = self.masses.index_select(0, graph.atomic_numbers).to(positions.dtype)
        total_mass = scatter_sum(masses, graph.batch, graph.n_graphs).clamp(min=1e-12)
        centre = scatter_sum(masses[:, None] * positions, graph.batch, graph.n_graphs) / total_mass[:, None]
        relative = positions - centre.index_select(0, graph.batch)
        return scatter_sum(charges[:, None] * relative + dipoles, graph.batch, graph.n_graphs)


_HEADS = {"irreps": IrrepsHead, "cartesian": CartesianHead, "polarizability": CartesianHead, "dipole": DipoleHead}


def build_head(config: HeadConfig, layout: IrrepsLayout, parity: bool = True, available: Carried = None) -> nn.Module:
    """The head module of ``config`` on node features of ``layout`` (a small registry by
    kind); ``available``: the irreps the features carry (see `irreps_flow.check_heads`)."""
    return _HEADS[config.kind](config, layout, parity, available)


class HeadSet(nn.ModuleDict):
    """The heads of a model by name; computes the requested ones from the node features."""

    def __init__(self, configs: list[HeadConfig], layout: IrrepsLayout, parity: bool, available: Carried = None):
        super().__init__({config.name: build_head(config, layout, parity, available) for config in configs})

    def specs(self) -> dict[str, OutputSpec]:
        return {name: head.spec() for name, head in self.items()}

    def forward(
        self, features: Tensor, graph: AtomicGraph, positions: Tensor, names: frozenset[str] | set[str]
    ) -> dict[str, Tensor]:
        """Outputs of the heads in ``names`` (see each head for shapes and units)."""
        return {name: self[name](features, graph, positions) for name in names}

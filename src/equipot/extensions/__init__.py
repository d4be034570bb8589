"""The same irreps machinery for more physics: the coupling of two spins with the
direction between them (`spin_pair`), used for the two-nucleon tensor force (`nuclear`)
and for magnetic moments on a lattice with spin-lattice dynamics (`spin_lattice`); a
model of planar point sets with SO(2)-equivariant layers (`planar`); coupled electronic
states from a learned diabatic Hamiltonian (`excited`); atoms mapped to coarse-grained
beads and bead forces matched by an equivariant potential (`coarse_grain`), and oriented
beads with forces and torques and their Langevin dynamics (`coarse_grain_oriented`,
`coarse_grain_dynamics`).

Layer: above `models` (beside `inference`, `longrange`, `uq`); may import models, nn,
o3, data and config. Most of these models take their own inputs (relative positions and
spins, 2-D point sets) rather than an `AtomicGraph`, so they are not `Potential`s; the
excited-state model reads an `AtomicGraph` but returns several states, an isotropic bead
potential is an ordinary `EquivariantPotential`, and an oriented bead potential takes
positions and orientations (like the spin-lattice model).
"""

from .coarse_grain import (
    BeadMapping,
    DiatomicFluidCalculator,
    bead_symbols,
    diatomic_fluid,
    fit_force_matching,
    force_matching_loss,
    molecular_liquid,
)
from .coarse_grain_dynamics import OrientedBeadLangevin, pair_correlations
from .coarse_grain_oriented import (
    OrientedBeadMapping,
    OrientedBeadPotential,
    OrientedPairCoupling,
    force_torque_matching_loss,
    irreps_coupling,
    orientation_exponents,
    oriented_bead_derivatives,
    perpendicular,
)
from .excited import (
    AdiabaticStates,
    DiabaticHamiltonianModel,
    LinearVibronicReference,
    adiabatic_states,
    molecule_graphs,
    sample_vibronic_frames,
    sign_invariant_error,
)
from .fitting import FitHistory, fit_full_batch
from .nuclear import ToyNucleonReference, TwoNucleonPotential, sample_configurations, tensor_operator
from .planar import PlanarPointSetModel, PointSets, planar_edges, point_set_targets, sample_point_sets
from .spin_lattice import (
    HeisenbergLatticeReference,
    LatticeEdges,
    SpinLatticeDynamics,
    SpinLatticePotential,
    lattice_edges,
    ordered_moments,
    simple_cubic,
    spin_lattice_derivatives,
)
from .spin_pair import SpinPairCoupling

__all__ = [
    "AdiabaticStates",
    "BeadMapping",
    "DiatomicFluidCalculator",
    "bead_symbols",
    "diatomic_fluid",
    "fit_force_matching",
    "force_matching_loss",
    "molecular_liquid",
    "OrientedBeadLangevin",
    "OrientedBeadMapping",
    "OrientedBeadPotential",
    "OrientedPairCoupling",
    "force_torque_matching_loss",
    "irreps_coupling",
    "orientation_exponents",
    "oriented_bead_derivatives",
    "pair_correlations",
    "perpendicular",
    "DiabaticHamiltonianModel",
    "LinearVibronicReference",
    "adiabatic_states",
    "molecule_graphs",
    "sample_vibronic_frames",
    "sign_invariant_error",
    "FitHistory",
    "HeisenbergLatticeReference",
    "LatticeEdges",
    "PlanarPointSetModel",
    "PointSets",
    "SpinLatticeDynamics",
    "SpinLatticePotential",
    "SpinPairCoupling",
    "ToyNucleonReference",
    "TwoNucleonPotential",
    "fit_full_batch",
    "lattice_edges",
    "ordered_moments",
    "planar_edges",
    "point_set_targets",
    "sample_configurations",
    "sample_point_sets",
    "simple_cubic",
    "spin_lattice_derivatives",
    "tensor_operator",
]

"""`LongRangePotential`: a local equivariant model plus the electrostatics of charges it
predicts, itself a `Potential`.

    E = sum_i E_i^local + sum_i e_i^charges + 1/2 sum_i q_i phi_i

``E_i^local`` is the local model's per-atom energy, ``q_i`` the charges of a `ChargeHead`
read from the same final node features (or each element's fixed charge, scheme ``fixed``),
``e_i^charges`` their on-site energies (qeq only)
and ``phi_i`` the electrostatic potential of all other charges (`CoulombEnergy`).
Nothing is counted twice: the local model is trained on the total energy with the
Coulomb term already in it, so it learns only what the Coulomb term of the predicted
charges leaves out (the short-range part included); with Gaussian charges the Coulomb
term has no singularity at short distance. Forces and stress are derivatives of E by
autograd, through the charges' dependence on the positions.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

import torch
from ase.data import atomic_masses
from torch import Tensor, nn

from ..data import AtomicGraph
from ..models.derivatives import derive_outputs
from ..models.heads import OutputSpec, PeriodicDipoleError
from ..models.io import model_payload
from ..models.output import OUTPUT_NAMES, ModelOutput
from ..models.potential import EquivariantPotential, check_graph_cutoff
from ..models.protocol import WrapsPotential
from ..nn.scatter import scatter_sum
from .charges import ChargeHead
from .coulomb import CoulombEnergy

__all__ = ["LONG_RANGE_OUTPUTS", "LongRangePotential"]

#: further outputs of a `LongRangePotential`, by name
LONG_RANGE_OUTPUTS = {
    "charges": OutputSpec("charges", per_atom=True, cartesian_rank=0, unit="e"),
    "electrostatic_potential": OutputSpec("electrostatic_potential", per_atom=True, cartesian_rank=0, unit="V"),
    "energy_short_range": OutputSpec("energy_short_range", per_atom=False, cartesian_rank=0, unit="eV"),
    "energy_long_range": OutputSpec("energy_long_range", per_atom=False, cartesian_rank=0, unit="eV"),
    "dipole": OutputSpec("dipole", per_atom=False, cartesian_rank=1, unit="e·Å", periodic=False),
}


class LongRangePotential(WrapsPotential, nn.Module):
    """``local`` (an `EquivariantPotential`) plus the Coulomb energy of charges predicted from
    its final node features (module docstring).

    - ``charges``: ``neutral``, ``qeq`` or ``fixed`` (`ChargeHead`; ``fixed`` takes
      ``fixed_charges``, element symbol -> e); the charges of each structure sum to its
      total charge (``graph.total_charge``, from ``atoms.info["charge"]``, default 0).
    - ``coulomb``: the `CoulombEnergy` (method, screening, accuracy); qeq needs Gaussian
      screening.

    Outputs beyond the energy (`LONG_RANGE_OUTPUTS`): ``charges`` [n_atoms] e,
    ``electrostatic_potential`` [n_atoms] V, ``energy_short_range`` and
    ``energy_long_range`` [n_graphs] eV (they add up to ``energy``; the long-range part is
    the Coulomb energy, the short-range part the local model plus the qeq on-site terms),
    ``dipole`` [n_graphs, 3] e·Å about the centre of mass (non-periodic structures only),
    and the local model's own heads.
    """

    wrapped_attribute = "local"  # cutoff, species, dtype, device: the local model's

    def __init__(
        self,
        local: EquivariantPotential,
        charges: str = "neutral",
        coulomb: CoulombEnergy | None = None,
        fixed_charges: dict[str, float] | None = None,
    ):
        super().__init__()
        self.local = local
        self.coulomb = coulomb if coulomb is not None else CoulombEnergy()
        self.scheme = charges
        previous = torch.get_default_dtype()
        torch.set_default_dtype(torch.float64)  # e3nn constants exact, then cast (as the local model)
        try:
            self.charge_head = ChargeHead(local.layout_node, local.config.parity, charges, fixed_charges)
        finally:
            torch.set_default_dtype(previous)
        self.charge_head.to(dtype=local.dtype, device=local.device)
        masses = torch.as_tensor(atomic_masses, dtype=torch.float64)
        self.register_buffer("masses", masses, persistent=False)
        clash = sorted(set(local.output_specs()) & set(LONG_RANGE_OUTPUTS))
        if clash:
            raise ValueError(f"the local model's heads {clash} clash with the long-range outputs; rename them")
        self.metadata: dict[str, Any] = {}

    # ------------------------------------------------------------ protocol
    def output_specs(self) -> dict[str, OutputSpec]:
        return {**self.local.output_specs(), **LONG_RANGE_OUTPUTS}

    def converted(self, dtype: torch.dtype) -> LongRangePotential:
        """A copy computing in ``dtype`` (the local model's `converted`, the charge head cast)."""
        other = LongRangePotential(self.local.converted(dtype), self.scheme, copy.copy(self.coulomb), self.charge_head.fixed_charges)
        other.charge_head.load_state_dict({k: v.to(dtype) for k, v in self.charge_head.state_dict().items()})
        other.metadata = dict(self.metadata)
        return other.train(self.training)

    def model_file_payload(self, metadata: dict[str, Any] | None = None) -> dict[str, Any]:
        """What its model file holds (`equipot.save_model` writes it): the local model's
        payload (its config holds the ``long_range`` section) plus the charge head's
        weights, all plain data; `equipot.load_potential` rebuilds it."""
        if self.local.config.long_range is None:
            raise ValueError(
                "this LongRangePotential was assembled by hand; build it with build_potential(config) from a config "
                "with a long_range section so that its file can be rebuilt"
            )
        payload = model_payload(self.local, metadata)
        payload["model"] = "LongRangePotential"
        payload["charge_head"] = {k: v.detach().cpu() for k, v in self.charge_head.state_dict().items()}
        return payload

    # ------------------------------------------------------------- compute
    def _dipole(self, charges: Tensor, graph: AtomicGraph, positions: Tensor) -> Tensor:
        if bool(graph.pbc.any()):
            structure = int(torch.nonzero(graph.pbc.any(dim=1))[0, 0])
            raise PeriodicDipoleError(
                f"structure {structure} of the batch is periodic, and the dipole of a periodic cell is not defined "
                "(the polarization is defined only modulo e·R/V); ask for 'dipole' of molecules only"
            )
        masses = self.masses.index_select(0, graph.atomic_numbers).to(positions.dtype)
        total_mass = scatter_sum(masses, graph.batch, graph.n_graphs).clamp(min=1e-12)
        centre = scatter_sum(masses[:, None] * positions, graph.batch, graph.n_graphs) / total_mass[:, None]
        return scatter_sum(charges[:, None] * (positions - centre.index_select(0, graph.batch)), graph.batch, graph.n_graphs)

    def forward(
        self,
        graph: AtomicGraph,
        outputs: Iterable[str] = ("energy", "forces"),
        create_graph: bool | None = None,
    ) -> ModelOutput:
        """Energy and the derivatives named in ``outputs`` (see `Potential`), plus the further
        outputs named there (`output_specs`)."""
        check_graph_cutoff(graph.cutoff, self.local.cutoff)
        outputs = frozenset(outputs)
        head_names = outputs - OUTPUT_NAMES
        unknown = sorted(head_names - set(self.output_specs()))
        if unknown:
            raise ValueError(f"unknown outputs {unknown}; this model computes {sorted(OUTPUT_NAMES | set(self.output_specs()))}")
        create_graph = self.training if create_graph is None else create_graph
        if graph.dtype != self.dtype:
            graph = graph.to(dtype=self.dtype)
        local_heads = head_names - set(LONG_RANGE_OUTPUTS)
        extra: dict[str, Tensor] = {}

        def energies(graph: AtomicGraph, positions: Tensor, cell: Tensor) -> Tensor:
            local, features = self.local.energies_and_features(graph, positions, cell, first_order_only=not create_graph)
            if local_heads:
                assert self.local.heads is not None
                extra.update(self.local.heads(features, graph, positions, local_heads))
            result = self.charge_head(features, graph, positions, cell, self.coulomb)
            if result.potential is None:
                coulomb, phi = self.coulomb(result.charges, positions, cell, graph.pbc, graph.batch)
            else:
                phi = result.potential
                coulomb = 0.5 * result.charges * phi
            short = local + result.onsite
            found = {
                "charges": result.charges,
                "electrostatic_potential": phi,
                "energy_short_range": scatter_sum(short, graph.batch, graph.n_graphs),
                "energy_long_range": scatter_sum(coulomb, graph.batch, graph.n_graphs),
            }
            extra.update({name: value for name, value in found.items() if name in head_names})
            if "dipole" in head_names:
                extra["dipole"] = self._dipole(result.charges, graph, positions)
            return short + coulomb

        result = derive_outputs(energies, graph, outputs - head_names, create_graph)
        result.extra.update(extra)
        return result

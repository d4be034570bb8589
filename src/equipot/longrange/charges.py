"""`ChargeHead`: per-atom charges, the structure's total charge conserved exactly, by one of
three schemes (the first two learned from the final node features).

- ``neutral``: the network predicts a raw charge ``s_i = b_Z + n_i`` (``b_Z`` a learned
  charge per element, ``n_i`` the environment's part) and a weight ``w_i = softplus(u_i) +
  0.01`` (> 0); ``q_i = s_i - w_i (sum_j s_j - Q) / sum_j w_j`` over the atoms
  of the structure. The excess is shared out in proportion to the weights, so the charges
  sum to ``Q`` exactly and are a smooth function of the network's outputs.
- ``qeq`` (charge equilibration, as in 4G-HDNNP): the network predicts electronegativities
  ``chi_i = b_Z + n_i`` (eV/e; ``b_Z`` a learned electronegativity per element) and
  hardnesses ``J_i = softplus(u_i)`` (eV/e², > 0); the charges minimise
  ``E(q) = sum_i (chi_i q_i + 1/2 J'_i q_i^2) + 1/2 q^T A q`` subject to ``sum_i q_i = Q``,
  with ``A`` the Coulomb matrix of Gaussian charges of width sigma (periodic by Ewald/PME in
  a periodic cell: `CoulombEnergy`, with unit charges as channels) and ``J'_i = J_i +
  k_e / (sigma sqrt(pi))`` adding each Gaussian's self-energy. One dense linear solve with a
  Lagrange multiplier per structure, differentiable, so charge can flow across the whole
  structure. The cost grows as n_atoms² (matrix) and n_atoms³ (solve) per structure:
  meant for structures up to a few thousand atoms.
- ``fixed`` (the classical Born–Mayer / Tosi–Fumi form for salts and oxides): each atom
  carries its element's charge ``p_i`` from a table (e.g. Na +1, Cl -1 e); nothing is
  learned, there is no charge head. When a structure's ``sum_j p_j`` differs from ``Q``
  (a charged cell, or a non-stoichiometric one), the ``neutral`` correction with equal
  weights applies: ``q_i = p_i - (sum_j p_j - Q) / n_atoms`` of the structure.

The per-element part ``b_Z`` (``element_baseline``, by atomic number) starts at zero, or
from reference or given charges (`ChargeHead.start_from_charges`): then each element's
mean charge is there from the first step, the environment's part starts 100x
smaller than the network would make it, and training learns only how the charges vary
with the environment. In a salt, whose charges differ from the formal ones by far less
than 1 %, a charge the network had to build from the features alone drifted by 1-3 %
between structures (docs/longrange.md), worth ~100 meV/atom of Coulomb energy per 1 %.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
import torch.nn.functional as F
from ase.data import atomic_numbers, chemical_symbols
from torch import Tensor, nn

from ..data import AtomicGraph
from ..nn.layout import IrrepsLayout
from ..nn.projection import IrrepsProjection
from ..nn.scatter import scatter_sum
from .coulomb import COULOMB_CONSTANT, CoulombEnergy, LongRangeError

__all__ = ["CHARGE_SCHEMES", "ChargeHead", "ChargeResult", "fixed_charges_of"]

CHARGE_SCHEMES = ("neutral", "qeq", "fixed")

_MIN_WEIGHT = 0.01


def fixed_charges_of(graph: AtomicGraph, fixed_charges: dict[str, float]) -> Tensor:
    """The ``fixed`` scheme's charges [n_atoms] (e, float64) of ``graph``: each element's
    charge from ``fixed_charges`` (symbol -> e), corrected to each structure's total charge
    with equal weights (module docstring)."""
    table = _charge_table(fixed_charges).to(graph.positions.device)
    return _charges_from_table(table, graph, graph.total_charge.to(torch.float64))  # type: ignore[union-attr]


def _charge_table(charges: dict[str, float], missing: float = math.nan) -> Tensor:
    """``charges`` (symbol -> e) by atomic number [len(chemical_symbols)], float64, CPU;
    ``missing`` for the elements not given (NaN: `_charges_from_table` names them)."""
    table = torch.full((len(chemical_symbols),), missing, dtype=torch.float64)
    for symbol, charge in charges.items():
        table[atomic_numbers[symbol]] = float(charge)
    return table


def _charges_from_table(table: Tensor, graph: AtomicGraph, total: Tensor) -> Tensor:
    charges = table.index_select(0, graph.atomic_numbers)
    if bool(torch.isnan(charges).any()):
        missing = sorted({chemical_symbols[int(z)] for z in graph.atomic_numbers[torch.isnan(charges)]})
        raise LongRangeError(f"no fixed charge for {missing}; add them to long_range.fixed_charges (e)")
    excess = scatter_sum(charges, graph.batch, graph.n_graphs) - total
    counts = graph.atoms_per_graph.to(charges.dtype).clamp(min=1)
    return charges - (excess / counts).index_select(0, graph.batch)


class ChargeResult:
    """Charges ``q`` [n_atoms] (e), on-site energies [n_atoms] (eV; zero for ``neutral``)
    and, for ``qeq``, the electrostatic potential ``phi = A q`` [n_atoms] (V), else None."""

    def __init__(self, charges: Tensor, onsite: Tensor, potential: Tensor | None):
        self.charges, self.onsite, self.potential = charges, onsite, potential


class ChargeHead(nn.Module):
    """Charges for the ``scheme`` of the module docstring; `forward` returns a `ChargeResult`.
    ``neutral`` and ``qeq`` read node features ``[n_atoms, C, layout.dim]``; ``fixed`` takes
    ``fixed_charges`` (element symbol -> e) and has no weights."""

    def __init__(self, layout: IrrepsLayout, parity: bool, scheme: str = "neutral", fixed_charges: dict[str, float] | None = None):
        super().__init__()
        if scheme not in CHARGE_SCHEMES:
            raise LongRangeError(f"charge scheme must be one of {list(CHARGE_SCHEMES)}, got {scheme!r}")
        if (scheme == "fixed") != (fixed_charges is not None):
            raise LongRangeError(f"fixed_charges go with the scheme 'fixed' and only with it; got scheme {scheme!r}")
        self.scheme = scheme
        self.fixed_charges = None if fixed_charges is None else dict(fixed_charges)
        self.projection = None if scheme == "fixed" else IrrepsProjection(layout, "2x0e", parity, f"charges ({scheme})")
        # b_Z by atomic number (charge in e, or electronegativity in eV/e for qeq); none for fixed
        self.element_baseline = None if scheme == "fixed" else nn.Parameter(torch.zeros(len(chemical_symbols)))
        table = None if fixed_charges is None else _charge_table(fixed_charges)  # rebuilt from the config, not saved
        self.register_buffer("fixed_table", table, persistent=False)

    def forward(self, features: Tensor, graph: AtomicGraph, positions: Tensor, cell: Tensor, coulomb: CoulombEnergy) -> ChargeResult:
        total = graph.total_charge.to(positions.dtype)  # type: ignore[union-attr]
        if self.projection is None:
            return self._fixed(total, graph, positions.dtype)
        values = self.projection(features)
        assert self.element_baseline is not None
        baseline = self.element_baseline.index_select(0, graph.atomic_numbers).to(values.dtype)
        if self.scheme == "neutral":
            raw, weights = baseline + values[:, 0], F.softplus(values[:, 1]) + _MIN_WEIGHT
            excess = scatter_sum(raw, graph.batch, graph.n_graphs) - total
            share = excess / scatter_sum(weights, graph.batch, graph.n_graphs)
            charges = raw - weights * share.index_select(0, graph.batch)
            return ChargeResult(charges, torch.zeros_like(charges), None)
        return self._equilibrate(baseline + values[:, 0], F.softplus(values[:, 1]), total, graph, positions, cell, coulomb)

    @torch.no_grad()
    def start_from_charges(
        self,
        graphs: Iterable[AtomicGraph],
        coulomb: CoulombEnergy,
        name: str = "charges",
        table: dict[str, float] | None = None,
        environment_scale: float = 0.01,
    ) -> dict[str, float]:
        """Set ``element_baseline`` from the charges of ``graphs`` and scale the environment's
        part by ``environment_scale`` (module docstring). The charges are each graph's
        reference charges ``atom_targets[name]`` (e), or with ``table`` (symbol -> e; elements
        not listed 0) each element's charge from it, corrected to the structure's total
        charge as the ``fixed`` scheme does. ``neutral``: ``b_Z`` is element Z's mean charge.
        ``qeq``: ``b_Z`` is the mean over Z's atoms of ``-(J0 + k_e/(sigma sqrt(pi))) q_i -
        phi_i``, the electronegativity whose equilibrium is those charges when the hardness
        has its starting value ``J0 = softplus(0)`` and the network's part is zero (``phi``
        the potential of the charges, `CoulombEnergy`), centred. Returns ``b_Z`` by element
        symbol; elements without charges keep theirs. Raises `LongRangeError` for ``fixed``."""
        if self.projection is None or self.element_baseline is None:
            raise LongRangeError("charges 'fixed' have no learned part to start from other charges")
        given = None if table is None else _charge_table(table, missing=0.0)
        if self.scheme == "qeq":
            self._check_gaussian(coulomb)
            hardness = math.log(2.0) + COULOMB_CONSTANT / (coulomb.sigma * math.sqrt(math.pi))  # type: ignore[operator]
        sums = torch.zeros(len(chemical_symbols), dtype=torch.float64)
        counts = torch.zeros_like(sums)
        for graph in graphs:
            if given is not None:
                total = graph.total_charge.to(torch.float64)  # type: ignore[union-attr]
                charges = _charges_from_table(given.to(graph.positions.device), graph, total)
            elif name in graph.atom_targets:
                charges = graph.atom_targets[name].detach().double().reshape(-1)
            else:
                continue
            if self.scheme == "neutral":
                values = charges
            else:
                _, phi = coulomb(charges, graph.positions.double(), graph.cell.double(), graph.pbc, graph.batch)
                values = -hardness * charges - phi
            numbers = graph.atomic_numbers.cpu()
            sums.index_add_(0, numbers, values.cpu())
            counts.index_add_(0, numbers, torch.ones_like(values.cpu()))
        seen = counts > 0
        if not bool(seen.any()):
            return {}
        baseline = self.element_baseline.detach().double().cpu()
        baseline[seen] = sums[seen] / counts[seen]
        if self.scheme == "qeq":  # only differences of electronegativities matter: centre them
            baseline[seen] -= baseline[seen].mean()
        self.element_baseline.copy_(baseline.to(self.element_baseline))
        for parameter in self.projection.mix.parameters():
            parameter.mul_(environment_scale)
        return {chemical_symbols[int(z)]: float(baseline[z]) for z in torch.nonzero(seen).flatten()}

    @staticmethod
    def _check_gaussian(coulomb: CoulombEnergy) -> None:
        if coulomb.screening != "gaussian":
            raise LongRangeError(
                "charges 'qeq' needs Gaussian charges (screening gaussian with a width sigma), which make the "
                f"matrix J + A positive definite; got screening {coulomb.screening!r}"
            )

    def _fixed(self, total: Tensor, graph: AtomicGraph, dtype: torch.dtype) -> ChargeResult:
        assert self.fixed_table is not None
        charges = _charges_from_table(self.fixed_table.to(dtype), graph, total)
        return ChargeResult(charges, torch.zeros_like(charges), None)

    def _equilibrate(
        self, chi: Tensor, hardness: Tensor, total: Tensor, graph: AtomicGraph, positions: Tensor, cell: Tensor, coulomb: CoulombEnergy
    ) -> ChargeResult:
        self._check_gaussian(coulomb)
        self_energy = COULOMB_CONSTANT / (coulomb.sigma * math.sqrt(math.pi))  # type: ignore[operator]
        charges, potentials = [], []
        start = 0
        for index, count in enumerate(graph.atoms_per_graph.tolist()):
            atoms = slice(start, start + count)
            start += count
            if count == 0:
                continue
            eye = torch.eye(count, dtype=positions.dtype, device=positions.device)
            matrix = coulomb.potential(
                eye, positions[atoms], cell[index : index + 1], graph.pbc[index : index + 1], torch.zeros_like(graph.batch[atoms])
            )
            matrix = 0.5 * (matrix + matrix.T)  # symmetric up to the sums' accuracy
            ones = torch.ones(count, 1, dtype=positions.dtype, device=positions.device)
            system = torch.cat(
                (torch.cat((matrix + torch.diag(hardness[atoms] + self_energy), ones), 1), torch.cat((ones.T, ones[:1] * 0), 1)), 0
            )
            rhs = torch.cat((-chi[atoms], total[index : index + 1]))
            q = torch.linalg.solve(system, rhs)[:count]
            charges.append(q)
            potentials.append(matrix @ q)
        q, phi = torch.cat(charges), torch.cat(potentials)
        onsite = chi * q + 0.5 * (hardness + self_energy) * q**2
        return ChargeResult(q, onsite, phi)

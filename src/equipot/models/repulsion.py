"""`PairRepulsion`: the Ziegler-Biersack-Littmark (ZBL) screened repulsion of the nuclei,
a fixed short-range `Potential` to add to a learned one (`SumPotential`).

A model trained on equilibrium data knows nothing of atoms pressed close together (hot MD,
collisions, bad starting structures); the nuclei's screened Coulomb repulsion keeps them
apart there. The universal ZBL screening function needs no fitting.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
from ase.data import atomic_numbers as symbol_to_z
from ase.data import chemical_symbols
from torch import Tensor, nn

from ..data import AtomicGraph, edge_vectors
from ..nn import PolynomialEnvelope
from .derivatives import derive_outputs
from .heads import OutputSpec
from .output import OUTPUT_NAMES, ModelOutput

__all__ = ["COULOMB_EV_ANGSTROM", "PairRepulsion"]

#: e^2 / (4 pi eps0) in eV·Å
COULOMB_EV_ANGSTROM = 14.399645

#: ZBL universal screening: phi(x) = sum_k c_k exp(-d_k x), x = r / a
_ZBL_COEFFICIENTS = (0.18175, 0.50986, 0.28022, 0.02817)
_ZBL_EXPONENTS = (3.19980, 0.94229, 0.40290, 0.20162)
_ZBL_LENGTH = 0.46850  # Å: a = 0.4685 / (Z_i^0.23 + Z_j^0.23)


class PairRepulsion(nn.Module):
    """``E = 1/2 sum_{i != j} (Z_i Z_j e^2 / 4 pi eps0 r_ij) phi(r_ij / a_ij) f_cut(r_ij)``,
    eV, with ZBL's universal screening ``phi`` and length ``a_ij`` (Å), brought smoothly to
    zero at ``cutoff`` (Å) by the polynomial envelope of the models (`PolynomialEnvelope`,
    value and two derivatives zero there).

    A `Potential` with no parameters: forces and stress by automatic differentiation.
    ``species``: the chemical symbols it accepts (those of the model it is added to); a
    structure with another element raises ValueError. Per-atom energies take half of each
    pair.
    """

    def __init__(
        self,
        species: Sequence[str],
        cutoff: float = 1.5,
        envelope_exponent: int = 6,
        dtype: torch.dtype = torch.float32,
    ):
        super().__init__()
        unknown = [symbol for symbol in species if symbol not in symbol_to_z]
        if unknown or not species:
            raise ValueError(f"PairRepulsion species must be chemical symbols, e.g. ['H', 'O']; got {list(species)}")
        if not cutoff > 0:
            raise ValueError(f"PairRepulsion cutoff must be positive (Å), got {cutoff}")
        self._species = list(species)
        self._cutoff = float(cutoff)
        self.envelope = PolynomialEnvelope(cutoff, envelope_exponent)
        known = torch.zeros(len(chemical_symbols), dtype=torch.bool)
        known[[symbol_to_z[symbol] for symbol in species]] = True
        self.register_buffer("known_numbers", known)
        self.register_buffer("coefficients", torch.tensor(_ZBL_COEFFICIENTS, dtype=dtype))
        self.register_buffer("exponents", torch.tensor(_ZBL_EXPONENTS, dtype=dtype))
        self.eval()

    @property
    def cutoff(self) -> float:
        return self._cutoff

    @property
    def species(self) -> list[str]:
        return list(self._species)

    @property
    def dtype(self) -> torch.dtype:
        return self.coefficients.dtype

    @property
    def device(self) -> torch.device:
        return self.coefficients.device

    def output_specs(self) -> dict[str, OutputSpec]:
        return {}

    def converted(self, dtype: torch.dtype) -> PairRepulsion:
        """The same repulsion computing in ``dtype``."""
        return PairRepulsion(self._species, self._cutoff, self.envelope.p, dtype).to(device=self.device)

    def atomic_energies_of(self, graph: AtomicGraph, positions: Tensor, cell: Tensor) -> Tensor:
        """[n_atoms] repulsion energies (eV) from (possibly strained) ``positions`` and ``cell``."""
        z = graph.atomic_numbers
        if not bool(self.known_numbers[z].all()):
            atom = int(torch.nonzero(~self.known_numbers[z])[0, 0])
            raise ValueError(
                f"structure {int(graph.batch[atom])} of the batch contains {chemical_symbols[int(z[atom])]}, "
                f"which this PairRepulsion was not built for (species {self._species})"
            )
        lengths = torch.linalg.norm(edge_vectors(graph, positions, cell), dim=-1)
        z_s, z_r = z[graph.senders].to(lengths.dtype), z[graph.receivers].to(lengths.dtype)
        screening_length = _ZBL_LENGTH / (z_s**0.23 + z_r**0.23)
        x = (lengths / screening_length).unsqueeze(-1)
        screening = (self.coefficients * torch.exp(-self.exponents * x)).sum(-1)
        pair = COULOMB_EV_ANGSTROM * z_s * z_r / lengths * screening * self.envelope(lengths)
        return 0.5 * positions.new_zeros(positions.shape[0]).index_add(0, graph.receivers, pair)

    def forward(
        self,
        graph: AtomicGraph,
        outputs: Iterable[str] = ("energy", "forces"),
        create_graph: bool | None = None,
    ) -> ModelOutput:
        """Energy and the derivatives named in ``outputs`` (see `Potential`)."""
        outputs = frozenset(outputs)
        unknown = sorted(outputs - OUTPUT_NAMES)
        if unknown:
            raise ValueError(f"unknown outputs {unknown}; PairRepulsion computes {sorted(OUTPUT_NAMES)}")
        if graph.dtype != self.dtype:
            graph = graph.to(dtype=self.dtype)
        return derive_outputs(self.atomic_energies_of, graph, outputs, bool(create_graph))

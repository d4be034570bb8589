"""`SumPotential`: potentials added together, itself a `Potential`.

New physics comes in as a potential of its own and is added to a model, e.g. a short-range
repulsion (`PairRepulsion`) or a long-range term; the calculator, properties and
simulations take the sum like any potential.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable

import torch
from torch import Tensor, nn

from ..data import AtomicGraph, edge_vectors
from .derivatives import derive_outputs
from .heads import OutputSpec
from .output import OUTPUT_NAMES, ModelOutput
from .protocol import Potential, check_composable

__all__ = ["SumPotential", "edges_within"]


def edges_within(graph: AtomicGraph, cutoff: float) -> AtomicGraph:
    """``graph`` with only the edges shorter than ``cutoff`` (Å): the graph as a potential
    of a shorter cutoff than the graph's would see it. The same graph if ``cutoff`` covers
    ``graph.cutoff``. Which edges stay is decided from the current positions; the positions
    themselves (and autograd through them) are shared."""
    if cutoff >= graph.cutoff:
        return graph
    with torch.no_grad():
        keep = torch.linalg.norm(edge_vectors(graph), dim=-1) < cutoff
    view = copy.copy(graph)  # shallow: positions and cell stay the same tensors
    view.senders, view.receivers, view.cell_shifts = graph.senders[keep], graph.receivers[keep], graph.cell_shifts[keep]
    view.cutoff = float(cutoff)
    return view


class SumPotential(nn.Module):
    """The sum of potentials that share species, dtype and device: ``E = sum_t E_t``.

    Energies and per-atom energies add; forces, stress and virial are derivatives of the
    summed energy (one backward pass, `derive_outputs`), so they are exact and a Hessian
    through ``create_graph=True`` works as for one model. ``cutoff`` is the largest of the
    terms' (each term sees only the edges within its own cutoff, `edges_within`).
    ``output_specs()`` is the union of the terms' further outputs (heads), each computed
    by the one term that declares it, in the same pass; two terms declaring the same name
    are refused.

        >>> total = SumPotential(model, PairRepulsion(model.species, cutoff=1.5))  # doctest: +SKIP
        >>> total(graph, outputs={"energy", "forces", "stress"})                   # doctest: +SKIP

    ``create_graph`` defaults to ``self.training``, like `EquivariantPotential`.
    """

    def __init__(self, *terms: Potential):
        super().__init__()
        if not terms:
            raise ValueError("SumPotential needs at least one potential to add, got none")
        check_composable(terms, "SumPotential", "term")
        self.terms = tuple(terms)
        # module terms are registered, so .to(), .eval() and parameters() reach them
        self.modules_of_terms = nn.ModuleList([term for term in terms if isinstance(term, nn.Module)])
        self._heads_of_terms: list[frozenset[str]] = []
        specs: dict[str, OutputSpec] = {}
        for index, term in enumerate(terms):
            names = term.output_specs()
            clash = sorted(set(names) & set(specs))
            if clash:
                raise ValueError(f"SumPotential terms declare the same outputs {clash} (term {index} and an earlier one)")
            specs.update(names)
            self._heads_of_terms.append(frozenset(names))
        self._specs = specs

    @property
    def cutoff(self) -> float:
        return max(float(term.cutoff) for term in self.terms)

    @property
    def species(self) -> list[str]:
        return list(self.terms[0].species)

    @property
    def dtype(self) -> torch.dtype:
        return self.terms[0].dtype

    @property
    def device(self) -> torch.device:
        return self.terms[0].device

    def output_specs(self) -> dict[str, OutputSpec]:
        return dict(self._specs)

    def converted(self, dtype: torch.dtype) -> SumPotential:
        """The sum of the terms' ``converted(dtype)`` copies."""
        return SumPotential(*(term.converted(dtype) for term in self.terms))  # type: ignore[attr-defined]

    def forward(
        self,
        graph: AtomicGraph,
        outputs: Iterable[str] = ("energy", "forces"),
        create_graph: bool | None = None,
    ) -> ModelOutput:
        """The summed energy, per-atom energies and the derivatives named in ``outputs``
        (see `Potential`), plus the heads named there."""
        outputs = frozenset(outputs)
        head_names = outputs - OUTPUT_NAMES
        unknown = sorted(head_names - set(self._specs))
        if unknown:
            raise ValueError(
                f"unknown outputs {unknown}; this sum computes {sorted(OUTPUT_NAMES)} and its terms' "
                f"outputs {sorted(self._specs)}"
            )
        create_graph = self.training if create_graph is None else create_graph
        if graph.dtype != self.dtype:
            graph = graph.to(dtype=self.dtype)
        extra: dict[str, Tensor] = {}

        def summed_energies(graph: AtomicGraph, positions: Tensor, cell: Tensor) -> Tensor:
            deformed = copy.copy(graph)  # shallow: the (possibly strained) positions and cell
            deformed.positions, deformed.cell = positions, cell
            total = positions.new_zeros(positions.shape[0])
            for term, heads in zip(self.terms, self._heads_of_terms):
                asked = {"energy", "atomic_energies"} | (heads & head_names)
                out = term(edges_within(deformed, term.cutoff), outputs=asked, create_graph=create_graph)
                total = total + out.atomic_energies
                extra.update(out.extra)
            return total

        result = derive_outputs(summed_energies, graph, outputs - head_names, create_graph)
        result.extra.update(extra)
        return result

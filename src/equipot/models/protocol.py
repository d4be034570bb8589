"""`Potential`: the contract every potential keeps, and what the rest of equipot accepts.

Anything that maps ``(graph, outputs)`` to a `ModelOutput` and states its ``cutoff``,
``species``, ``output_specs()``, ``dtype`` and ``device`` is a potential: an
`EquivariantPotential`, a `SumPotential` of potentials, a `PairRepulsion`, a compiled or
exported copy (`equipot.inference`). The calculator, ``properties/``, ``simulate/``,
evaluation and ``equipot.testing`` take any of them, so new physics is added by composing
potentials, never by flags in a ``forward``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import ClassVar, Protocol, runtime_checkable

import torch

from ..data import AtomicGraph
from .heads import OutputSpec
from .output import ModelOutput

__all__ = ["Potential", "WrapsPotential", "check_composable"]


@runtime_checkable
class Potential(Protocol):
    """``potential(graph, outputs={"energy", "forces", "stress"}) -> ModelOutput``.

    - ``outputs``: names from ``energy``, ``atomic_energies``, ``forces``, ``stress``,
      ``virial`` (`equipot.models.output.OUTPUT_NAMES`) and the names of ``output_specs()``;
      ``energy`` and ``atomic_energies`` always come back.
    - ``create_graph``: keep the graph of the derivatives (to differentiate the forces
      again: Hessians, training on forces); None means the potential's default.
      A graph whose positions already require grad is differentiated through them.
    - ``cutoff`` (Å): the radius the graph's edges must cover.
    - ``species``: the chemical symbols the potential knows.
    - ``output_specs()``: name -> `OutputSpec` of each output beyond the energy and its
      derivatives (empty if none).
    - ``dtype``, ``device``: where and in which precision it computes; outputs come in
      ``dtype``, and a graph in another floating-point dtype is cast to it.

    Energies are in eV, forces in eV/Å, stress in eV/Å³ (ASE's sign), virial in eV.
    ``isinstance(x, Potential)`` checks the members' presence, not their signatures.
    """

    @property
    def cutoff(self) -> float: ...

    @property
    def species(self) -> list[str]: ...

    @property
    def dtype(self) -> torch.dtype: ...

    @property
    def device(self) -> torch.device: ...

    def output_specs(self) -> dict[str, OutputSpec]: ...

    def __call__(
        self, graph: AtomicGraph, outputs: Iterable[str] = ..., create_graph: bool | None = None
    ) -> ModelOutput: ...


def check_composable(potentials: Sequence[object], owner: str, part: str) -> None:
    """Refuse parts that cannot be combined into one potential (a sum, a committee): each
    must be a `Potential`, and all must share species, dtype and device.

    ``owner`` and ``part`` name them in the messages, e.g. ``("SumPotential", "term")``:
    "SumPotential term 1 is a str, not a Potential ...". Raises TypeError or ValueError.
    """
    for index, potential in enumerate(potentials):
        if not isinstance(potential, Potential):
            raise TypeError(
                f"{owner} {part} {index} is a {type(potential).__name__}, not a Potential (it needs "
                "__call__(graph, outputs, create_graph), cutoff, species, dtype, device and output_specs())"
            )
    first = potentials[0]
    for index, potential in enumerate(potentials[1:], start=1):
        assert isinstance(potential, Potential) and isinstance(first, Potential)
        if sorted(potential.species) != sorted(first.species):
            raise ValueError(
                f"{owner} {part}s must share species: {part} 0 knows {list(first.species)}, "
                f"{part} {index} knows {list(potential.species)}"
            )
        if potential.dtype != first.dtype or potential.device != first.device:
            raise ValueError(
                f"{owner} {part}s must share dtype and device: {part} 0 is {first.dtype} on {first.device}, "
                f"{part} {index} is {potential.dtype} on {potential.device}; convert them first"
            )


class WrapsPotential:
    """Mixin of a potential that wraps one other (a compiled copy, a model with uncertainty
    estimators, a local model with a long-range term): its ``cutoff``, ``species``,
    ``dtype`` and ``device`` are those of the potential in the attribute named by
    ``wrapped_attribute``."""

    wrapped_attribute: ClassVar[str] = "model"

    @property
    def cutoff(self) -> float:
        return getattr(self, self.wrapped_attribute).cutoff

    @property
    def species(self) -> list[str]:
        return getattr(self, self.wrapped_attribute).species

    @property
    def dtype(self) -> torch.dtype:
        return getattr(self, self.wrapped_attribute).dtype

    @property
    def device(self) -> torch.device:
        return getattr(self, self.wrapped_attribute).device

"""`Potential`: the contract every potential keeps, and what the rest of equipot accepts.

Anything that maps ``(graph, outputs)`` to a `ModelOutput` and states its ``cutoff``,
``species``, ``output_specs()``, ``dtype`` and ``device`` is a potential: an
`EquivariantPotential`, a `SumPotential` of potentials, a `PairRepulsion`, a compiled or
exported copy (`equipot.inference`). The calculator, ``properties/``, ``simulate/``,
evaluation and ``equipot.testing`` take any of them, so new physics is added by composing
potentials, never by flags in a ``forward``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, runtime_checkable

import torch

from ..data import AtomicGraph
from .heads import OutputSpec
from .output import ModelOutput

__all__ = ["Potential"]


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

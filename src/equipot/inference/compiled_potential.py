"""`CompiledPotential`: an `EquivariantPotential` run through one compiled graph, with the
same contract (a `equipot.models.Potential`).

The physics class knows nothing of this: the wrapper decides per call whether the
compiled graph can serve it, and otherwise runs the wrapped eager model.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping

import torch
from torch import nn

from ..data import AtomicGraph
from ..models import EquivariantPotential, ModelOutput, OutputSpec
from ..models.output import OUTPUT_NAMES
from ..models.potential import check_graph_cutoff
from ..models.protocol import WrapsPotential
from ..nn import use_dense_linears
from .compiled import CompiledGradients

__all__ = ["COMPILED_MAX_EDGE_CHANNELS", "CompiledPotential"]

#: the compiled graph keeps per-edge tensors for the backward pass (memory per edge and
#: channel measured in docs/performance.md); graphs with more edges x channels than this
#: take the eager chunked path, whose memory stays small
COMPILED_MAX_EDGE_CHANNELS = 1 << 24

_DERIVED_OUTPUTS = frozenset({"forces", "stress", "virial"})  # what the compiled graph is for


class CompiledPotential(WrapsPotential, nn.Module):
    """``model``'s energy, forces and stress as one ahead-of-time compiled graph; the same
    contract as ``model``: ``(graph, outputs, create_graph) -> ModelOutput``, ``cutoff``,
    ``species``, ``output_specs()``, ``dtype``, ``device``.

    The network and its backward pass are traced together into one graph of tensor
    operations and compiled by AOTInductor (`CompiledGradients`): a call runs fused C++
    kernels with no autograd engine or Python in between. Compilation happens on the
    first call (the compiled library is cached on disk, `compile_cache`, and
    `export_model` saves one that loads at once) and serves every later size, so it pays
    off for MD, relaxations and screening, not for a handful of calls (docs/performance.md
    has the compile times and speed-ups). Results equal the eager model's to float
    rounding.

    These calls run on the wrapped eager model instead: those that need the graph of the
    derivatives (``create_graph``, or positions that require grad: Hessians), energies
    alone, heads, graphs with fewer than two atoms or edges, and graphs whose edges x
    channels exceed ``max_edge_channels`` (they take the memory-saving chunked path).
    If compilation fails (no C++ compiler, say), the first call warns and every call
    from then on runs the eager model; `fallback_reason` says why.

    The wrapped model is an inference copy of ``model`` (eval mode, no trainable
    parameters, dense linears for the compiler to fold): ``model`` itself is not
    changed, and training it does not change this copy. Place ``model`` on its device
    before wrapping. ``options`` are inductor's config patches (default
    `COMPILE_OPTIONS`).
    """

    def __init__(
        self,
        model: EquivariantPotential,
        options: Mapping[str, object] | None = None,
        max_edge_channels: int = COMPILED_MAX_EDGE_CHANNELS,
    ):
        super().__init__()
        if not isinstance(model, EquivariantPotential):
            raise TypeError(
                f"CompiledPotential compiles an EquivariantPotential, got {type(model).__name__}; "
                "run other potentials (sums, repulsions, long-range hybrids) eagerly: compile=False in Python, "
                "no --compile on the command line"
            )
        eager = model.converted(model.dtype).eval().requires_grad_(False)
        use_dense_linears(eager)  # one matrix product each, its weight folded at compile time
        self.model = eager
        self.max_edge_channels = max_edge_channels
        self.gradients = CompiledGradients(
            eager.atomic_energies_of, eager.species_indices, dict(options) if options is not None else None
        )
        self._fallback_reason: str | None = None
        self.eval()

    # ---------------------------------------------------------------- contract
    def output_specs(self) -> dict[str, OutputSpec]:
        return self.model.output_specs()

    def converted(self, dtype: torch.dtype) -> CompiledPotential:
        """A compiled potential of the wrapped model in ``dtype`` (compiled anew on its first call)."""
        return CompiledPotential(self.model.converted(dtype), self.gradients.options, self.max_edge_channels)

    @property
    def fallback_reason(self) -> str | None:
        """Why calls run eagerly for good (compilation failed), or None while compiled."""
        return self._fallback_reason

    @property
    def is_compiled(self) -> bool:
        """Whether calls for the compiled graph go through it (False after a failed compilation)."""
        return self._fallback_reason is None

    # ------------------------------------------------------------------- calls
    def forward(
        self,
        graph: AtomicGraph,
        outputs: Iterable[str] = ("energy", "forces"),
        create_graph: bool | None = None,
    ) -> ModelOutput:
        """The outputs of the wrapped model (see `EquivariantPotential.forward`), through
        the compiled graph where it serves the call."""
        outputs = frozenset(outputs)
        check_graph_cutoff(graph.cutoff, self.cutoff)
        if create_graph or not self._serves(graph, outputs):
            return self.model(graph, outputs=outputs, create_graph=create_graph)
        if graph.dtype != self.dtype:  # e.g. graph_from_atoms' float64 default with a float32 model
            graph = graph.to(dtype=self.dtype)
        try:
            result = self.gradients(graph)
        except Exception as error:  # noqa: BLE001 - inductor needs a C++ compiler, among much else: fall back, loudly
            first_line = (str(error).strip().splitlines() or [""])[0][:300]
            self._fallback_reason = f"compiling the model failed ({type(error).__name__}: {first_line})"
            warnings.warn(f"{self._fallback_reason}; running eagerly instead", RuntimeWarning, stacklevel=2)
            return self.model(graph, outputs=outputs, create_graph=create_graph)
        if result.unknown_species:
            self.model.species_of(graph)  # raises UnknownElementError, naming the structure and element
        output = ModelOutput(energy=result.energy, atomic_energies=result.atomic_energies)
        if "forces" in outputs:
            output.forces = result.forces
        if "stress" in outputs or "virial" in outputs:
            output.stress, output.virial = result.stress, result.virial
        return output

    def _serves(self, graph: AtomicGraph, outputs: frozenset[str]) -> bool:
        """Whether the compiled graph can give ``outputs`` for ``graph`` (see the class)."""
        return (
            self._fallback_reason is None
            and not graph.positions.requires_grad  # the caller differentiates further
            and outputs <= OUTPUT_NAMES
            and bool(outputs & _DERIVED_OUTPUTS)
            and CompiledGradients.supports(graph)
            and graph.n_edges * self.model.layout_node.channels <= self.max_edge_channels
        )

"""Compiled inference: energies, forces and stress as one ahead-of-time compiled graph.

`CompiledGradients` traces an atomic-energy function together with its autograd backward
pass (``make_fx``) into one graph of aten operations: the species lookup, the network,
its derivatives, and the sums that turn them into the energy, forces, virial and stress.
`torch.export` takes that graph with the sizes (atoms, edges, structures) symbolic, and
AOTInductor compiles it into a shared library of fused C++ kernels. A call hands the
graph's tensors to that library in one C++ call: no autograd engine, no dynamo guard, no
Python between the kernels and none of the runtime wrappers of `torch.compile`. One
compilation serves every size; a trace that fixed a size is refused. Compiled libraries
are kept on disk (`compile_cache`), so the next start with the same model loads them.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable
from typing import NamedTuple

import sympy
import torch
import torch._inductor
import torch.fx.experimental._config as fx_config
from torch import Tensor
from torch.fx.experimental.proxy_tensor import make_fx

from ..data import AtomicGraph
from ..models.derivatives import energies_and_gradients, outputs_from_gradients
from .compile_cache import cached_package

__all__ = ["COMPILE_OPTIONS", "CompiledGradients", "CompiledResult", "SpecializedTraceError"]

#: inductor options of `CompiledGradients`. Freezing turns the parameters into constants of
#: the compiled graph and folds what depends on them alone; its oneDNN weight prepacking
#: stays off (no faster at our sizes, much slower to compile). Measured in
#: docs/performance.md with benchmarks/bench_compile_options.py.
COMPILE_OPTIONS: dict[str, object] = {"freezing": True, "cpp.weight_prepack": False}

#: ``(graph, positions, cell, *, species) -> atomic energies [n_atoms]``, in one piece
#: (like `EquivariantPotential.atomic_energies_of`)
SpeciesEnergyFunction = Callable[..., Tensor]

_GRAPH_FIELDS = ("positions", "cell", "senders", "receivers", "cell_shifts", "batch", "atomic_numbers")


class CompiledResult(NamedTuple):
    """What one compiled call gives, in the dtype of the model."""

    atomic_energies: Tensor  #: [n_atoms] eV
    energy: Tensor  #: [n_graphs] eV
    forces: Tensor  #: [n_atoms, 3] eV/Å
    virial: Tensor  #: [n_graphs, 3, 3] eV
    stress: Tensor  #: [n_graphs, 3, 3] eV/Å³ (zero without a 3D cell)
    unknown_species: Tensor  #: [] bool: an element the model does not know (its atoms ran as species 0)


class SpecializedTraceError(RuntimeError):
    """The traced graph fixed a size (atoms, edges or structures) it should keep symbolic."""


def _graph_like(template: AtomicGraph, tensors: tuple[Tensor, ...]) -> AtomicGraph:
    # a shallow copy with traced fields: AtomicGraph's checks read values, which a trace has not
    graph = copy.copy(template)
    for name, tensor in zip(_GRAPH_FIELDS, tensors):
        setattr(graph, name, tensor)
    return graph


class CompiledGradients:
    """``graph -> CompiledResult`` (energies, forces, virial, stress) of ``energy_function``,
    traced and compiled on first use.

    ``energy_function`` must treat its parameters as constants (an inference copy whose
    parameters do not require grad): they are baked into the compiled code.
    ``species_function`` maps atomic numbers to the species indices the energy function
    takes, -1 for unknown elements: those are flagged in `CompiledResult.unknown_species`,
    for the caller to raise. Single structures and batches get one compilation each (edge vectors
    take another route for a batch). Tracing fixes sizes 0 and 1, so graphs with fewer
    than two atoms or edges are for the caller to run another way (`supports`).
    ``options`` are inductor's config patches (default `COMPILE_OPTIONS`).
    """

    def __init__(
        self,
        energy_function: SpeciesEnergyFunction,
        species_function: Callable[[Tensor], Tensor],
        options: dict[str, object] | None = None,
    ):
        self.energy_function = energy_function
        self.species_function = species_function
        self.options = dict(COMPILE_OPTIONS if options is None else options)
        self._compiled: dict[bool, Callable[[list[Tensor]], list[Tensor]]] = {}

    @staticmethod
    def supports(graph: AtomicGraph) -> bool:
        """Whether ``graph`` has the sizes a symbolic trace keeps symbolic (at least two
        atoms and two edges)."""
        return graph.n_atoms >= 2 and graph.n_edges >= 2

    def __call__(self, graph: AtomicGraph) -> CompiledResult:
        single = graph.n_graphs == 1
        inputs = _inputs(graph)
        if single not in self._compiled:
            self._compiled[single] = _compile(self._trace(graph, tuple(inputs)), tuple(inputs), self.options)
        return CompiledResult._make(self._compiled[single](inputs))

    def exported_program(self, graph: AtomicGraph) -> torch.export.ExportedProgram:
        """The traced program for graphs like ``graph`` (one structure, or a batch), as
        `torch.export` gives it to AOTInductor: sizes symbolic, weights constants."""
        inputs = tuple(_inputs(graph))
        return _export(self._trace(graph, inputs), inputs)

    def use_compiled(self, single: bool, run: Callable[[list[Tensor]], list[Tensor]]) -> None:
        """Run single structures (``single``) or batches with ``run``, an AOTInductor
        runner's ``boxed_run`` for `exported_program` (a loaded export), from now on."""
        self._compiled[single] = run

    def _trace(self, template: AtomicGraph, inputs: tuple[Tensor, ...]) -> torch.fx.GraphModule:
        def traced_outputs(*tensors: Tensor) -> tuple[Tensor, ...]:
            graph = _graph_like(template, tensors)
            species = self.species_function(graph.atomic_numbers)
            unknown_species = (species < 0).any()
            energy_function = functools.partial(self.energy_function, species=species.clamp(min=0))
            with torch.enable_grad():
                gradients = energies_and_gradients(energy_function, graph, want_virial=True, create_graph=False)
            result = outputs_from_gradients(graph, {"forces", "stress"}, *gradients)
            energy = result.energy
            if single:  # a plain sum: see _single_structure_energy_note
                energy = result.atomic_energies.sum().reshape(1)
            return result.atomic_energies, energy, result.forces, result.virial, result.stress, unknown_species

        single = template.n_graphs == 1

        # without duck shaping, equal sizes (3 structures and xyz, say) keep separate symbols
        with fx_config.patch(use_duck_shape=False):
            traced = make_fx(traced_outputs, tracing_mode="symbolic", _allow_non_fake_inputs=True)(*inputs)
        traced.graph.eliminate_dead_code()  # the unused index_add of the energy must not reach inductor
        traced.recompile()
        _check_sizes_stay_symbolic(traced, single)
        return traced


# _single_structure_energy_note: for one structure the energy is ``atomic_energies.sum()``,
# not the ``index_add`` into a one-element buffer that `outputs_from_gradients` uses. With
# more than one thread, inductor (torch 2.13) makes that scatter a parallel, vectorized
# atomic add whose store index simplifies to the constant 0, and its C++ code generator
# fails (``AssertionError`` in ``CppVecKernel.store``: the index is not a vector). Batches
# (a symbolic number of structures) compile at any thread count. tests/inference/
# test_compiled_threads.py compiles at 1 and 2 threads.


def _dynamic_shapes(single: bool) -> tuple[dict[int, object] | None, ...]:
    """`torch.export` dimensions of `_GRAPH_FIELDS`: atoms, edges and (batches) structures."""
    atoms, edges = torch.export.Dim("atoms", min=2), torch.export.Dim("edges", min=2)
    cell = None if single else {0: torch.export.Dim("structures", min=2)}
    return ({0: atoms}, cell, {0: edges}, {0: edges}, {0: edges}, {0: atoms}, {0: atoms})


def _compile(
    traced: torch.fx.GraphModule, inputs: tuple[Tensor, ...], options: dict[str, object]
) -> Callable[[list[Tensor]], list[Tensor]]:
    """AOTInductor's library for ``traced``, with the trace's sizes symbolic, as
    ``list of input tensors -> list of output tensors`` (from the on-disk cache when the
    same program was compiled before: `compile_cache`). Not `torch.compile`: dynamo's
    guards and the runtime wrappers of its compiled code would add per-call overhead
    that dominates small molecules (docs/performance.md), and the trace has been checked
    already."""
    require_aot_inductor()
    with torch.no_grad():
        runner = cached_package(_export(traced, inputs), options)
    return runner.loader.boxed_run


def require_aot_inductor() -> None:
    """Raise a RuntimeError that names the torch version if AOTInductor's packages
    (compile, load, ``boxed_run``) are missing: they came with torch 2.8."""
    if not (hasattr(torch._inductor, "aoti_load_package") and hasattr(torch._C._aoti.AOTIModelPackageLoader, "boxed_run")):
        raise RuntimeError(f"compiled inference needs AOTInductor packages (torch 2.8 or later; this is torch {torch.__version__})")


def _inputs(graph: AtomicGraph) -> list[Tensor]:
    """The tensors of `_GRAPH_FIELDS`, dense (the compiled code assumes the strides it was
    compiled for); spelled out, as this runs on every call."""
    return [
        graph.positions.contiguous(),
        graph.cell.contiguous(),
        graph.senders.contiguous(),
        graph.receivers.contiguous(),
        graph.cell_shifts.contiguous(),
        graph.batch.contiguous(),
        graph.atomic_numbers.contiguous(),
    ]


def _export(traced: torch.fx.GraphModule, inputs: tuple[Tensor, ...]) -> torch.export.ExportedProgram:
    single = inputs[1].shape[0] == 1
    with torch.no_grad():  # inductor freezes parameters only for graphs compiled without grad
        return torch.export.export(traced, inputs, dynamic_shapes=_dynamic_shapes(single), strict=False)


def _check_sizes_stay_symbolic(traced: torch.fx.GraphModule, single: bool) -> None:
    """Raise `SpecializedTraceError` if the trace turned the number of atoms, edges or
    (in a batch) structures into a constant: the graph would be wrong for other sizes."""
    shape_env = traced.shape_env
    placeholders = [node for node in traced.graph.nodes if node.op == "placeholder"]
    positions, cell, senders = (placeholders[_GRAPH_FIELDS.index(name)] for name in ("positions", "cell", "senders"))
    sizes = {"atoms": positions.meta["val"].shape[0], "edges": senders.meta["val"].shape[0]}
    if not single:
        sizes["structures"] = cell.meta["val"].shape[0]
    for name, size in sizes.items():
        expression = shape_env.simplify(size.node.expr) if isinstance(size, torch.SymInt) else sympy.Integer(size)
        if expression.is_number:
            raise SpecializedTraceError(
                f"tracing fixed the number of {name} to {expression}; the compiled graph would "
                "only fit that size (a model operation branches on it)"
            )

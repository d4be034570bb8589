"""Compiled inference: atomic energies and their first derivatives as one compiled graph.

`CompiledGradients` traces an atomic-energy function together with its autograd backward
pass (``make_fx``) into one graph of aten operations, then hands that graph straight to
inductor (`torch._inductor.standalone_compile`, the compiler behind `torch.compile`). At
run time there is no autograd engine, no dynamo guard and no Python between the kernels:
one call of inductor's C++ code gives the energies, ``dE/dpositions`` and
``dE/dstrain``. Sizes (atoms, edges, structures) stay symbolic, so one trace and one
compilation serve every system; a trace that fixed any of them is refused.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable

import sympy
import torch
import torch.fx.experimental._config as fx_config
from torch import Tensor
from torch.fx.experimental.proxy_tensor import make_fx

from ..data import AtomicGraph
from .derivatives import energies_and_gradients

__all__ = ["COMPILE_OPTIONS", "CompiledGradients", "SpecializedTraceError"]

#: inductor options of `CompiledGradients`. The C++ wrapper removes inductor's Python
#: launcher code between kernels. Freezing turns the parameters into constants of the
#: compiled graph and folds what depends on them alone (1.13-1.17x on one ethanol molecule,
#: the same from 108 atoms up). Its oneDNN weight prepacking gained nothing at these sizes
#: and more than doubled the compilation time (benchmarks/bench_compile_options.py).
COMPILE_OPTIONS: dict[str, object] = {"cpp_wrapper": True, "freezing": True, "cpp.weight_prepack": False}

#: ``(graph, positions, cell, *, species) -> atomic energies [n_atoms]``, in one piece
#: (like `EquivariantPotential.atomic_energies_of`)
SpeciesEnergyFunction = Callable[..., Tensor]

_GRAPH_FIELDS = ("positions", "cell", "senders", "receivers", "cell_shifts", "batch")


class SpecializedTraceError(RuntimeError):
    """The traced graph fixed a size (atoms, edges or structures) it should keep symbolic."""


def _graph_like(template: AtomicGraph, tensors: tuple[Tensor, ...]) -> AtomicGraph:
    # a shallow copy with traced fields: AtomicGraph's checks read values, which a trace has not
    graph = copy.copy(template)
    for name, tensor in zip(_GRAPH_FIELDS, tensors):
        setattr(graph, name, tensor)
    return graph


class CompiledGradients:
    """``(graph, species) -> (atomic energies [n_atoms] eV, dE/dpositions [n_atoms, 3] eV/Å,
    dE/dstrain [n_graphs, 3, 3] eV)`` of ``energy_function``, traced and compiled on first use.

    ``energy_function`` must treat its parameters as constants (an inference copy whose
    parameters do not require grad): they are baked into the trace. Single structures and
    batches get one trace each (edge vectors take another route for a batch). Tracing
    fixes sizes 0 and 1, so graphs with fewer than two atoms or edges are for the caller
    to run another way (`supports`). ``options`` are inductor's config patches (default
    `COMPILE_OPTIONS`).
    """

    def __init__(self, energy_function: SpeciesEnergyFunction, options: dict[str, object] | None = None):
        self.energy_function = energy_function
        self.options = dict(COMPILE_OPTIONS if options is None else options)
        self._compiled: dict[bool, Callable[..., tuple[Tensor, Tensor, Tensor]]] = {}

    @staticmethod
    def supports(graph: AtomicGraph) -> bool:
        """Whether ``graph`` has the sizes a symbolic trace keeps symbolic (at least two
        atoms and two edges)."""
        return graph.n_atoms >= 2 and graph.n_edges >= 2

    def __call__(self, graph: AtomicGraph, species: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        single = graph.n_graphs == 1
        inputs = tuple(getattr(graph, name) for name in _GRAPH_FIELDS) + (species,)
        if single not in self._compiled:
            self._compiled[single] = _compile(self._trace(graph, inputs), inputs, self.options)
        return self._compiled[single](*inputs)

    def _trace(self, template: AtomicGraph, inputs: tuple[Tensor, ...]) -> torch.fx.GraphModule:
        def traced_energies_and_gradients(*tensors: Tensor) -> tuple[Tensor, Tensor, Tensor | None]:
            graph, species = _graph_like(template, tensors[:-1]), tensors[-1]
            energy_function = functools.partial(self.energy_function, species=species)
            with torch.enable_grad():
                return energies_and_gradients(energy_function, graph, want_virial=True, create_graph=False)

        # without duck shaping, equal sizes (3 structures and xyz, say) keep separate symbols
        with fx_config.patch(use_duck_shape=False):
            traced = make_fx(traced_energies_and_gradients, tracing_mode="symbolic", _allow_non_fake_inputs=True)(*inputs)
        _check_sizes_stay_symbolic(traced, template.n_graphs == 1)
        return traced


def _compile(
    traced: torch.fx.GraphModule, inputs: tuple[Tensor, ...], options: dict[str, object]
) -> Callable[..., tuple[Tensor, Tensor, Tensor]]:
    """Inductor's code for ``traced``, with the trace's symbolic sizes. Straight to inductor,
    not through `torch.compile`: dynamo's guards and wrappers would add ~0.6 ms per call
    (a third of a call on a small molecule), and the trace has been checked already."""
    try:
        from torch._inductor import standalone_compile
    except ImportError as error:
        raise RuntimeError(
            f"compiled inference needs torch._inductor.standalone_compile (torch 2.8 or later; this is "
            f"torch {torch.__version__})"
        ) from error
    with torch.no_grad():  # inductor freezes parameters only for graphs compiled without grad
        return standalone_compile(traced, list(inputs), dynamic_shapes="from_graph", options={"config_patches": options})


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

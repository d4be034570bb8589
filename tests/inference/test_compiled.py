"""`CompiledPotential`: energy, forces and stress of a model as one compiled graph.

One compiled model (float64, small) serves the whole module: compiling takes ~20-60 s.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk, molecule

import equipot.inference.compiled as compiled_module
from equipot import AtomicGraph, EquipotCalculator, EquivariantPotential, graph_from_atoms
from equipot.data import batch_graphs
from equipot.inference import CompiledPotential
from equipot.inference.compiled import COMPILE_OPTIONS, CompiledGradients, SpecializedTraceError
from equipot.inference.compiled import _compile as compile_traced
from equipot.models import PairRepulsion, UnknownElementError
from equipot.testing import (
    assert_equivariant,
    assert_forces_match_finite_differences,
    assert_stress_match_finite_differences,
)

OUTPUTS = ("energy", "forces", "stress")


def _model() -> EquivariantPotential:
    torch.manual_seed(0)
    model = EquivariantPotential(
        species=["H", "C", "O", "Cu"], cutoff=4.0, num_channels=8, correlation=2, dtype=torch.float64
    )
    model.set_normalization(avg_num_neighbors=10.0, scale=0.5, shift=-1.0)
    return model.eval()


@pytest.fixture(scope="module")
def models() -> tuple[EquivariantPotential, CompiledPotential]:
    eager = _model()
    return eager, CompiledPotential(eager)


def _structures() -> list:
    ethanol = molecule("CH3CH2OH")
    ethanol.rattle(0.02, seed=1)
    copper = bulk("Cu", "fcc", a=3.61, cubic=True) * (2, 2, 2)
    copper.rattle(0.05, seed=2)
    water = molecule("H2O")
    return [ethanol, copper, water]


@pytest.mark.filterwarnings("error::RuntimeWarning")  # a failed compilation would fall back
def test_compiled_equals_eager_on_any_size_without_recompiling(models, monkeypatch: pytest.MonkeyPatch) -> None:
    """A 9-atom molecule, a 32-atom crystal (with stress) and a 3-atom molecule: at most
    one compilation (none if an earlier test compiled already) serves all three."""
    eager, compiled = models
    assert compiled.is_compiled and not isinstance(eager, CompiledPotential)
    assert not any(p.requires_grad for p in compiled.parameters())
    assert all(p.requires_grad for p in eager.parameters())  # the wrapped model is a copy
    compilations = []

    def counted_compile(*args):
        compilations.append(args)
        return compile_traced(*args)

    monkeypatch.setattr(compiled_module, "_compile", counted_compile)
    for atoms in _structures():
        graph = graph_from_atoms(atoms, eager.cutoff)
        outputs = OUTPUTS if atoms.pbc.all() else ("energy", "forces")
        fast, reference = compiled(graph, outputs=outputs), eager(graph, outputs=outputs)
        for name in outputs:
            torch.testing.assert_close(getattr(fast, name), getattr(reference, name), rtol=1e-10, atol=1e-12)
    assert len(compilations) <= 1


@pytest.mark.filterwarnings("error::RuntimeWarning")  # a failed compilation would fall back
def test_compiled_batches_and_tiny_graphs_equal_eager(models) -> None:
    """A batch of two structures gets its own trace; a lone atom (no edges) runs eagerly."""
    eager, compiled = models
    ethanol, copper, _ = _structures()
    batch = batch_graphs([graph_from_atoms(ethanol, eager.cutoff), graph_from_atoms(copper, eager.cutoff)])
    single_atom = graph_from_atoms(Atoms("Cu", positions=[[0.0, 0.0, 0.0]]), eager.cutoff)
    assert not CompiledGradients.supports(single_atom)
    for graph in (batch, single_atom):
        fast, reference = compiled(graph, outputs=OUTPUTS), eager(graph, outputs=OUTPUTS)
        for name in OUTPUTS:
            torch.testing.assert_close(getattr(fast, name), getattr(reference, name), rtol=1e-10, atol=1e-12)


def test_a_trace_that_fixes_a_size_is_refused() -> None:
    """An energy function that branches on the number of atoms would give a graph for that
    size only: tracing says so instead of compiling it."""

    def branching_energies(graph: AtomicGraph, positions: torch.Tensor, cell: torch.Tensor, species) -> torch.Tensor:
        scale = 2.0 if positions.shape[0] == 9 else 1.0
        return scale * (positions**2).sum(-1)

    graph = graph_from_atoms(_structures()[0], 4.0)
    with pytest.raises(SpecializedTraceError, match="number of atoms to 9"):
        CompiledGradients(branching_energies, torch.zeros_like)(graph)


@pytest.mark.filterwarnings("error::RuntimeWarning")  # a failed compilation would fall back
def test_compiled_copy_names_an_unknown_element_and_stays_compiled(models) -> None:
    """The species lookup runs inside the compiled graph; an element the model does not
    know raises the same error as the eager model, and the next call is compiled again."""
    eager, compiled = models
    ammonia = graph_from_atoms(molecule("NH3"), eager.cutoff)
    for model in (eager, compiled):
        with pytest.raises(UnknownElementError, match=r"element N \(Z=7\)"):
            model(ammonia, outputs=("energy", "forces"))
    assert compiled.is_compiled
    water = graph_from_atoms(_structures()[2], eager.cutoff)
    torch.testing.assert_close(compiled(water).forces, eager(water).forces, rtol=1e-10, atol=1e-12)


@pytest.mark.filterwarnings("error::RuntimeWarning")
def test_compiled_takes_strided_tensors(models) -> None:
    """Positions that are a view with other strides (a transposed array, say) give the
    same results: the compiled code gets dense copies."""
    eager, compiled = models
    graph = graph_from_atoms(_structures()[1], eager.cutoff)
    graph.positions = graph.positions.t().contiguous().t()
    assert not graph.positions.is_contiguous()
    fast, reference = compiled(graph, outputs=OUTPUTS), eager(graph, outputs=OUTPUTS)
    for name in OUTPUTS:
        torch.testing.assert_close(getattr(fast, name), getattr(reference, name), rtol=1e-10, atol=1e-12)


def _count_compilations(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    import torch._inductor

    compilations: list[str] = []
    compile_package = torch._inductor.aoti_compile_and_package

    def counted(*args, **kwargs):
        compilations.append(kwargs["package_path"])
        return compile_package(*args, **kwargs)

    monkeypatch.setattr(torch._inductor, "aoti_compile_and_package", counted)
    return compilations


@pytest.mark.filterwarnings("error::RuntimeWarning")
def test_a_second_copy_loads_the_compiled_library_from_the_cache(models, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another compiled copy of the same model (a new process, say) loads the library
    compiled for the first from the cache: the same results, no compilation."""
    eager, compiled = models
    graph = graph_from_atoms(_structures()[0], eager.cutoff)
    compiled(graph)  # compiled now, unless an earlier test did
    compilations = _count_compilations(monkeypatch)
    second = CompiledPotential(eager)
    torch.testing.assert_close(second(graph).forces, compiled(graph).forces, rtol=0, atol=0)
    assert second.is_compiled and compilations == []


class _Tiny(torch.nn.Module):
    def __init__(self, scale: float):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.tensor(scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale * x.sin()


def test_compile_cache_keys_on_weights_and_rebuilds_a_broken_file(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """The cache key follows the weights; a cached file that does not load is compiled
    again, with a warning, and replaced."""
    from equipot.inference.compile_cache import cache_directory, cached_package, program_key

    monkeypatch.setenv("EQUIPOT_CACHE_DIR", str(tmp_path))
    x = torch.linspace(0.0, 1.0, 5)
    programs = [torch.export.export(_Tiny(scale), (x,)) for scale in (2.0, 2.0, 3.0)]
    keys = [program_key(program, {}) for program in programs]
    assert keys[0] == keys[1] != keys[2]
    compilations = _count_compilations(monkeypatch)
    torch.testing.assert_close(cached_package(programs[0], {})(x), 2.0 * x.sin())
    torch.testing.assert_close(cached_package(programs[1], {})(x), 2.0 * x.sin())
    assert len(compilations) == 1
    (package,) = cache_directory().glob("*.pt2")
    package.write_bytes(b"not a package")
    with pytest.warns(RuntimeWarning, match="does not load"):
        torch.testing.assert_close(cached_package(programs[0], {})(x), 2.0 * x.sin())
    assert len(compilations) == 2 and [path.name for path in cache_directory().glob("*")] == [package.name]


def test_compiled_is_equivariant_and_conservative(models) -> None:
    _, compiled = models
    ethanol, copper, _ = _structures()
    assert_equivariant(compiled, ethanol, ("energy", "forces"))
    assert_equivariant(compiled, copper, OUTPUTS)
    assert_forces_match_finite_differences(compiled, copper)
    assert_stress_match_finite_differences(compiled, copper)


def test_compiled_copy_leaves_second_derivatives_to_the_eager_path(models) -> None:
    """create_graph (Hessians) runs eagerly and still differentiates twice."""
    eager, compiled = models
    graph = graph_from_atoms(_structures()[0], eager.cutoff)
    out = compiled(graph, outputs={"forces"}, create_graph=True)
    assert out.forces.requires_grad
    torch.testing.assert_close(out.forces.detach(), eager(graph, outputs={"forces"}).forces, rtol=1e-10, atol=1e-12)


def test_calculator_compile_option(models) -> None:
    eager, _ = models
    atoms = _structures()[1]
    reference = atoms.copy()
    reference.calc = EquipotCalculator(eager)
    atoms.calc = EquipotCalculator(eager, compile=True)
    assert isinstance(atoms.calc.model, CompiledPotential) and atoms.calc.model.is_compiled
    np.testing.assert_allclose(atoms.get_forces(), reference.get_forces(), rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(atoms.get_stress(), reference.get_stress(), rtol=1e-9, atol=1e-12)


def test_failed_compilation_warns_and_runs_eagerly() -> None:
    """Without a working C++ compiler inductor cannot build its kernels: the copy says so
    once and gives the eager results.

    Inductor's settings are changed with its own ``config.patch``, which restores them:
    pytest's monkeypatch would delete them on undo (pytest 9.2 restores the instance
    ``__dict__`` entry, which inductor's config module does not have), and every later
    compilation in the process would fail."""
    import torch._inductor.config as inductor_config

    torch.manual_seed(1)  # a smaller model than the fixture's: inductor lowers it, then fails sooner
    eager = EquivariantPotential(
        species=["H", "C", "O", "Cu"], cutoff=4.0, num_channels=4, lmax=1, num_layers=1, correlation=1, dtype=torch.float64
    ).eval()
    compiled = CompiledPotential(eager)
    graph = graph_from_atoms(_structures()[2], eager.cutoff)
    no_compiler = {"cpp.cxx": ("/nonexistent/c++",), "fx_graph_cache": False}
    with inductor_config.patch(no_compiler), pytest.warns(RuntimeWarning, match="compiling the model failed"):
        out = compiled(graph, outputs={"energy", "forces"})
    assert not compiled.is_compiled and "compiling the model failed" in compiled.fallback_reason
    torch.testing.assert_close(out.forces, eager(graph, outputs={"forces"}).forces, rtol=1e-12, atol=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # once: later calls run the eager model quietly
        again = compiled(graph, outputs={"energy", "forces"})
    torch.testing.assert_close(again.forces, out.forces, rtol=0, atol=0)


def test_compiled_potential_takes_its_options_and_only_equivariant_potentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Options are given, not read from global state; a graph over ``max_edge_channels``
    runs eagerly without compiling; a potential it cannot trace is refused."""
    eager = _model()
    options = {**COMPILE_OPTIONS, "freezing": False}
    compiled = CompiledPotential(eager, options=options, max_edge_channels=1000)
    assert compiled.gradients.options == options and compiled.max_edge_channels == 1000
    assert CompiledPotential(eager).gradients.options == COMPILE_OPTIONS
    assert (compiled.cutoff, compiled.species, compiled.dtype, compiled.output_specs()) == (
        eager.cutoff, eager.species, eager.dtype, {}
    )
    monkeypatch.setattr(compiled_module, "_compile", lambda *args: pytest.fail("compiled a graph over max_edge_channels"))
    graph = graph_from_atoms(_structures()[1], eager.cutoff)
    assert graph.n_edges * 8 > 1000
    fast, reference = compiled(graph, outputs=OUTPUTS), eager(graph, outputs=OUTPUTS)
    for name in OUTPUTS:
        torch.testing.assert_close(getattr(fast, name), getattr(reference, name), rtol=1e-10, atol=1e-12)
    with pytest.raises(TypeError, match="CompiledPotential compiles an EquivariantPotential, got PairRepulsion"):
        CompiledPotential(PairRepulsion(["H"]))


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """torch's intra-op thread count set to ``count`` inside, the previous one after."""
    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.filterwarnings("error::RuntimeWarning")  # a failed compilation would fall back
def test_compiled_works_at_any_thread_count(threads: int) -> None:
    """At 2 threads inductor's C++ generator failed on the single-structure energy sum (an
    AssertionError, then an eager fallback). One compilation per count (the 1-thread one is
    the fixture's, from the compile cache) serves a molecule and a periodic cell with stress."""
    eager = _model()  # the fixture's model: same program, same cached library at 1 thread
    copper = bulk("Cu", "fcc", a=3.61, cubic=True)
    copper.rattle(0.05, seed=3)
    ethanol = molecule("CH3CH2OH")
    with torch_threads(threads):
        compiled = CompiledPotential(eager)
        for atoms, outputs in ((ethanol, ("energy", "forces")), (copper, OUTPUTS)):
            graph = graph_from_atoms(atoms, eager.cutoff)
            fast, reference = compiled(graph, outputs=outputs), eager(graph, outputs=outputs)
            for name in outputs:
                torch.testing.assert_close(getattr(fast, name), getattr(reference, name), rtol=1e-10, atol=1e-12)
        assert compiled.is_compiled

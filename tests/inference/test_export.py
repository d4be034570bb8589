"""`equipot export` / `equipot.export_model`: a model compiled ahead of time into a .pt2
that loads ready to run through the explicit `load_exported` (``--exported`` on the command
line); `load_model` refuses it. One export (two compilations of a small model) serves the module."""

from __future__ import annotations

import warnings

import ase.io
import numpy as np
import pytest
import torch
from ase.build import bulk, molecule
from typer.testing import CliRunner

import equipot.inference.compiled as compiled_module
from equipot import EquipotCalculator, EquivariantPotential, graph_from_atoms, load_model, save_model
from equipot.cli.main import app
from equipot.data import batch_graphs
from equipot.inference import CompiledPotential, load_exported
from equipot.models.io import ModelFileError
from equipot.simulate import load_calculator
from equipot.testing import (
    assert_equivariant,
    assert_forces_match_finite_differences,
    assert_stress_match_finite_differences,
)

OUTPUTS = ("energy", "forces", "stress")


def _model() -> EquivariantPotential:
    torch.manual_seed(3)
    # small (one layer, l <= 1): the export mechanism is what is tested here; test_compiled
    # covers the compiled programs of a deeper model
    model = EquivariantPotential(
        species=["H", "C", "O", "Cu"], cutoff=4.0, num_channels=8, lmax=1, num_layers=1, correlation=2, dtype=torch.float64
    )
    model.set_normalization(avg_num_neighbors=10.0, scale=0.6, shift=-0.5)
    return model.eval()


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> tuple[EquivariantPotential, object]:
    """The model, its file, and the .pt2 that ``equipot export`` wrote for it."""
    directory = tmp_path_factory.mktemp("export")
    model = _model()
    model_path = save_model(model, directory / "model.pt")
    threads = torch.get_num_threads()
    result = CliRunner().invoke(app, ["export", str(model_path), "--threads", "1"])
    torch.set_num_threads(threads)  # the command sets the count of its process; the suite's comes back
    assert result.exit_code == 0, result.output
    assert "wrote" in result.output
    return model, directory / "model.pt2"


def _structures() -> list:
    ethanol = molecule("CH3CH2OH")
    ethanol.rattle(0.02, seed=4)
    copper = bulk("Cu", "fcc", a=3.61, cubic=True) * (2, 2, 1)
    copper.rattle(0.05, seed=5)
    return [ethanol, copper]


@pytest.mark.filterwarnings("error::RuntimeWarning")
def test_an_export_loads_compiled_and_equals_the_model_on_structures_and_batches(exported, monkeypatch) -> None:
    """Loading traces and compiles nothing; molecules, crystals (with stress) and a batch
    of both equal the eager model."""
    model, path = exported
    monkeypatch.setattr(compiled_module, "_compile", lambda *args: pytest.fail("a loaded export compiled"))
    loaded = load_exported(path)
    assert isinstance(loaded, CompiledPotential) and loaded.is_compiled and loaded.dtype == torch.float64
    graphs = [graph_from_atoms(atoms, model.cutoff) for atoms in _structures()]
    for graph in [*graphs, batch_graphs(graphs)]:
        fast, reference = loaded(graph, outputs=OUTPUTS), model(graph, outputs=OUTPUTS)
        for name in OUTPUTS:
            torch.testing.assert_close(getattr(fast, name), getattr(reference, name), rtol=1e-10, atol=1e-12)
    hessian_forces = loaded(graphs[0], outputs={"forces"}, create_graph=True).forces  # eager, on the embedded model
    assert hessian_forces.requires_grad


def test_a_loaded_export_is_equivariant_and_conservative(exported) -> None:
    _, path = exported
    loaded = load_exported(path)
    ethanol, copper = _structures()
    assert_equivariant(loaded, ethanol, ("energy", "forces"))
    assert_equivariant(loaded, copper, OUTPUTS)
    assert_forces_match_finite_differences(loaded, copper)
    assert_stress_match_finite_differences(loaded, copper)


def test_an_export_runs_in_the_calculator_and_md(exported, tmp_path) -> None:
    model, path = exported
    atoms = _structures()[1]
    atoms.calc = load_calculator(path, exported=True)
    reference = model(graph_from_atoms(atoms, model.cutoff), outputs=OUTPUTS)
    np.testing.assert_allclose(atoms.get_forces(), reference.forces.numpy(), rtol=1e-9, atol=1e-10)
    assert isinstance(atoms.calc.model, CompiledPotential) and atoms.calc.model.is_compiled
    structure = tmp_path / "cu.xyz"
    ase.io.write(structure, atoms)
    command = ["md", str(path), str(structure), "--steps", "5", "--out-dir", str(tmp_path / "md"), "--no-progress"]
    result = CliRunner().invoke(app, [*command, "--exported"])
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(app, command)  # a .pt2 runs machine code: never without --exported
    assert result.exit_code == 2 and "runs machine code when loaded. Pass --exported" in " ".join(result.output.split())


def test_load_model_refuses_an_export_and_names_the_explicit_call(exported, monkeypatch) -> None:
    import torch.export.pt2_archive._package as pt2_package

    _, path = exported
    monkeypatch.setattr(pt2_package, "load_pt2", lambda *args, **kwargs: pytest.fail("loaded the archive's code"))
    for load in (load_model, EquipotCalculator.from_file):
        with pytest.raises(ModelFileError, match=r"holds machine code.*equipot.inference.load_exported\(path\)"):
            load(path)
    with pytest.raises(ValueError, match="loads a .pt2 export made by `equipot export`"):
        load_calculator(path.with_suffix(".pt"), exported=True)


def test_an_export_in_another_dtype_runs_its_model_eagerly_with_a_warning(exported) -> None:
    model, path = exported
    with pytest.warns(RuntimeWarning, match="compiled in float64; running its model eagerly in float32"):
        loaded = load_exported(path, dtype=torch.float32)
    assert not isinstance(loaded, CompiledPotential) and loaded.dtype == torch.float32
    graph = graph_from_atoms(_structures()[0], model.cutoff)
    torch.testing.assert_close(loaded(graph).forces.double(), model(graph).forces, rtol=1e-4, atol=1e-5)


def test_an_export_for_another_device_or_thread_count_says_so(exported, monkeypatch) -> None:
    import equipot.inference.export as export_module

    _, path = exported
    original = export_module.json.loads
    monkeypatch.setattr(export_module.json, "loads", lambda text: {**original(text), "device": "cuda"})
    with pytest.raises(ModelFileError, match="compiled for cuda, not cpu; export the model again with --device cpu"):
        load_exported(path)
    monkeypatch.undo()
    with pytest.MonkeyPatch.context() as patch, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        patch.setattr(torch, "get_num_threads", lambda: 2)
        load_exported(path)
    assert any("compiled for 1 threads and this process runs 2" in str(warning.message) for warning in caught)


def test_files_that_are_not_exports_get_a_clear_error_before_any_code_runs(exported, tmp_path, monkeypatch) -> None:
    """Garbage, and a .pt2 archive that is not an equipot export, are refused from the
    archive's listing: the compiled code in it is never loaded."""
    import zipfile

    import torch.export.pt2_archive._package as pt2_package

    model, path = exported
    monkeypatch.setattr(pt2_package, "load_pt2", lambda *args, **kwargs: pytest.fail("loaded the archive's code"))
    garbage = tmp_path / "garbage.pt2"
    garbage.write_bytes(b"not an archive")
    foreign = tmp_path / "foreign.pt2"
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(foreign, "w") as target:
        for name in source.namelist():
            if "/extra/" not in name:
                target.writestr(name, source.read(name))
    for not_an_export in (garbage, foreign):
        with pytest.raises(ModelFileError, match="not an equipot export.*equipot export MODEL.pt"):
            load_exported(not_an_export)
    with pytest.raises(ModelFileError, match="does not exist"):
        load_exported(tmp_path / "missing.pt2")
    with pytest.raises(ValueError, match="an exported model is a .pt2 file"):
        equipot_export = __import__("equipot").export_model
        equipot_export(model, tmp_path / "model.pt")
    result = CliRunner().invoke(app, ["export", str(tmp_path / "missing.pt")])
    assert result.exit_code == 2 and "does not exist" in result.output
    model_path = save_model(model, tmp_path / "model.pt")
    result = CliRunner().invoke(app, ["export", str(model_path), "--dtype", "float16"])
    assert result.exit_code == 2 and "--dtype must be one of ['float32', 'float64'], got 'float16'" in result.output

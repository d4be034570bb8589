"""Invariant features for downstream ML, and the commands that use the estimators:
``equipot features``, ``equipot uncertainty fit``, ``equipot md --on-extrapolation``."""

from __future__ import annotations

import json

import ase.io
import numpy as np
import pytest
import torch
from ase.build import molecule
from typer.testing import CliRunner

from equipot import EquivariantPotential, save_model
from equipot.cli.main import app
from equipot.data import graph_from_atoms
from equipot.data.shipped import read_shipped_dataset
from equipot.testing import permute_atoms, random_rotation, rotate_atoms, translate_atoms
from equipot import load_potential
from equipot.uq import UncertaintyPotential, invariant_features
from equipot.uq.features import model_features


@pytest.fixture(scope="module")
def model() -> EquivariantPotential:
    torch.manual_seed(0)
    model = EquivariantPotential(species=["H", "C", "O"], cutoff=4.0, num_channels=6, lmax=1, num_layers=2,
                                 readout_hidden=4, dtype=torch.float64)
    # as training would: sums normalized by the mean neighbor count (8 in ethanol within 4 Å);
    # at the default 1 the untrained features grow as powers of 8 through the products
    model.set_normalization(avg_num_neighbors=8.0)
    return model


def test_model_features_reproduce_the_model_energies(model) -> None:
    graph = graph_from_atoms(molecule("CH3CH2OH"), model.cutoff)
    features = model_features(model, graph, graph.positions, graph.cell)
    assert torch.allclose(features.atomic_energies, model(graph, outputs={"energy"}).atomic_energies, rtol=1e-12)
    assert features.descriptors.shape == (9, 6) and features.last_layer.shape == (9, 6 + 4)


def test_model_features_reproduce_the_energies_of_a_model_with_a_density_embedding() -> None:
    torch.manual_seed(1)
    model = EquivariantPotential(species=["H", "C", "O"], cutoff=4.0, num_channels=6, lmax=1, num_layers=1,
                                 density_embedding={"decay_rates": [2.0], "hidden": 4}, dtype=torch.float64)
    with torch.no_grad():
        model.density_readout.out_weight.normal_()
    graph = graph_from_atoms(molecule("CH3CH2OH"), model.cutoff)
    features = model_features(model, graph, graph.positions, graph.cell)
    assert torch.allclose(features.atomic_energies, model(graph, outputs={"energy"}).atomic_energies, rtol=1e-12)


def test_features_are_invariant_under_rotations_reflections_translations_permutations(model) -> None:
    atoms = molecule("CH3CH2OH")
    atoms.rattle(0.05, seed=1)
    per_atom, per_structure = invariant_features(model, atoms)
    rng = np.random.default_rng(0)
    for improper in (False, True):
        moved = translate_atoms(rotate_atoms(atoms, random_rotation(rng, improper=improper)), np.array([0.3, -1.2, 2.0]))
        got_atom, got_structure = invariant_features(model, moved)
        assert np.allclose(got_atom, per_atom, atol=1e-10) and np.allclose(got_structure, per_structure, atol=1e-10)
    order = rng.permutation(len(atoms))
    got_atom, got_structure = invariant_features(model, permute_atoms(atoms, order))
    assert np.allclose(got_atom, per_atom[order], atol=1e-10) and np.allclose(got_structure, per_structure, atol=1e-10)


def test_batches_and_reductions(model) -> None:
    frames = [molecule("CH3CH2OH"), molecule("H2O"), molecule("CH4")]
    per_atom, mean = invariant_features(model, frames, batch_size=2)
    _, total = invariant_features(model, frames, reduce="sum")
    assert per_atom.shape == (9 + 3 + 5, 6) and mean.shape == (3, 6)
    assert np.allclose(mean[1], per_atom[9:12].mean(0)) and np.allclose(total[2], per_atom[12:].sum(0))
    with pytest.raises(ValueError, match="reduce must be 'mean' or 'sum'"):
        invariant_features(model, frames, reduce="max")
    with pytest.raises(TypeError, match="features come from an EquivariantPotential"):
        invariant_features(object(), frames)


def test_the_commands_fit_estimators_write_features_and_stop_md(model, tmp_path) -> None:
    runner = CliRunner()
    model_path = save_model(model, tmp_path / "model.pt")
    frames = read_shipped_dataset("ethanol", index="0:24:2")
    ase.io.write(tmp_path / "train.xyz", frames[:8])
    ase.io.write(tmp_path / "valid.xyz", frames[8:])
    fitted = tmp_path / "model_uq.pt"
    result = runner.invoke(app, ["uncertainty", "fit", str(model_path), str(tmp_path / "train.xyz"),
                                 "--valid", str(tmp_path / "valid.xyz"), "-o", str(fitted)])
    assert result.exit_code == 0, result.output
    assert "validation (4 structures)" in result.output
    potential = load_potential(fitted)
    assert isinstance(potential, UncertaintyPotential) and {"energy_std", "extrapolating"} <= set(potential.output_specs())

    result = runner.invoke(app, ["features", str(fitted), str(tmp_path / "valid.xyz"), "-o", str(tmp_path / "f.npz")])
    assert result.exit_code == 0, result.output
    saved = np.load(tmp_path / "f.npz")
    assert saved["per_atom"].shape == (36, 6) and saved["per_structure"].shape == (4, 6)
    assert np.allclose(saved["per_structure"], invariant_features(model, frames[8:])[1])

    squeezed = frames[0].copy()
    squeezed.positions *= 0.8
    ase.io.write(tmp_path / "squeezed.xyz", squeezed)
    out_dir = tmp_path / "md"
    result = runner.invoke(app, ["md", str(fitted), str(tmp_path / "squeezed.xyz"), "--steps", "3", "--no-progress",
                                 "--on-extrapolation", "stop", "--out-dir", str(out_dir)])
    assert result.exit_code == 3, result.output
    assert "the model extrapolates at step 0" in result.output and (out_dir / "extrapolating_frames.xyz").exists()
    assert json.loads((out_dir / "uncertainty_summary.json").read_text())["flagged_steps"] == [0]

    result = runner.invoke(app, ["md", str(model_path), str(tmp_path / "squeezed.xyz"), "--steps", "2",
                                 "--no-progress", "--max-uncertainty", "0.1", "--out-dir", str(out_dir)])
    assert result.exit_code == 2 and "the model gives no uncertainty" in result.output

    result = runner.invoke(app, ["uncertainty", "fit", str(model_path), str(tmp_path / "train.xyz"), "-o", str(model_path)])
    assert result.exit_code == 2 and "would overwrite the model it reads" in result.output

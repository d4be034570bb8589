"""Relaxations, NEB bands and phonons watched by an `UncertaintyMonitor` (issue 19, part 5):
a squeezed structure is flagged and stops the run with its frame written out; a training-like
one is not flagged and the summaries report the largest uncertainty seen."""

from __future__ import annotations

import json
import warnings

import ase.io
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from equipot import EquipotCalculator, EquivariantPotential, save_model
from equipot.cli.main import app
from equipot.data import GraphDataset
from equipot.data.shipped import read_shipped_dataset
from equipot.properties import phonons
from equipot.properties.stability import InstabilityWarning
from equipot.simulate import ExtrapolationError, ExtrapolationWarning, UncertaintyMonitor, relax, run_neb
from equipot.uq import UncertaintyPotential, fit_descriptor_distances, save_uncertainty_model


@pytest.fixture(scope="module")
def fitted():
    torch.manual_seed(0)
    model = EquivariantPotential(species=["H", "C", "O"], cutoff=4.0, num_channels=6, lmax=1, num_layers=1,
                                 readout_hidden=4, dtype=torch.float64)
    # as training would: sums normalized by the mean neighbor count (8 in ethanol within 4 Å);
    # at the default 1 the untrained features grow as powers of 8 through the products
    model.set_normalization(avg_num_neighbors=8.0)
    train = GraphDataset(read_shipped_dataset("ethanol", index="0:40:2"), model.cutoff).graphs
    distances = fit_descriptor_distances(model, train, percentile=99.0)
    return model, UncertaintyPotential(model, descriptors=distances), float(distances.nearest_threshold)


def _ethanol(index: int = 0, squeeze: float = 1.0, box: float | None = None):
    atoms = read_shipped_dataset("ethanol", index=index)
    atoms.positions *= squeeze
    if box is not None:  # a molecule in a periodic box, for phonons
        atoms.cell = np.eye(3) * box
        atoms.pbc = True
        atoms.center()
    return atoms


def _monitor(atoms, potential, on_extrapolation, frames_file=None):
    atoms.calc = EquipotCalculator(potential)
    return UncertaintyMonitor(atoms, on_extrapolation=on_extrapolation, frames_file=frames_file)


def test_relax_stops_on_a_squeezed_structure_and_not_on_a_training_one(fitted, tmp_path) -> None:
    _, potential, threshold = fitted
    calm = _ethanol(0)
    monitor = _monitor(calm, potential, "stop", tmp_path / "calm.xyz")
    result = relax(calm, fmax=1e-6, max_steps=2, monitor=monitor)
    assert result.uncertainty is not None and result.uncertainty["flagged"] == []
    assert result.uncertainty["steps_checked"] == 3  # before the first step and after each of 2
    assert 0.0 < result.uncertainty["max_seen"]["max_descriptor_distance"] < threshold
    assert result.to_dict()["uncertainty"]["steps_checked"] == 3 and not (tmp_path / "calm.xyz").exists()

    squeezed = _ethanol(0, squeeze=0.8)
    monitor = _monitor(squeezed, potential, "stop", tmp_path / "squeezed.xyz")
    with pytest.raises(ExtrapolationError, match=r"extrapolates at relaxation step 0: max descriptor distance"):
        relax(squeezed, fmax=1e-6, max_steps=5, monitor=monitor)
    written = ase.io.read(tmp_path / "squeezed.xyz", index=":")
    assert len(written) == 1 and np.allclose(written[0].positions, _ethanol(0, squeeze=0.8).positions)
    assert monitor.summary()["max_seen"]["max_descriptor_distance"] > threshold

    warned = _ethanol(0, squeeze=0.8)
    monitor = _monitor(warned, potential, "warn")
    with pytest.warns(ExtrapolationWarning, match="relaxation step 0"):
        result = relax(warned, fmax=1e-6, max_steps=1, monitor=monitor)
    assert result.uncertainty["flagged"] == ["relaxation step 0", "relaxation step 1"]


def test_neb_checks_every_image_of_the_band(fitted, tmp_path) -> None:
    _, potential, threshold = fitted
    start, end = _ethanol(0), _ethanol(2)
    monitor = _monitor(start.copy(), potential, "stop")
    result = run_neb(start, end, EquipotCalculator(potential), n_images=1, climb=False, relax_endpoints=False, max_steps=1, fmax=1e-6,
                     interpolate="linear", monitor=monitor)
    assert result.uncertainty["flagged"] == [] and result.uncertainty["steps_checked"] == 2 * 3  # 2 checks x 3 images
    assert result.uncertainty["max_seen"]["max_descriptor_distance"] < threshold

    monitor = _monitor(start.copy(), potential, "stop", tmp_path / "band.xyz")
    with pytest.raises(ExtrapolationError, match=r"extrapolates at band step 0, image 1: max descriptor distance"):
        run_neb(start, _ethanol(0, squeeze=0.8), EquipotCalculator(potential), n_images=1, climb=False, relax_endpoints=False,
                max_steps=2, interpolate="linear", monitor=monitor)
    # the moving image halfway to the squeezed end point (linear interpolation) is itself squeezed by 0.9
    assert np.allclose(ase.io.read(tmp_path / "band.xyz").positions, _ethanol(0, squeeze=0.9).positions)


def test_phonons_with_the_exact_hessian_check_the_structure_once(fitted) -> None:
    _, potential, _ = fitted
    calm = _ethanol(0, box=12.0)
    monitor = _monitor(calm.copy(), potential, "stop")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InstabilityWarning)  # an untrained model's molecule in a box
        result = phonons(potential, calm, supercell=(1, 1, 1), exact_hessian=True, check=monitor.observe)
    assert result.checked == ["structure (exact Hessian: checked once)"] and monitor.summary()["steps_checked"] == 1
    monitor = _monitor(calm.copy(), potential, "stop")
    with pytest.raises(ExtrapolationError, match=r"extrapolates at structure \(exact Hessian: checked once\)"):
        phonons(potential, _ethanol(0, squeeze=0.8, box=12.0), supercell=(1, 1, 1), exact_hessian=True,
                check=monitor.observe)


def test_the_commands_stop_on_a_squeezed_structure(fitted, tmp_path) -> None:
    model, potential, _ = fitted
    runner = CliRunner()
    uq_path = save_uncertainty_model(potential, tmp_path / "model_uq.pt")
    plain_path = save_model(model, tmp_path / "model.pt")
    ase.io.write(tmp_path / "calm.xyz", _ethanol(0))
    ase.io.write(tmp_path / "squeezed.xyz", _ethanol(0, squeeze=0.8))
    ase.io.write(tmp_path / "boxed.xyz", _ethanol(0, squeeze=0.8, box=12.0))

    result = runner.invoke(app, ["relax", str(uq_path), str(tmp_path / "calm.xyz"), "--max-steps", "2", "--fmax", "1e-6",
                                 "--no-progress", "--on-extrapolation", "stop", "--output", str(tmp_path / "relax" / "relaxed.xyz")])
    assert result.exit_code == 0, result.output
    assert "largest uncertainty seen over 3 structures checked: extrapolating 0, max_descriptor_distance" in result.output and "nothing flagged" in result.output

    out = tmp_path / "relax_squeezed"
    result = runner.invoke(app, ["relax", str(uq_path), str(tmp_path / "squeezed.xyz"), "--no-progress",
                                 "--on-extrapolation", "stop", "--output", str(out / "relaxed.xyz")])
    assert result.exit_code == 3, result.output
    assert "extrapolates at relaxation step 0" in result.output and (out / "extrapolating_frames.xyz").exists()
    assert json.loads((out / "uncertainty_summary.json").read_text())["flagged"] == ["relaxation step 0"]

    out = tmp_path / "neb"
    result = runner.invoke(app, ["neb", str(uq_path), str(tmp_path / "calm.xyz"), str(tmp_path / "squeezed.xyz"),
                                 "--images", "1", "--no-climb", "--no-relax-endpoints", "--interpolate", "linear", "--no-progress",
                                 "--on-extrapolation", "stop", "--out-dir", str(out)])
    assert result.exit_code == 3, result.output
    assert "band step 0, image 1" in result.output and (out / "extrapolating_frames.xyz").exists()

    out = tmp_path / "phonons"
    result = runner.invoke(app, ["phonons", str(uq_path), str(tmp_path / "boxed.xyz"), "--supercell", "1", "1", "1",
                                 "--exact-hessian", "--no-progress", "--on-extrapolation", "stop", "--out-dir", str(out)])
    assert result.exit_code == 3, result.output
    assert "exact Hessian: checked once" in result.output and (out / "uncertainty_summary.json").exists()

    result = runner.invoke(app, ["relax", str(plain_path), str(tmp_path / "calm.xyz"), "--no-progress",
                                 "--max-uncertainty", "0.1", "--output", str(tmp_path / "plain" / "relaxed.xyz")])
    assert result.exit_code == 2 and "the model gives no uncertainty" in result.output

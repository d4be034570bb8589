"""Calibration metrics on synthetic errors whose answers are known, and on a tiny committee."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from ase.build import molecule
from ase.calculators.singlepoint import SinglePointCalculator
from matplotlib.image import imread
from scipy import stats

from equipot import EquivariantPotential
from equipot.config import ModelConfig
from equipot.data import GraphDataset
from equipot.evaluation import (
    UncertaintyPairs,
    calibration_report,
    collect_uncertainties,
    format_calibration_table,
    gaussian_nll,
    miscalibration_area,
    spearman_correlation,
)
from equipot.plots import calibration_plot
from equipot.uq import Committee


def _calibrated(n: int, k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """sigma [n] (log-normal) and errors drawn from the error model: k components of
    variance sigma²/k each; returns sigma, the error norms [n] and the components [n, k]."""
    rng = np.random.default_rng(seed)
    sigma = np.exp(rng.normal(-2.0, 1.0, n))
    components = rng.normal(size=(n, k)) * (sigma / np.sqrt(k))[:, None]
    return sigma, np.linalg.norm(components, axis=1), components


@pytest.mark.parametrize("k", [1, 3, 27])
def test_a_calibrated_gaussian_has_no_miscalibration_area(k: int) -> None:
    sigma, error, _ = _calibrated(20000, k)
    assert miscalibration_area(sigma, error, n_components=k) < 0.01
    # too confident (sigma 3x too small) or too cautious (3x too large) is far off
    assert miscalibration_area(sigma / 3, error, n_components=k) > 0.25
    assert miscalibration_area(sigma * 3, error, n_components=k) > 0.25


def test_miscalibration_area_of_a_known_case() -> None:
    # every error is zero: observed coverage is 1 at every level, area = ∫(1 - p) dp = 1/2
    assert miscalibration_area(np.ones(10), np.zeros(10)) == pytest.approx(0.5, abs=1e-3)


@pytest.mark.parametrize("k", [1, 3])
def test_nll_matches_the_gaussian_log_density_of_the_components(k: int) -> None:
    sigma, error, components = _calibrated(500, k, seed=1)
    expected = -np.mean(stats.norm.logpdf(components, scale=(sigma / np.sqrt(k))[:, None]).sum(axis=1))
    assert gaussian_nll(sigma, error, n_components=k) == pytest.approx(expected, rel=1e-12)
    assert gaussian_nll(np.array([2.0]), np.array([1.0])) == pytest.approx(0.5 * np.log(2 * np.pi * 4) + 1 / 8)


def test_spearman_is_one_for_a_monotone_relation() -> None:
    sigma = np.linspace(0.1, 1.0, 50)
    assert spearman_correlation(sigma, sigma**3 + 2) == pytest.approx(1.0)
    assert spearman_correlation(sigma, 1 / sigma) == pytest.approx(-1.0)
    assert np.isnan(spearman_correlation(sigma, np.ones(50)))
    rng = np.random.default_rng(0)
    assert abs(spearman_correlation(rng.random(2000), rng.random(2000))) < 0.1


def test_bad_inputs_are_refused_with_a_message() -> None:
    with pytest.raises(ValueError, match="same length, got 3 and 2"):
        spearman_correlation(np.ones(3), np.ones(2))
    with pytest.raises(ValueError, match="sigma > 0 everywhere"):
        miscalibration_area(np.array([1.0, 0.0]), np.array([1.0, 1.0]))
    with pytest.raises(ValueError, match="finite numbers"):
        gaussian_nll(np.array([1.0, np.nan]), np.array([1.0, 1.0]))
    with pytest.raises(ValueError, match="no \\(sigma, error\\) pairs"):
        spearman_correlation(np.array([]), np.array([]))


def test_report_skips_zero_sigma_and_weights_atom_counts(tmp_path: Path) -> None:
    sigma3, error3, _ = _calibrated(4000, 3, seed=2)
    sigma6, error6, _ = _calibrated(2000, 6, seed=3)
    pairs = {
        "forces": UncertaintyPairs(
            "forces", "forces_std", "eV/Å",
            np.concatenate([sigma3, sigma6, [0.0]]), np.concatenate([error3, error6, [0.5]]),
            np.array([3] * 4000 + [6] * 2000 + [3]),
        )
    }
    (line,) = calibration_report(pairs)
    assert line.n == 6001 and line.miscalibration_area < 0.02
    expected = (gaussian_nll(sigma3, error3, 3) * 4000 + gaussian_nll(sigma6, error6, 6) * 2000) / 6000
    assert line.nll == pytest.approx(expected, rel=1e-12)
    assert line.to_dict()["quantity"] == "forces"
    assert format_calibration_table([line]).row_count == 1
    path = calibration_plot(pairs, tmp_path / "calibration.png")
    assert imread(path).shape[0] > 100


def _labelled_ethanol(n: int = 4) -> list:
    frames = []
    for seed in range(n):
        atoms = molecule("CH3CH2OH")
        atoms.rattle(0.1, seed=seed)
        atoms.calc = SinglePointCalculator(atoms, energy=0.3 * seed, forces=np.full((9, 3), 0.1 * seed))
        frames.append(atoms)
    return frames


def _member(seed: int) -> EquivariantPotential:
    torch.manual_seed(seed)
    config = ModelConfig(species=["H", "C", "O"], cutoff=3.0, num_channels=4, num_layers=1, correlation=2, lmax=1)
    model = EquivariantPotential(config, dtype=torch.float64)
    model.set_normalization(scale=2.0, avg_num_neighbors=4.0)
    return model.eval()


def test_collect_uncertainties_pairs_sigma_with_errors_of_a_committee() -> None:
    committee = Committee([_member(0), _member(1), _member(2)])
    frames = _labelled_ethanol()
    dataset = GraphDataset(frames, cutoff=3.0)
    pairs = collect_uncertainties(committee, dataset, batch_size=3)
    assert set(pairs) == {"energy", "forces", "forces_per_atom"}  # no stress labels
    assert pairs["forces_per_atom"].sigma.shape == (36,) and set(pairs["forces"].n_components) == {27}
    graph = dataset[2]
    out = committee(graph, outputs=("energy", "forces", "energy_std", "forces_std"))
    forces_error = (out.forces.detach() - graph.atom_targets["forces"]).norm(dim=1).numpy()
    np.testing.assert_allclose(pairs["forces_per_atom"].error[18:27], forces_error, rtol=1e-12)
    np.testing.assert_allclose(pairs["forces"].sigma[2], np.sqrt(np.sum(out.extra["forces_std"].detach().numpy() ** 2)))
    assert pairs["energy"].error[2] == pytest.approx(abs(float(out.energy.detach()[0]) - 0.6), rel=1e-12)
    assert pairs["energy"].sigma[2] == pytest.approx(float(out.extra["energy_std"].detach()[0]), rel=1e-12)
    with pytest.raises(ValueError, match="declares no uncertainty outputs"):
        collect_uncertainties(_member(0), dataset)

"""Hessian (Sobolev) training: the model's Hessian-vector products against finite
differences of its forces, the label layout (partial labels, padding), the EMT labels of
scripts/generate_hessian_labels.py, a tiny run whose Hessian error decreases, and the
errors of a config or data set that cannot train on Hessians."""

from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path
from types import ModuleType

import ase.io
import numpy as np
import pytest
import torch
from ase.build import bulk
from ase.calculators.emt import EMT
from train_helpers import TINY_MODEL, tiny_config

from equipot import EquivariantPotential
from equipot.config import TrainConfig
from equipot.config.train import ConfigError, load_train_config
from equipot.data import LabelKeys, batch_graphs, graph_from_atoms
from equipot.data.dataset import GraphDataset
from equipot.models import hessian_vector_products
from equipot.train import TrainingDataError, fit
from equipot.train.data import prepare_hessian_labels
from equipot.train import module as training_module
from equipot.train.losses import (
    HESSIAN_PRODUCTS,
    HESSIAN_PROBES,
    LossWeights,
    forces_difference_products,
    gaussian_probe_mixtures,
    hessian_errors,
)

pytestmark = pytest.mark.usefixtures("one_thread")

KEYS = LabelKeys(atom_extra={HESSIAN_PROBES: HESSIAN_PROBES, HESSIAN_PRODUCTS: HESSIAN_PRODUCTS})


@pytest.fixture(scope="module")
def generator() -> ModuleType:
    import generate_hessian_labels  # scripts/ (pytest's pythonpath)

    return generate_hessian_labels


def rattled_copper(seed: int) -> ase.Atoms:
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True)
    atoms.rattle(0.05, seed=seed)
    return atoms


def test_model_hessian_vector_products_equal_finite_differences_of_its_forces() -> None:
    model = EquivariantPotential(species=["Cu"], dtype=torch.float64, **TINY_MODEL)
    graph = graph_from_atoms(rattled_copper(1), model.cutoff)
    probes = torch.randn(graph.n_atoms, 3, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))

    positions = graph.positions.clone().requires_grad_(True)
    graph.positions = positions
    forces = model(graph, outputs={"energy", "forces"}, create_graph=True).forces
    products = hessian_vector_products(forces, positions, probes, create_graph=False)

    def forces_at(displaced: torch.Tensor) -> torch.Tensor:
        graph.positions = displaced
        return model(graph, outputs={"energy", "forces"}, create_graph=False).forces.detach()

    h = 1e-5
    for k in range(2):
        v = probes[:, :, k]
        finite = -(forces_at(positions.detach() + h * v) - forces_at(positions.detach() - h * v)) / (2 * h)
        assert torch.allclose(products[:, :, k], finite, atol=1e-7, rtol=1e-6)
    assert products.abs().max() > 1e-3  # not trivially zero


def test_forces_difference_products_match_the_exact_ones_to_first_order_in_the_step() -> None:
    model = EquivariantPotential(species=["Cu"], dtype=torch.float64, **TINY_MODEL)
    graph = graph_from_atoms(rattled_copper(1), model.cutoff)
    probes = torch.randn(graph.n_atoms, 3, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    probes /= probes.square().sum((0, 1)).sqrt()  # unit norm, as the loss's mixtures are about
    positions = graph.positions.clone().requires_grad_(True)
    graph.positions = positions
    forces = model(graph, outputs={"energy", "forces"}, create_graph=True).forces
    exact = hessian_vector_products(forces, positions, probes, create_graph=False)

    def forces_at(displaced: torch.Tensor) -> torch.Tensor:
        return model(replace(graph, positions=displaced), outputs={"forces"}).forces.detach()

    errors = []
    for step in (1e-3, 1e-4):
        approximate = forces_difference_products(forces_at, positions.detach(), forces.detach(), probes, step)
        errors.append(float((approximate - exact).abs().max() / exact.abs().max()))
    assert errors[0] < 1e-2 and errors[1] < 1e-3
    assert 5 < errors[0] / errors[1] < 20  # first order: the error falls with the step


def test_generator_full_mode_gives_the_symmetric_emt_hessian_with_translation_modes(generator: ModuleType) -> None:
    atoms = rattled_copper(2)
    probes = generator.probe_vectors(len(atoms), "full", 0, np.random.default_rng(0))
    assert probes.shape == (4, 3, 12)
    hessian = generator.hessian_vector_labels(atoms, EMT(), probes).reshape(12, 12)  # column j = H e_j
    assert np.allclose(hessian, hessian.T, atol=1e-5)
    translation = np.tile(np.eye(3), (4, 1))  # [12, 3]
    assert np.abs(hessian @ translation).max() < 1e-5
    assert np.abs(hessian).max() > 1.0  # eV/Å²: a real curvature

    random_probes = generator.probe_vectors(len(atoms), "hvp", 3, np.random.default_rng(1))
    products = generator.hessian_vector_labels(atoms, EMT(), random_probes)
    expected = (hessian @ random_probes.reshape(12, 3)).reshape(4, 3, 3)
    assert np.allclose(products, expected, atol=3e-4)  # two finite-difference errors of O(h^2)


def labelled_dataset(generator: ModuleType, tmp_path: Path, probes_per_structure: list[int | None]) -> GraphDataset:
    frames = []
    for number, n_probes in enumerate(probes_per_structure):
        atoms = rattled_copper(number)
        probes = None if n_probes is None else generator.probe_vectors(4, "rows", n_probes, np.random.default_rng(number))
        frames.append(generator.labelled(atoms, EMT(), probes, 1e-3))
    path = tmp_path / "cu.xyz"
    ase.io.write(path, frames)
    return GraphDataset.from_file(path, 3.0, keys=KEYS)


def test_partial_labels_are_padded_and_skipped_in_the_loss(generator: ModuleType, tmp_path: Path) -> None:
    dataset = labelled_dataset(generator, tmp_path, [2, None, 3])
    assert prepare_hessian_labels(dataset) == 3
    unlabelled = dataset.graphs[1]
    assert unlabelled.atom_targets[HESSIAN_PROBES].shape == (4, 3, 3)
    assert not unlabelled.atom_targets[HESSIAN_PROBES].any()
    assert not dataset.graphs[0].atom_targets[HESSIAN_PROBES][:, :, 2].any()  # its third column is padding

    model = EquivariantPotential(species=["Cu"], dtype=torch.float64, **TINY_MODEL)
    graph = batch_graphs(dataset.graphs)
    positions = graph.positions.clone().requires_grad_(True)
    graph.positions = positions
    forces = model(graph, outputs={"energy", "forces"}, create_graph=True).forces
    errors = hessian_errors(forces, positions, graph, create_graph=False)
    assert errors is not None and errors.shape == ((2 + 3) * 4 * 3,)  # labelled columns x atoms x 3 only

    # the products of the labelled probes, compared with the labels by hand
    probes = graph.atom_targets[HESSIAN_PROBES]
    products = hessian_vector_products(forces, positions, probes, create_graph=False)
    by_hand = (products - graph.atom_targets[HESSIAN_PRODUCTS])
    expected = torch.cat([by_hand[:4, :, :2].transpose(1, 2).reshape(-1, 3), by_hand[8:, :, :3].transpose(1, 2).reshape(-1, 3)])
    assert torch.allclose(errors.sort().values, expected.reshape(-1).sort().values)

    # no labelled structure in a batch: an empty error (the term adds 0), not a failure
    alone = batch_graphs([dataset.graphs[1]])
    alone.positions = alone.positions.clone().requires_grad_(True)
    forces = model(alone, outputs={"energy", "forces"}, create_graph=True).forces
    empty = hessian_errors(forces, alone.positions, alone, create_graph=False)
    assert empty is not None and empty.numel() == 0


def test_loss_weights_with_a_hessian_term_need_forces() -> None:
    weights = LossWeights(energy=1.0, forces=0.0, hessian=0.5)
    assert weights.outputs() == {"energy", "forces"}
    assert weights.terms == ("energy", "forces", "stress", "hessian") and weights["hessian"] == 0.5
    assert "hessian" not in LossWeights().terms


def test_gaussian_mixtures_compare_every_column_in_one_product(generator: ModuleType, tmp_path: Path) -> None:
    dataset = labelled_dataset(generator, tmp_path, [12, None])  # the full Hessian of 4 atoms; no labels
    prepare_hessian_labels(dataset)
    model = EquivariantPotential(species=["Cu"], dtype=torch.float64, **TINY_MODEL)
    graph = batch_graphs(dataset.graphs)
    positions = graph.positions.clone().requires_grad_(True)
    graph.positions = positions
    forces = model(graph, outputs={"energy", "forces"}, create_graph=True).forces

    # labels that are the model's own Hessian: every mixture matches (H is linear) ...
    own = hessian_vector_products(forces, positions, graph.atom_targets[HESSIAN_PROBES], create_graph=False)
    graph.atom_targets[HESSIAN_PRODUCTS] = own.detach()
    generator_ = torch.Generator().manual_seed(0)
    errors = hessian_errors(forces, positions, graph, create_graph=False, n_probes=2, generator=generator_, mix="gaussian")
    assert errors is not None and errors.shape == (2 * 4 * 3,)  # 2 mixtures x 4 labelled atoms x 3
    assert errors.abs().max() < 1e-9
    # ... and one wrong column out of 12 shows in a single mixture, where a single drawn column would miss it
    graph.atom_targets[HESSIAN_PRODUCTS][:4, :, 5] += 1.0
    errors = hessian_errors(forces, positions, graph, create_graph=False, n_probes=1, generator=generator_, mix="gaussian")
    assert errors.abs().max() > 1e-3

    probes, labels = gaussian_probe_mixtures(graph.atom_targets[HESSIAN_PROBES], own, graph, 200, torch.Generator().manual_seed(1))
    assert probes.shape == labels.shape == (8, 3, 200)
    assert not probes[4:].any()  # the unlabelled structure keeps zero probes
    assert abs(float(probes[:4].square().sum((0, 1)).mean()) - 1.0) < 0.2  # about unit norm


def test_gaussian_mixing_needs_a_number_of_probes() -> None:
    with pytest.raises(ValueError, match="hessian_probe_mix: gaussian needs loss.hessian_probes"):
        TrainConfig.model_validate(
            {"data": {"train_file": "a.xyz"}, "loss": {"hessian_weight": 1.0, "hessian_probe_mix": "gaussian"}}
        )


@pytest.mark.parametrize(("mix", "method"), [("columns", "exact"), ("gaussian", "exact"), ("gaussian", "forces_difference")])
def test_training_with_the_hessian_term_lowers_the_hessian_error(
    generator: ModuleType, tmp_path: Path, mix: str, method: str
) -> None:
    path = tmp_path / "cu_hvp.xyz"
    generator.main(
        ["--reference", "emt", "--system", "cu", "--frames", "10", "--mode", "hvp", "--probes", "2",
         "--skip-every", "5", "--output", str(path)]
    )
    config = tiny_config(
        path,
        tmp_path / "run",
        data={"n_valid": 2},
        # the Hessian term alone, so that only it can lower the Hessian error
        loss={"energy_weight": 0.0, "forces_weight": 0.0, "hessian_weight": 1.0, "hessian_probes": 1,
              "hessian_probe_mix": mix, "hessian_method": method},
        max_epochs=5,
        batch_size=2,
        optimizer={"lr": 0.02},
        seed=3,
    )
    result = fit(config)
    with open(result.metrics_path) as stream:
        rows = list(csv.DictReader(stream))
    column = next(name for name in rows[0] if name.startswith("valid_hessian_rmse"))
    first, last = float(rows[0][column]), float(rows[-1][column])
    assert last < 0.9 * first, (first, last)
    assert float(rows[-1]["valid_loss"]) < float(rows[0]["valid_loss"])


def test_hessian_every_skips_the_term_on_the_other_steps(
    generator: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "cu_rows.xyz"
    generator.main(["--reference", "emt", "--system", "cu", "--frames", "6", "--mode", "rows", "--probes", "1",
                    "--output", str(path)])
    training_calls = []
    original = training_module.hessian_errors

    def counting(*args: object, **kwargs: object) -> object:
        training_calls.append(kwargs["create_graph"])
        return original(*args, **kwargs)

    monkeypatch.setattr(training_module, "hessian_errors", counting)
    config = tiny_config(
        path, tmp_path / "run", data={"n_valid": 2}, max_epochs=2, batch_size=1,
        loss={"hessian_weight": 1.0, "hessian_every": 2},
    )
    fit(config)
    assert training_calls.count(True) == 4  # 2 epochs x 4 steps, every second one
    assert training_calls.count(False) >= 2 * 2  # validation always measures it


def test_gaussian_validation_uses_the_same_few_mixtures_every_epoch(
    generator: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "cu_full.xyz"
    generator.main(["--reference", "emt", "--system", "cu", "--frames", "4", "--mode", "rows", "--probes", "6",
                    "--output", str(path)])
    validation_errors = []
    original = training_module.hessian_errors

    def recording(*args: object, **kwargs: object) -> object:
        errors = original(*args, **kwargs)
        if not kwargs["create_graph"]:
            validation_errors.append(errors)
        return errors

    monkeypatch.setattr(training_module, "hessian_errors", recording)
    config = tiny_config(
        path, tmp_path / "run", data={"n_valid": 2}, max_epochs=2, batch_size=2, optimizer={"lr": 1e-12},
        loss={"hessian_weight": 1.0, "hessian_probes": 1, "hessian_probe_mix": "gaussian"},
    )
    fit(config)
    assert validation_errors and all(errors.shape == (2 * 32 * 3,) for errors in validation_errors)  # 1 product, not 6
    # a learning rate of ~0 leaves the model as it was: the same mixtures give the same errors each epoch
    assert torch.allclose(validation_errors[-1], validation_errors[-2], rtol=1e-4)


def test_a_hessian_weight_without_hessian_labels_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "cu.xyz"
    frames = []
    for number in range(6):
        atoms = rattled_copper(number)
        atoms.calc = EMT()
        atoms.get_forces()
        frames.append(atoms)
    ase.io.write(path, frames)
    config = tiny_config(path, tmp_path / "run", loss={"hessian_weight": 1.0})
    with pytest.raises(TrainingDataError, match="none of the 2 structures has Hessian labels.*generate_hessian_labels"):
        fit(config)


def test_a_misspelt_hessian_option_gets_a_did_you_mean() -> None:
    with pytest.raises(ValueError, match="did you mean 'hessian_weight'"):
        TrainConfig.model_validate({"data": {"train_file": "a.xyz"}, "loss": {"hessian_wieght": 1.0}})


@pytest.mark.parametrize(
    ("loss", "message"),
    [
        ("hessian_method: finite", r"loss\.hessian_method: Input should be 'exact' or 'forces_difference' \(got 'finite'\)"),
        ("hessian_step: 0.5", r"loss\.hessian_step: Input should be less than or equal to 0\.05 \(got 0\.5\)"),
        ("hessian_step: 0", r"loss\.hessian_step: Input should be greater than 0 \(got 0\)"),
    ],
)
def test_a_bad_hessian_method_or_step_is_named_with_what_is_allowed(tmp_path: Path, loss: str, message: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(f"data:\n  train_file: a.xyz\nloss:\n  hessian_weight: 1.0\n  {loss}\n")
    with pytest.raises(ConfigError, match=message):
        load_train_config(path)

"""A hybrid trained on reference charges (or with fixed charges) fits its local part's
normalization to the energies minus the Coulomb energy of those charges
(`energies_without_reference_coulomb`), checked against the rocksalt Madelung energy of
perfect NaCl cells."""

from __future__ import annotations

from pathlib import Path

import ase.io
import numpy as np
import pytest
import torch
from ase.build import bulk
from ase.calculators.singlepoint import SinglePointCalculator

from equipot.config import TrainConfig
from equipot.data import LabelKeys, graph_from_atoms
from equipot.longrange import COULOMB_CONSTANT, CoulombEnergy, LongRangeError, energies_without_reference_coulomb
from equipot.train.initialization import prepare_run

MADELUNG_ROCKSALT = 1.747565
LATTICE_CONSTANTS = (5.50, 5.56, 5.62, 5.68, 5.74, 5.80)


def madelung_energy(a: float, n_atoms: int) -> float:
    """Coulomb energy (eV) of ``n_atoms`` ions of ±1 e in perfect rocksalt of lattice constant ``a`` (Å)."""
    return -MADELUNG_ROCKSALT * COULOMB_CONSTANT / (a / 2) * n_atoms / 2


@pytest.fixture(scope="module")
def perfect_cells(nacl_bmh, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """8-atom rocksalt NaCl cells at six lattice constants, BMH + Ewald energies and formal charges."""
    calculator = nacl_bmh.BMHCoulombCalculator(accuracy=1e-8)
    frames = []
    for a in LATTICE_CONSTANTS:
        atoms = bulk("NaCl", "rocksalt", a=a, cubic=True)
        atoms.calc = calculator
        labels = {"energy": atoms.get_potential_energy(), "forces": atoms.get_forces(), "charges": calculator.results["charges"]}
        atoms.calc = SinglePointCalculator(atoms, **labels)
        frames.append(atoms)
    path = tmp_path_factory.mktemp("perfect") / "nacl.xyz"
    ase.io.write(path, frames)
    return path


def test_the_coulomb_energy_of_the_reference_charges_is_taken_off(perfect_cells) -> None:
    frames = ase.io.read(perfect_cells, index=":")
    graphs = [graph_from_atoms(atoms, 3.0, LabelKeys(stress=None, atom_extra={"charges": "charges"})) for atoms in frames]
    shifted = energies_without_reference_coulomb(graphs, CoulombEnergy(method="ewald", accuracy=1e-8, real_space_cutoff=8.0))
    for a, atoms, before, after in zip(LATTICE_CONSTANTS, frames, graphs, shifted, strict=True):
        expected = atoms.get_potential_energy() - madelung_energy(a, len(atoms))
        assert float(after.graph_targets["energy"]) == pytest.approx(expected, abs=1e-5)
        assert float(before.graph_targets["energy"]) == pytest.approx(atoms.get_potential_energy(), abs=1e-9)  # unchanged
        assert after.atom_targets["forces"] is before.atom_targets["forces"]


NEUTRAL = {"charges": "neutral", "accuracy": 1e-6, "real_space_cutoff": 8.0}


def _config(train_file: Path, output_dir: Path, targets: dict, long_range: dict = NEUTRAL) -> TrainConfig:
    return TrainConfig.model_validate({
        "data": {"train_file": str(train_file), "n_valid": 1},
        "model": {"num_channels": 4, "num_layers": 1, "lmax": 1, "hidden_lmax": 1, "cutoff": 3.0,
                  "long_range": long_range},
        "loss": {"targets": targets},
        "atomic_energies": {"Na": 0.0, "Cl": 0.0},
        "dtype": "float64",
        "output_dir": str(output_dir),
        "accelerator": "cpu",
        "seed": 0,
    })


def test_the_hybrids_shift_is_fitted_without_the_madelung_energy_with_a_charge_loss(perfect_cells, tmp_path) -> None:
    frames = ase.io.read(perfect_cells, index=":")
    with_charges = prepare_run(_config(perfect_cells, tmp_path / "q", {"charges": {"weight": 1.0}}))
    without = prepare_run(_config(perfect_cells, tmp_path / "e", {}))
    train = [int(name.split()[1]) for name in with_charges.data.train.names]  # "structure 3 of nacl.xyz"
    total = np.mean([frames[i].get_potential_energy() / len(frames[i]) for i in train])
    short = np.mean([(frames[i].get_potential_energy() - madelung_energy(LATTICE_CONSTANTS[i], 8)) / 8 for i in train])
    assert float(without.model.local.shift) == pytest.approx(total, abs=1e-6)
    assert float(with_charges.model.local.shift) == pytest.approx(short, abs=1e-5)
    assert short - total > 4.0  # the Madelung energy, about 4.5 eV/atom, no longer in the shift


def test_with_fixed_charges_the_shift_is_fitted_without_their_madelung_energy_and_without_a_charge_loss(perfect_cells, tmp_path) -> None:
    frames = ase.io.read(perfect_cells, index=":")
    fixed = {**NEUTRAL, "charges": "fixed", "fixed_charges": {"Na": 1.0, "Cl": -1.0}}
    run = prepare_run(_config(perfect_cells, tmp_path / "fixed", {}, long_range=fixed))
    train = [int(name.split()[1]) for name in run.data.train.names]
    short = np.mean([(frames[i].get_potential_energy() - madelung_energy(LATTICE_CONSTANTS[i], 8)) / 8 for i in train])
    assert float(run.model.local.shift) == pytest.approx(short, abs=1e-5)
    assert run.model.scheme == "fixed" and list(run.model.charge_head.parameters()) == []


QEQ = {"charges": "qeq", "screening": "gaussian", "sigma": 1.0, "accuracy": 1e-6, "real_space_cutoff": 8.0}


def test_with_a_charge_loss_the_neutral_charge_head_starts_at_the_reference_charges(perfect_cells, tmp_path) -> None:
    run = prepare_run(_config(perfect_cells, tmp_path / "q", {"charges": {"weight": 1.0}}))
    untouched = prepare_run(_config(perfect_cells, tmp_path / "e", {}))
    baseline = run.model.charge_head.element_baseline.detach()
    assert float(baseline[11]) == pytest.approx(1.0, abs=1e-9) and float(baseline[17]) == pytest.approx(-1.0, abs=1e-9)
    assert not bool(untouched.model.charge_head.element_baseline.detach().any())  # no charges to start from: zero
    for graph in run.data.train.graphs:
        charges = run.model(graph, outputs={"charges"}).extra["charges"].detach()
        reference = graph.atom_targets["charges"].reshape(-1)
        error = float((charges - reference).abs().max())
        assert error < 0.02
        assert float(charges.sum()) == pytest.approx(0.0, abs=1e-10)
        far = untouched.model(graph, outputs={"charges"}).extra["charges"].detach()
        assert float((far - reference).abs().max()) > 5 * error


def test_the_qeq_electronegativities_start_where_the_reference_charges_are_the_equilibrium(perfect_cells, tmp_path) -> None:
    run = prepare_run(_config(perfect_cells, tmp_path / "q", {"charges": {"weight": 1.0}}, long_range=QEQ))
    baseline = run.model.charge_head.element_baseline.detach()
    assert float(baseline[17]) > float(baseline[11]) and float(baseline[11] + baseline[17]) == pytest.approx(0.0, abs=1e-9)
    graph = run.data.train.graphs[0]
    reference = graph.atom_targets["charges"].reshape(-1)
    # the network's part switched off: one structure's equilibrium is its reference charges exactly
    run.model.charge_head.start_from_charges([graph], run.model.coulomb, environment_scale=0.0)
    charges = run.model(graph, outputs={"charges"}).extra["charges"].detach()
    torch.testing.assert_close(charges, reference, rtol=0, atol=1e-6)


def test_fixed_charges_have_nothing_to_start_from_charges(perfect_cells, tmp_path) -> None:
    fixed = {**NEUTRAL, "charges": "fixed", "fixed_charges": {"Na": 1.0, "Cl": -1.0}}
    run = prepare_run(_config(perfect_cells, tmp_path / "fixed", {}, long_range=fixed))
    with pytest.raises(LongRangeError, match="charges 'fixed' have no learned part"):
        run.model.charge_head.start_from_charges(run.data.train.graphs, run.model.coulomb)


def test_given_initial_charges_start_the_charge_head_without_reference_charges(perfect_cells, tmp_path) -> None:
    start = {**NEUTRAL, "initial_charges": {"Na": 0.9, "Cl": -0.9}}
    run = prepare_run(_config(perfect_cells, tmp_path / "given", {}, long_range=start))  # trained on energies and forces
    baseline = run.model.charge_head.element_baseline.detach()
    assert float(baseline[11]) == pytest.approx(0.9, abs=1e-12) and float(baseline[17]) == pytest.approx(-0.9, abs=1e-12)
    for graph in run.data.train.graphs:
        charges = run.model(graph, outputs={"charges"}).extra["charges"].detach()
        assert float((charges.abs() - 0.9).abs().max()) < 0.02
    frames = ase.io.read(perfect_cells, index=":")  # the shift is fitted without the Madelung energy of ±0.9 e
    train = [int(name.split()[1]) for name in run.data.train.names]
    short = np.mean([(frames[i].get_potential_energy() - 0.81 * madelung_energy(LATTICE_CONSTANTS[i], 8)) / 8 for i in train])
    assert float(run.model.local.shift) == pytest.approx(short, abs=1e-5)
    qeq = prepare_run(_config(perfect_cells, tmp_path / "qeq", {}, long_range={**QEQ, "initial_charges": {"Na": 0.9, "Cl": -0.9}}))
    graph = qeq.data.train.graphs[0]
    qeq.model.charge_head.start_from_charges([graph], qeq.model.coulomb, table={"Na": 0.9, "Cl": -0.9}, environment_scale=0.0)
    torch.testing.assert_close(qeq.model(graph, outputs={"charges"}).extra["charges"].detach().abs(),
                               torch.full((8,), 0.9, dtype=torch.float64), rtol=0, atol=1e-6)

"""Where a trained model's reference energies (E0) come from, recorded in the model file:
fitted when the compositions separate the elements, the config's isolated-atom energies,
or the mean energy per atom (with a warning) when every structure has one composition."""

from __future__ import annotations

from pathlib import Path

import ase.io
import pytest
from ase.build import molecule
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator
from train_helpers import tiny_config

from equipot import load_model
from equipot.config.train import ConfigError, parse_train_config
from equipot.data import AtomicEnergiesWarning
from equipot.train import fit
from equipot.train.initialization import prepare_run


def _mixed_molecules(path: Path) -> Path:
    """CH4, C2H6 and C2H4 (EMT labels): compositions that separate H and C."""
    frames = []
    for index, name in enumerate(["CH4", "C2H6", "C2H4"] * 4):
        atoms = molecule(name)
        atoms.rattle(0.03, seed=index)
        atoms.calc = EMT()
        atoms.calc = SinglePointCalculator(atoms, energy=atoms.get_potential_energy(), forces=atoms.get_forces())
        frames.append(atoms)
    ase.io.write(path, frames)
    return path


def test_one_composition_warns_and_records_the_fallback(molecules_file: Path, tmp_path: Path, one_thread) -> None:
    config = tiny_config(molecules_file, tmp_path / "run", max_epochs=1)  # every structure is CH4
    with pytest.warns(AtomicEnergiesWarning, match="cannot separate the reference energies \\(E0\\) of H, C"):
        result = fit(config)
    model = load_model(result.best_model_path)
    assert model.metadata["atomic_energies_source"] == "mean_energy_per_atom"
    assert model.metadata["statistics"]["atomic_energies_source"] == "mean_energy_per_atom"
    e0 = model.metadata["statistics"]["atomic_energies"]
    assert e0["1"] == pytest.approx(e0["6"])  # the mean energy per atom, shared equally


def test_separating_compositions_are_fitted_by_least_squares(tmp_path: Path) -> None:
    config = tiny_config(_mixed_molecules(tmp_path / "mixed.xyz"), tmp_path / "run")
    setup = prepare_run(config)
    assert setup.statistics.atomic_energies_source == "least_squares"
    assert setup.run_info()["atomic_energies_source"] == "least_squares"


def test_config_energies_are_used_and_recorded(molecules_file: Path, tmp_path: Path) -> None:
    config = tiny_config(molecules_file, tmp_path / "run", atomic_energies={"H": -13.6, "C": -1029.5})
    setup = prepare_run(config)
    assert setup.statistics.atomic_energies == {1: -13.6, 6: -1029.5}
    assert setup.run_info()["atomic_energies_source"] == "config"
    assert setup.model.atomic_energies.tolist() == pytest.approx([-13.6, -1029.5])  # species order H, C


def test_config_energies_that_leave_inseparable_elements_are_refused(tmp_path: Path) -> None:
    ethanol = molecule("CH3CH2OH")
    ethanol.calc = SinglePointCalculator(ethanol, energy=-1000.0, forces=ethanol.positions * 0)
    ase.io.write(tmp_path / "ethanol.xyz", [ethanol] * 8)
    config = tiny_config(tmp_path / "ethanol.xyz", tmp_path / "run", atomic_energies={"H": -13.6})
    with pytest.raises(ValueError, match="atomic_energies gives H but not C, O, whose reference energies"):
        prepare_run(config)


@pytest.mark.parametrize(
    ("energies", "message"),
    [
        ({"Hx": -13.6}, r"unknown chemical symbols \['Hx'\] in atomic_energies"),
        ({"H": float("nan")}, r"atomic_energies of \['H'\] are not finite numbers"),
    ],
)
def test_bad_config_energies_are_refused(energies, message) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_train_config({"data": {"train_file": "a.xyz"}, "atomic_energies": energies})

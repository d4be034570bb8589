"""`Committee`: the mean of its members, their spread, a potential like any other; committee
files; `fit_committee` and ``equipot train --committee``."""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from ase import Atoms
from ase.build import molecule
from typer.testing import CliRunner

from equipot import EquipotCalculator, EquivariantPotential, graph_from_atoms, save_model
from equipot.config import ModelConfig
from equipot.config.train import TrainConfig
from equipot.data import batch_graphs
from equipot.models import PairRepulsion, Potential, SumPotential
from equipot.models.io import ModelFileError, load_model
from equipot.simulate import load_calculator
from equipot.testing import assert_equivariant, assert_forces_match_finite_differences
from equipot.train import member_config  # imports Lightning (which sets an environment variable) at collection
from equipot.train.data import load_training_data
from equipot.cli.main import app
from equipot import load_potential
from equipot.uq import STD_OUTPUTS, Committee, calibrate_committee, load_committee, save_committee

SPECIES = ["H", "C", "O"]
ALL = ("energy", "atomic_energies", "forces", "stress", "virial", *STD_OUTPUTS)


def _member(seed: int, dtype: torch.dtype = torch.float64, cutoff: float = 3.0) -> EquivariantPotential:
    torch.manual_seed(seed)
    config = ModelConfig(species=SPECIES, cutoff=cutoff, num_channels=4, num_layers=1, correlation=2, lmax=1)
    model = EquivariantPotential(config, dtype=dtype)
    model.set_normalization(scale=2.0, shift=0.1 * seed, avg_num_neighbors=4.0)
    return model.eval()


def _ethanol() -> Atoms:
    atoms = molecule("CH3CH2OH")
    atoms.rattle(0.05, seed=0)
    return atoms


def _crystal() -> Atoms:
    atoms = Atoms("C2OH", positions=[[0, 0, 0], [1.4, 0.1, 0.0], [0.2, 1.3, 0.1], [1.1, 1.2, 1.0]],
                  cell=[3.2, 3.0, 3.1], pbc=True)
    atoms.rattle(0.03, seed=1)
    return atoms


def _graph() -> object:
    return batch_graphs([graph_from_atoms(_ethanol(), 3.0), graph_from_atoms(_crystal(), 3.0)])


def test_committee_is_the_exact_mean_of_its_members_and_its_std_matches_numpy() -> None:
    members = [_member(seed) for seed in range(3)]
    committee = Committee(members)
    assert isinstance(committee, Potential) and len(committee) == 3
    assert committee.cutoff == 3.0 and committee.species == SPECIES and committee.dtype == torch.float64
    graph = _graph()
    alone = [m(graph, outputs=("energy", "atomic_energies", "forces", "stress", "virial")) for m in members]
    out = committee(graph, outputs=ALL)
    for name in ("energy", "atomic_energies", "forces", "stress", "virial"):
        values = np.stack([getattr(o, name).detach().numpy() for o in alone])
        np.testing.assert_allclose(getattr(out, name).detach().numpy(), values.mean(0), rtol=1e-12, atol=1e-14)
        assert np.ptp(values, axis=0).max() > 1e-6  # the members differ: the test can fail
    energy = np.stack([o.energy.detach().numpy() for o in alone])
    forces = np.stack([o.forces.detach().numpy() for o in alone])
    stress = np.stack([o.stress.detach().numpy() for o in alone])
    atomic = np.stack([o.atomic_energies.detach().numpy() for o in alone])
    expected = {
        "energy_std": energy.std(0),
        "atomic_energies_std": atomic.std(0),
        "forces_std": np.sqrt(forces.var(0).sum(-1)),
        "stress_std": np.sqrt(stress.var(0).sum((-1, -2))),
    }
    for name, value in expected.items():
        assert out.extra[name].shape == value.shape, name
        np.testing.assert_allclose(out.extra[name].detach().numpy(), value, rtol=1e-10, atol=1e-14)
    assert expected["stress_std"][1] > 0 and expected["stress_std"][0] == 0  # the molecule has no stress


def test_one_backward_and_per_member_derivatives_agree() -> None:
    committee, graph = Committee([_member(0), _member(1)]), _graph()
    fast = committee(graph, outputs=("energy", "forces", "stress", "energy_std"))
    each = committee(graph, outputs=("energy", "forces", "stress", "forces_std"))
    for name in ("energy", "forces", "stress"):
        torch.testing.assert_close(getattr(fast, name), getattr(each, name), rtol=1e-12, atol=1e-14)
    assert set(fast.extra) == {"energy_std"} and set(each.extra) == {"forces_std"}


def test_identical_members_have_zero_spread() -> None:
    member = _member(0)
    out = Committee([member, copy.deepcopy(member), copy.deepcopy(member)])(_graph(), outputs=ALL)
    for name in STD_OUTPUTS:
        assert float(out.extra[name].detach().abs().max()) < 1e-12, name


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_std_outputs_are_invariant_and_forces_equivariant(dtype: torch.dtype) -> None:
    committee = Committee([_member(0, dtype), _member(1, dtype)])
    assert_equivariant(committee, _ethanol(), outputs=("energy", "forces", "energy_std", "forces_std",
                                                       "atomic_energies_std"))
    assert_equivariant(committee, _crystal(), outputs=("stress", "stress_std", "forces_std"))


def test_forces_are_minus_the_gradient_of_the_mean_energy() -> None:
    committee = Committee([_member(0), _member(1), _member(2)])
    assert_forces_match_finite_differences(committee, _ethanol())


def test_members_with_different_cutoffs_and_composition() -> None:
    # a committee of sums composes, and each member sees only its own edges
    members = [SumPotential(_member(0), PairRepulsion(SPECIES, cutoff=1.5, dtype=torch.float64)), _member(1, cutoff=2.5)]
    committee = Committee(members)
    assert committee.cutoff == 3.0
    graph = graph_from_atoms(_ethanol(), 3.0)
    out = committee(graph, outputs=("energy", "forces"))
    second = members[1](graph_from_atoms(_ethanol(), 2.5), outputs=("energy", "forces"))
    first = members[0](graph, outputs=("energy", "forces"))
    torch.testing.assert_close(out.energy, (first.energy + second.energy) / 2, rtol=1e-12, atol=1e-12)
    doubled = SumPotential(committee, PairRepulsion(SPECIES, cutoff=1.5, dtype=torch.float64))
    assert "forces_std" in doubled.output_specs()


def test_committee_refuses_mismatched_members() -> None:
    with pytest.raises(ValueError, match="at least 2 potentials"):
        Committee([_member(0)])
    with pytest.raises(TypeError, match="member 1 is a str, not a Potential"):
        Committee([_member(0), "model.pt"])  # type: ignore[list-item]
    other = EquivariantPotential(ModelConfig(species=["H", "C"], cutoff=3.0, num_channels=4, num_layers=1),
                                 dtype=torch.float64)
    with pytest.raises(ValueError, match="must share species"):
        Committee([_member(0), other])
    with pytest.raises(ValueError, match="must share dtype and device"):
        Committee([_member(0), _member(1, torch.float32)])
    with pytest.raises(ValueError, match=r"unknown outputs \['dipole'\]"):
        Committee([_member(0), _member(1)])(_graph(), outputs=("energy", "dipole"))


def test_committee_file_round_trip_and_calculator(tmp_path: Path) -> None:
    committee = Committee([_member(0), _member(1)])
    path = save_committee(committee, tmp_path / "committee.pt", {"note": "test"})
    loaded = load_committee(path)
    assert loaded.metadata == {"note": "test"} and len(loaded) == 2
    graph = _graph()
    torch.testing.assert_close(loaded(graph, outputs=ALL).extra["forces_std"],
                               committee(graph, outputs=ALL).extra["forces_std"], rtol=1e-12, atol=1e-14)
    # the file is plain data: torch's safe loader reads it
    assert torch.load(path, weights_only=True)["format"] == "equipot-committee"
    assert isinstance(load_potential(path, dtype=torch.float32), Committee)

    atoms = _ethanol()
    atoms.calc = EquipotCalculator.from_file(path)
    assert {"energy_std", "forces_std", "stress_std", "atomic_energies_std"} <= set(atoms.calc.implemented_properties)
    energy = atoms.get_potential_energy()
    forces_std = atoms.calc.get_property("forces_std", atoms)
    assert forces_std.shape == (9,) and np.all(forces_std > 0)
    assert isinstance(atoms.calc.get_property("energy_std", atoms), float)
    direct = committee(graph_from_atoms(atoms, 3.0), outputs=("energy",)).energy
    assert energy == pytest.approx(float(direct[0]), rel=1e-12)
    assert isinstance(load_calculator(str(path)).model, Committee)

    with pytest.raises(ModelFileError, match="is a committee file, not a single model"):
        load_model(path)
    model_path = save_model(_member(0), tmp_path / "model.pt")
    assert isinstance(load_potential(model_path), EquivariantPotential)
    with pytest.raises(ModelFileError, match="single model file, not a committee"):
        load_committee(model_path)
    (tmp_path / "junk.pt").write_bytes(b"not a file")
    with pytest.raises(ModelFileError, match="not a readable equipot model or committee file"):
        load_committee(tmp_path / "junk.pt")


# --------------------------------------------------------------------------- training
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "train"))
from train_helpers import tiny_config, write_molecules  # noqa: E402


def test_member_configs_share_the_split_and_differ_in_seed_and_resample(tmp_path: Path) -> None:
    config = tiny_config(write_molecules(tmp_path / "ch4.xyz"), tmp_path / "run", seed=5)
    members = [member_config(config, index, bootstrap=True) for index in range(2)]
    assert [m.seed for m in members] == [5, 6] and [m.data.bootstrap_seed for m in members] == [5, 6]
    assert members[1].output_dir == str(tmp_path / "run" / "member_1")
    data = [load_training_data(m, cutoff=3.0) for m in members]
    assert data[0].valid.names == data[1].valid.names  # one validation set for all members
    assert data[0].train.names != data[1].train.names  # different resamples
    assert len(data[0].train) == len(load_training_data(config, cutoff=3.0).train)
    assert len(set(data[0].train.names)) < len(data[0].train)  # drawn with replacement
    plain = member_config(config, 1)
    assert plain.data.bootstrap_seed is None


def test_member_configs_of_a_fine_tune_leave_the_model_section_to_the_base_file(tmp_path: Path) -> None:
    config = tiny_config(write_molecules(tmp_path / "ch4.xyz"), tmp_path / "run")
    finetune = TrainConfig.model_validate({**config.model_dump(exclude={"model"}), "finetune_from": "base.pt"})
    member = member_config(finetune, 1)
    # set keys would be compared with the base model file's architecture and refused
    assert member.finetune_from == "base.pt" and not member.model.model_fields_set
    assert member.seed == finetune.seed + 1 and member.data.split_seed == finetune.seed


def test_train_committee_from_the_command_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = tiny_config(write_molecules(tmp_path / "ch4.xyz"), tmp_path / "run", max_epochs=1)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config.model_dump(mode="json")))
    runner = CliRunner()
    # on this 2-core machine: two spawned processes (the default, one member per core)
    result = runner.invoke(app, ["train", str(path), "--committee", "2", "--bootstrap", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "member 1 (seed 1)" in result.output and "committee:" in result.output
    assert "spreads calibrated on the validation split: energy_std x" in result.output
    committee = load_committee(tmp_path / "run" / "committee.pt")
    assert len(committee) == 2 and committee.metadata["bootstrap"] is True
    assert committee.metadata["members"][1]["seed"] == 1
    # the spreads were calibrated on the members' shared validation split
    assert set(committee.scales) == {"energy_std", "forces_std"} and committee.calibrated_on.startswith("validation (")
    valid = load_training_data(member_config(config, 0), committee.cutoff).valid
    assert calibrate_committee(Committee(committee.members), valid.graphs).scales == pytest.approx(committee.scales)
    stored = [load_model(tmp_path / "run" / f"member_{i}" / "model.pt").metadata["config"] for i in range(2)]
    assert [c["seed"] for c in stored] == [0, 1] and [c["data"]["bootstrap_seed"] for c in stored] == [0, 1]

    evaluated = runner.invoke(app, ["evaluate", str(tmp_path / "run" / "committee.pt"), str(tmp_path / "ch4.xyz"),
                                    "--out-dir", str(tmp_path / "eval"), "--uncertainty", "--no-progress",
                                    "--json", str(tmp_path / "eval.json")])
    assert evaluated.exit_code == 0, evaluated.output
    assert "Spearman" in evaluated.output and (tmp_path / "eval" / "calibration.png").is_file()
    assert "forces_per_atom" in (tmp_path / "eval.json").read_text()

    single = runner.invoke(app, ["evaluate", str(tmp_path / "run" / "member_0" / "model.pt"),
                                 str(tmp_path / "ch4.xyz"), "--uncertainty", "--no-progress"])
    assert single.exit_code != 0 and "declares no uncertainty outputs" in single.output

    refused = runner.invoke(app, ["train", str(path), "--committee", "1"])
    assert refused.exit_code != 0 and "at least 2 members" in refused.output
    bare = runner.invoke(app, ["train", str(path), "--bootstrap"])
    assert bare.exit_code != 0 and "add --committee N" in bare.output
    none_at_once = runner.invoke(app, ["train", str(path), "--committee", "2", "--parallel", "0"])
    assert none_at_once.exit_code != 0 and "parallel must be at least 1" in none_at_once.output


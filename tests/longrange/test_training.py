"""`equipot train` with ``model.long_range``: a tiny hybrid trains end to end on NaCl cells
(energy, forces, stress, and a loss on the reference charges), writes plain-data
checkpoints and a model file that `load_potential`, the calculator and ``equipot md`` load."""

from __future__ import annotations

from pathlib import Path

import ase.io
import pytest
import torch
import typer
import yaml
from typer.testing import CliRunner

from equipot import EquipotCalculator
from equipot.cli.md import md
from equipot.config import ConfigError, ModelConfig, TrainConfig
from equipot.data import graph_from_atoms
from equipot.longrange import LongRangePotential, build_potential
from equipot import load_potential
from equipot.train import fit
from equipot.train.module import PotentialModule

TINY = {
    "num_channels": 4,
    "num_layers": 1,
    "lmax": 1,
    "hidden_lmax": 1,
    "correlation": 2,
    "radial_hidden": 8,
    "num_radial_basis": 4,
    "readout_hidden": 4,
    "cutoff": 3.0,
}
LONG_RANGE = {"charges": "neutral", "accuracy": 1e-4, "real_space_cutoff": 5.0}


def hybrid_config(train_file: Path, output_dir: Path, **overrides: object) -> TrainConfig:
    config = {
        "data": {"train_file": str(train_file), "n_valid": 4},
        "model": {**TINY, "long_range": LONG_RANGE},
        "loss": {"stress_weight": 1.0, "targets": {"charges": {"weight": 1.0}}},
        "max_epochs": 2,
        "batch_size": 4,
        "dtype": "float64",
        "output_dir": str(output_dir),
        "accelerator": "cpu",
        "seed": 1,
        "atomic_energies": {"Na": 0.0, "Cl": 0.0},  # NaCl alone cannot separate them
        **overrides,
    }
    return TrainConfig.model_validate(config)


@pytest.fixture(scope="module")
def trained_run(nacl_cells_file: Path, tmp_path_factory: pytest.TempPathFactory):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        config = hybrid_config(nacl_cells_file, tmp_path_factory.mktemp("run") / "hybrid")
        return config, fit(config)
    finally:
        torch.set_num_threads(threads)


def test_a_hybrid_trains_its_charge_head_and_writes_a_model_file_load_potential_reads(trained_run, nacl_cells_file) -> None:
    config, result = trained_run
    assert result.epochs_trained == 2
    assert {"charges_mae", "stress_mae", "forces_mae"} <= set(result.valid_metrics)
    model = load_potential(result.model_path, dtype=torch.float64)
    assert isinstance(model, LongRangePotential)
    assert model.local.config.long_range is not None and model.local.config.long_range.charges == "neutral"
    assert model.metadata["best_epoch"] >= 1 and "statistics" in model.metadata
    # the normalization went to the local part, and the charge head moved away from its initial weights
    torch.manual_seed(config.seed)
    initial = build_potential(model.local.config, dtype=torch.float64)
    assert float(model.local.scale) != float(initial.local.scale)
    moved = [not torch.equal(a, b) for a, b in zip(model.charge_head.state_dict().values(), initial.charge_head.state_dict().values())]
    assert any(moved)


def test_the_checkpoint_is_plain_data_and_its_ema_weights_give_the_calculators_energy(trained_run, nacl_cells_file) -> None:
    _, result = trained_run
    checkpoint = torch.load(result.best_checkpoint_path, weights_only=True)  # plain data, no code
    model = load_potential(result.model_path)
    prefix = "ema.model."
    ema = {k.removeprefix(prefix): v for k, v in checkpoint["state_dict"].items() if k.startswith(prefix)}
    assert any(k.startswith("charge_head.") for k in ema)
    rebuilt = build_potential(model.local.config, dtype=model.dtype)
    rebuilt.load_state_dict(ema, strict=False)
    rebuilt.eval()

    atoms = ase.io.read(nacl_cells_file, index=0)
    calculator = EquipotCalculator.from_file(result.model_path)
    energy = atoms.copy()
    energy.calc = calculator
    expected = rebuilt(graph_from_atoms(atoms, rebuilt.cutoff), outputs={"energy"}).energy.detach()
    assert energy.get_potential_energy() == pytest.approx(float(expected[0]), abs=1e-9)
    charges = calculator.get_property("charges", energy)
    assert charges.shape == (8,) and abs(charges.sum()) < 1e-10
    parts = calculator.results["energy_short_range"] + calculator.results["energy_long_range"]
    assert parts == pytest.approx(energy.get_potential_energy(), abs=1e-9)


def test_md_runs_from_the_command_line_with_a_hybrid_model_file(trained_run, nacl_cells_file, tmp_path) -> None:
    _, result = trained_run
    app = typer.Typer(pretty_exceptions_enable=False)
    app.command()(md)
    structure = tmp_path / "start.xyz"
    ase.io.write(structure, ase.io.read(nacl_cells_file, index=1))
    out = tmp_path / "md"
    run = CliRunner().invoke(
        app,
        [str(result.model_path), str(structure), "--steps", "6", "--timestep", "1.0", "--log-every", "3",
         "--out-dir", str(out), "--no-progress"],
    )
    assert run.exit_code == 0, run.output
    assert len(ase.io.read(out / "trajectory.extxyz", index=":")) == 3  # steps 0, 3, 6


def test_a_charge_target_without_long_range_says_where_charges_come_from(nacl_cells_file, tmp_path) -> None:
    config = hybrid_config(nacl_cells_file, tmp_path / "local", model=TINY)
    with pytest.raises(ConfigError, match="learned charges come with a model.long_range section"):
        fit(config)


@pytest.mark.parametrize("target", ["charges", "dipole"])
def test_a_charge_or_dipole_target_with_fixed_charges_is_refused_as_training_nothing(nacl_cells_file, tmp_path, target) -> None:
    fixed = {**LONG_RANGE, "charges": "fixed", "fixed_charges": {"Na": 1.0, "Cl": -1.0}}
    config = hybrid_config(
        nacl_cells_file, tmp_path / "fixed", model={**TINY, "long_range": fixed},
        loss={"targets": {target: {"weight": 1.0}}},
    )
    with pytest.raises(ConfigError, match="charges: fixed the charges .* would train nothing: remove it"):
        fit(config)


def test_the_training_module_refuses_a_potential_without_parameters() -> None:
    class Frozen(torch.nn.Module):
        pass

    config = TrainConfig.model_validate({"data": {"train_file": "x.xyz"}, "model": TINY})
    with pytest.raises(TypeError, match="trains a potential with parameters"):
        PotentialModule(Frozen(), config)  # type: ignore[arg-type]


def test_a_hybrid_model_config_round_trips_through_the_resolved_run_config(trained_run) -> None:
    _, result = trained_run
    stored = TrainConfig.model_validate(yaml.safe_load((result.output_dir / "config.yaml").read_text()))
    assert isinstance(stored.model, ModelConfig) and stored.model.long_range is not None
    assert sorted(stored.model.species) == ["Cl", "Na"]

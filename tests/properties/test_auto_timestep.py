"""``timestep_fs="auto"`` / ``equipot md --timestep auto``: the step is
`stable_timestep`'s recommendation for the starting structure (0.15 x 2/omega_max), it is
reported, and the MD runs with it."""

from __future__ import annotations

import json

import ase.io
import numpy as np
import pytest
import typer
from ase.build import bulk
from ase.calculators.emt import EMT
from typer.testing import CliRunner

from equipot import EquipotCalculator
from equipot.cli.md import md, parse_timestep
from equipot.properties import SAFETY_FRACTION, stable_timestep
from equipot.simulate import EnsembleSettings, run_md
from equipot.simulate.ensembles import make_dynamics, resolve_timestep

app = typer.Typer(pretty_exceptions_enable=False)
app.command()(md)
runner = CliRunner()


def _cu(a: float) -> "ase.Atoms":
    atoms = bulk("Cu", "fcc", a=a).repeat(2)  # 8 atoms: 48 EMT force calls for the Hessian
    atoms.rattle(0.02, seed=3)
    return atoms


def test_auto_gives_the_recommended_step_of_the_hessian_and_md_runs(emt_cu_lattice: float) -> None:
    atoms = _cu(emt_cu_lattice)
    expected = stable_timestep(EMT(), atoms)
    result = run_md(atoms, EMT(), EnsembleSettings("nve", timestep_fs="auto", temperature_K=300.0), 40,
                    log_every=10, progress=False)
    assert result.timestep_fs == pytest.approx(expected.recommended_fs, rel=1e-12)
    assert result.timestep_fs == pytest.approx(SAFETY_FRACTION * expected.stability_limit_fs, rel=1e-12)
    # EMT Cu: highest Gamma-point mode of the 8-atom cell ~ 7-8 THz, so a step of several fs
    assert 3.0 < result.timestep_fs < 8.0
    summary = result.to_dict(include_arrays=False)
    assert summary["timestep_estimate"]["fraction"] == SAFETY_FRACTION
    assert summary["timestep_estimate"]["hessian_method"] == "finite-differences"
    assert np.isfinite(result.total_energy).all()
    assert abs(result.drift_per_atom_per_ps) < 1e-3  # NVE at the auto step conserves energy


def test_an_equipot_calculator_uses_the_exact_hessian(cu_model) -> None:
    atoms = _cu(3.6)
    atoms.calc = EquipotCalculator(cu_model)
    settings, estimate = resolve_timestep(atoms, EnsembleSettings("nvt", timestep_fs="auto"))
    assert estimate is not None and estimate.hessian_method == "autograd-vmap"
    assert settings.timestep_fs == pytest.approx(stable_timestep(cu_model, atoms).recommended_fs, rel=1e-10)
    assert settings.ensemble == "nvt"
    fixed = EnsembleSettings("nve", timestep_fs=0.5)
    assert resolve_timestep(atoms, fixed) == (fixed, None)


def test_bad_time_steps_are_named() -> None:
    with pytest.raises(ValueError, match="timestep_fs must be a positive number \\(fs\\) or 'auto', got 'fast'"):
        EnsembleSettings(timestep_fs="fast")
    with pytest.raises(ValueError, match="--timestep must be a time step in fs \\(e.g. 0.5\\) or auto, got 'fast'"):
        parse_timestep("fast")
    with pytest.raises(ValueError, match="--timestep must be positive"):
        parse_timestep("-1")
    assert parse_timestep("0.5") == 0.5 and parse_timestep("AUTO") == "auto"
    atoms = bulk("Cu", a=3.6)
    atoms.calc = EMT()
    with pytest.raises(ValueError, match="call resolve_timestep\\(atoms, settings\\)"):
        make_dynamics(atoms, EnsembleSettings(timestep_fs="auto"))


def test_md_command_reports_the_auto_step(model_file, tmp_path) -> None:
    structure = tmp_path / "cu.xyz"
    ase.io.write(structure, _cu(3.6))
    out = tmp_path / "md"
    result = runner.invoke(app, [str(model_file), str(structure), "--timestep", "auto", "--steps", "5",
                                 "--log-every", "5", "--out-dir", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "md_summary.json").read_text())
    assert summary["timestep_estimate"]["recommended_fs"] == pytest.approx(summary["timestep_fs"])
    assert f"time step (auto): {summary['timestep_fs']:.3g} fs = 0.15 x" in " ".join(result.output.split())
    fixed = runner.invoke(app, [str(model_file), str(structure), "--timestep", "0.5", "--steps", "2",
                                "--out-dir", str(out), "--no-progress"])
    assert fixed.exit_code == 0, fixed.output
    summary = json.loads((out / "md_summary.json").read_text())
    assert summary["timestep_fs"] == 0.5 and "timestep_estimate" not in summary
    bad = runner.invoke(app, [str(model_file), str(structure), "--timestep", "fast", "--out-dir", str(out)])
    assert bad.exit_code == 2 and "--timestep must be a time step in fs" in bad.output

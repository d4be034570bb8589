"""Polymorph ranking and transfer to disorder: EMT against itself (errors 0, the known EMT
ranking of Cu) and a tiny untrained model (runs, a sane table and plot)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from ase.calculators.emt import EMT

from equipot import EquivariantPotential
from equipot.properties.polymorphs import (
    disorder_errors,
    disorder_structures,
    phase_structure,
    plot_disorder_errors,
    polymorph_ranking,
    ranking_table,
)

TINY = {"num_channels": 4, "num_layers": 1, "lmax": 1, "hidden_lmax": 1, "correlation": 2, "radial_hidden": 8,
        "num_radial_basis": 4, "readout_hidden": 4, "cutoff": 3.0}


@pytest.fixture(scope="module")
def tiny_model() -> EquivariantPotential:
    torch.manual_seed(0)
    return EquivariantPotential(species=["Cu"], dtype=torch.float64, **TINY)


@pytest.fixture(scope="module")
def frames():
    return disorder_structures(EMT(), strains=(0.05,), temperatures=(600.0,), md_steps=5, quench_steps=5)


def test_emt_against_itself_has_zero_errors_and_the_emt_ranking() -> None:
    rows = polymorph_ranking(EMT(), EMT())
    # ASE's EMT puts hcp Cu 0.9 meV/atom below fcc (a known EMT artefact), then bcc, then sc
    assert [row.phase for row in rows] == ["hcp", "fcc", "bcc", "sc"]
    assert all(row.converged for row in rows)
    assert all(abs(row.error) < 1e-12 and row.volume == row.reference_volume for row in rows)
    by_phase = {row.phase: row for row in rows}
    assert by_phase["fcc"].reference_volume == pytest.approx(11.56, abs=0.05)  # EMT Cu: a = 3.59 Å
    assert by_phase["hcp"].reference_relative == pytest.approx(-0.0009, abs=0.0003)
    assert by_phase["bcc"].reference_relative == pytest.approx(0.0327, abs=0.002)
    assert by_phase["sc"].reference_relative > 0.3
    table = ranking_table(rows)
    assert table.count("\n") == 5 and "| fcc | 0.0 | 0.0 | +0.0 |" in table


def test_phase_structures_have_the_asked_volume() -> None:
    for phase in ("fcc", "bcc", "hcp", "sc"):
        atoms = phase_structure(phase, volume_per_atom=12.0)
        assert atoms.get_volume() / len(atoms) == pytest.approx(12.0)
    with pytest.raises(ValueError, match="unknown phase 'diamond'; choose from"):
        phase_structure("diamond")


def test_disorder_errors_of_emt_are_zero_and_distances_grow(frames, tiny_model, tmp_path: Path) -> None:
    kinds = [frame.kind for frame in frames]
    assert kinds == ["crystal", "strained", "heated", "amorphous"]
    result = disorder_errors(EMT(), EMT(), frames, descriptor_model=tiny_model)
    assert all(abs(frame.error) < 1e-12 for frame in result)
    assert result[0].distance == pytest.approx(0.0, abs=1e-9)
    assert all(frame.distance > 1e-6 for frame in result[1:])
    path = plot_disorder_errors(result, tmp_path / "disorder.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_tiny_model_gives_a_sane_table_and_finite_errors(frames, tiny_model) -> None:
    rows = polymorph_ranking(tiny_model, EMT(), phases=("fcc", "bcc"), max_steps=30)
    assert {row.phase for row in rows} == {"fcc", "bcc"}
    assert all(np.isfinite([row.energy, row.volume, row.error]).all() for row in rows)
    fcc = next(row for row in rows if row.phase == "fcc")
    assert fcc.relative == 0.0 and fcc.reference_relative == 0.0
    result = disorder_errors(tiny_model, EMT(), frames)
    assert all(np.isfinite(frame.error) and frame.error != 0 for frame in result)


def test_an_ase_calculator_needs_a_descriptor_model(frames) -> None:
    with pytest.raises(TypeError, match="descriptor distances need an equipot model: pass descriptor_model="):
        disorder_errors(EMT(), EMT(), frames)


def test_polymorphs_command_writes_the_table_json_and_plot(tiny_model, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from equipot import save_model
    from equipot.cli.main import app

    model_file = tmp_path / "model.pt"
    save_model(tiny_model, model_file)
    out = tmp_path / "out"
    runner = CliRunner()
    result = runner.invoke(app, ["polymorphs", str(model_file), "--phase", "fcc", "--phase", "bcc", "--md-steps", "3",
                                 "--quench-steps", "3", "--out-dir", str(out)])
    assert result.exit_code == 0, result.output
    assert "| fcc |" in result.output and "melt-quenched" in result.output
    assert (out / "disorder.png").is_file() and (out / "polymorphs.md").read_text().count("\n") == 4
    bad = runner.invoke(app, ["polymorphs", str(model_file), "--phase", "diamond", "--out-dir", str(out)])
    assert bad.exit_code == 2 and "--phase 'diamond' is not known; choose from" in bad.output

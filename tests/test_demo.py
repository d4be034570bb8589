"""The README's main job, `equipot demo`, end to end on a tiny budget."""

from typer.testing import CliRunner

from equipot.cli.main import app


def test_demo_trains_evaluates_and_runs_md(tmp_path):
    result = CliRunner().invoke(
        app, ["demo", "--out-dir", str(tmp_path), "--minutes", "0.01", "--md-steps", "20"]
    )
    assert result.exit_code == 0, result.output
    assert "test energy MAE" in result.output and "NVE: drift" in result.output
    for name in ("parity_energy.png", "parity_forces.png", "error_histogram.png", "nve_energy.png", "nve.extxyz"):
        assert (tmp_path / name).stat().st_size > 0, name
    assert (tmp_path / "run" / "model.pt").is_file()

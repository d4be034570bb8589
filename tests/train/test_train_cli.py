"""`equipot train` and `equipot evaluate` as a user runs them."""

from __future__ import annotations

import yaml
from train_helpers import tiny_config, write_molecules
from typer.testing import CliRunner

from equipot.cli.main import app
from equipot.config import load_train_config

runner = CliRunner()


def test_print_default_config_loads_back(tmp_path):
    result = runner.invoke(app, ["train", "--print-default-config"])
    assert result.exit_code == 0, result.output
    path = tmp_path / "config.yaml"
    path.write_text(result.output)
    assert load_train_config(path).model.num_channels == 64


def test_train_resume_dir_and_evaluate(tmp_path):
    data = write_molecules(tmp_path / "ch4.xyz")
    config = tiny_config(data, tmp_path / "run", max_epochs=1)
    config_path = tmp_path / "config.yaml"
    config_path.write_text(yaml.safe_dump(config.model_dump(mode="json")))

    first = runner.invoke(app, ["train", str(config_path)])
    assert first.exit_code == 0, first.output
    assert "model:" in first.output and (tmp_path / "run" / "model.pt").is_file()

    # a second plain run refuses to overwrite; --resume DIR continues it (here: one more epoch)
    again = runner.invoke(app, ["train", str(config_path)])
    assert again.exit_code == 2 and "already holds a run" in again.output
    stored = tmp_path / "run" / "config.yaml"
    stored.write_text(stored.read_text().replace("max_epochs: 1", "max_epochs: 2"))
    resumed = runner.invoke(app, ["train", "--resume", str(tmp_path / "run")])
    assert resumed.exit_code == 0, resumed.output
    assert "of 2)" in resumed.output  # best epoch N of 2 epochs trained
    assert f"resuming {tmp_path / 'run'} from epoch 1" in resumed.output

    evaluated = runner.invoke(
        app, ["evaluate", str(tmp_path / "run" / "model.pt"), str(data), "--out-dir", str(tmp_path / "eval"),
              "--json", str(tmp_path / "eval.json")]
    )
    assert evaluated.exit_code == 0, evaluated.output
    assert (tmp_path / "eval" / "parity_forces.png").is_file() and (tmp_path / "eval.json").is_file()


def test_train_without_config_explains(tmp_path):
    result = runner.invoke(app, ["train"])
    assert result.exit_code == 2 and "print-default-config" in result.output
    missing = runner.invoke(app, ["train", str(tmp_path / "nope.yaml")])
    assert missing.exit_code == 2 and "nope.yaml" in missing.output

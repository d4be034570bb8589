"""`TrainConfig`: the default YAML round-trips; every kind of config mistake gets a clear message."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from equipot.config import ConfigError, TrainConfig, default_config_yaml, load_train_config
from equipot.config.train import parse_train_config


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


def test_default_config_loads_back_with_defaults(tmp_path: Path) -> None:
    text = default_config_yaml()
    config = load_train_config(write(tmp_path, text))
    assert config == TrainConfig(data={"train_file": "train.xyz"})
    assert config.model.species is None  # inferred from the data at training time
    # every key is documented with a comment line above it
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if line.strip() and not line.lstrip().startswith("#"):
            assert lines[index - 1].lstrip().startswith("#"), line
    assert "eV/Å" in text and "meV" not in text.split("loss:")[0]


def test_default_config_shows_the_loss_switch_commented_out(tmp_path: Path) -> None:
    text = default_config_yaml()
    assert "  # switch:\n  #   # switch after this many epochs\n  #   epoch: 150" in text
    before, switch = text.split("  # switch:\n", 1)  # uncomment only the switch section
    block, after = switch.split("  switch: null\n", 1)
    uncommented = before + "  switch:\n" + block.replace("  #   ", "    ") + after
    config = load_train_config(write(tmp_path, uncommented))
    assert config.loss.switch is not None and config.loss.switch.epoch == 150


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "data: {train_file: a.xyz}\nmax_epoch: 3\n",
            "unknown key 'max_epoch' in the top level; did you mean 'max_epochs'?",
        ),
        (
            "data: {train_file: a.xyz}\noptimizer: {lr_rate: 0.1}\n",
            "unknown key 'lr_rate' in section 'optimizer'; did you mean 'lr'?",
        ),
        ("data: {train_file: a.xyz}\noptimizer: {learning_rate: 0.1}\n", "in section 'optimizer'; did you mean 'lr'?"),
        (
            "data: {train_file: a.xyz}\nmodel: {num_chanels: 8}\n",
            "unknown key 'num_chanels' in section 'model'; did you mean 'num_channels'?",
        ),
        (
            "data: {train_file: a.xyz, keys: {froces: f}}\n",
            "unknown key 'froces' in section 'data.keys'; did you mean 'forces'?",
        ),
        (
            "data: {train_file: a.xyz}\nloss: {switch: {epoch: 3, energy_wieght: 9}}\n",
            "section 'loss.switch'; did you mean 'energy_weight'?",
        ),
    ],
)
def test_unknown_keys_suggest_the_closest(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError, match="invalid config") as error:
        load_train_config(write(tmp_path, text))
    assert expected in str(error.value)
    assert str(tmp_path / "config.yaml") in str(error.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("data: {train_file: a.xyz}\nbatch_size: many\n", "batch_size: Input should be a valid integer"),
        (
            "data: {train_file: a.xyz}\nbatch_size: 0\n",
            "batch_size: Input should be greater than or equal to 1 (got 0)",
        ),
        (
            "data: {train_file: a.xyz}\noptimizer: {name: sgd}\n",
            "optimizer.name: Input should be 'adamw' or 'amsgrad' (got 'sgd')",
        ),
        ("data: {train_file: a.xyz}\ndtype: float16\n", "dtype: Input should be 'float32' or 'float64'"),
        ("data: {train_file: a.xyz}\nmodel: {species: [H, Qq]}\n", "unknown chemical symbols ['Qq']"),
        (
            "data: {train_file: a.xyz}\natomic_energies: {Zz: 1.0}\n",
            "unknown chemical symbols ['Zz'] in atomic_energies",
        ),
        ("max_epochs: 3\n", "data: required key is missing"),
        ("data: {valid_file: b.xyz}\n", "data.train_file: required key is missing"),
        (
            "data: {train_file: a.xyz, n_test: 3, test_fraction: 0.1}\n",
            "at most one of data.test_fraction and data.n_test",
        ),
        ("data: {train_file: a.xyz, valid_file: b.xyz, n_valid: 3}\n", "data.valid_file is set: remove data.n_valid"),
        ("data: {train_file: a.xyz}\nloss: {energy_weight: 0, forces_weight: 0}\n", "all loss weights are 0"),
        ("data: {train_file: a.xyz}\nthreads: 0\n", "threads: Input should be greater than or equal to 1 (got 0)"),
        ("data: {train_file: []}\n", "train_file lists no files; give at least one"),
    ],
)
def test_wrong_values_name_the_key(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_train_config(write(tmp_path, text))
    assert expected in str(error.value)


def test_file_problems(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match="does not exist; write a starting point with `equipot train --print-default-config"
    ):
        load_train_config(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="is a directory"):
        load_train_config(tmp_path)
    with pytest.raises(ConfigError, match=r"YAML syntax error at line 4, column 5: expected"):
        load_train_config(write(tmp_path, "data:\n  train_file: a.xyz\n  index: [1, 2\nseed: 1\n"))
    with pytest.raises(ConfigError, match="is empty"):
        load_train_config(write(tmp_path, "# nothing\n"))
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_train_config(write(tmp_path, "- a\n- b\n"))


def test_model_section_fills_species_and_keeps_model_validation() -> None:
    config = parse_train_config({"data": {"train_file": "a.xyz"}, "model": {"species": ["O", "H"], "num_channels": 8}})
    assert config.model.species == ["H", "O"]  # sorted by atomic number, as ModelConfig does
    model_config = config.model.with_species(["C", "H"])
    assert model_config.species == ["H", "C"] and model_config.num_channels == 8
    with pytest.raises(ConfigError, match="hidden_irreps"):
        parse_train_config({"data": {"train_file": "a.xyz"}, "model": {"hidden_irreps": "8x1o"}})


def test_config_round_trips_through_yaml(tmp_path: Path) -> None:
    config = parse_train_config(
        {
            "data": {"train_file": "a.xyz", "n_test": 2},
            "loss": {"kind": "huber", "switch": {"epoch": 5, "lr": 1e-3}},
            "devices": [0, 1],
            "atomic_energies": {"H": -13.6},
        }
    )
    text = yaml.safe_dump(config.model_dump(mode="json"))
    assert load_train_config(write(tmp_path, text)) == config


def test_docs_show_the_current_default_config() -> None:
    docs = Path(__file__).resolve().parents[2] / "docs" / "training.md"
    assert "```yaml\n" + default_config_yaml() + "```\n" in docs.read_text(), (
        "docs/training.md is out of date: paste the output of `equipot train --print-default-config` "
        "between the default-config markers"
    )

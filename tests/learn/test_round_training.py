"""One round's training config: fine-tunes take at least ``min_steps`` optimizer steps
(epochs raised when the labelled set is small) and decay their learning rate (cosine)."""

from __future__ import annotations

import ase.io
import pytest
from ase.build import bulk
from ase.calculators.singlepoint import SinglePointCalculator

from equipot.config.learn import FinetuneSection, SelectionSection, parse_learn_config
from equipot.config.train import ConfigError, TrainConfig
from equipot.learn.training import finetune_epochs, previous_round_models, round_train_config

BASE = {"data": {"train_file": "x.xyz", "n_valid": 2}, "batch_size": 4, "max_epochs": 60,
        "scheduler": {"name": "plateau", "min_lr": 1e-5}}


def labelled_file(path, n: int):
    frames = []
    for _ in range(n):
        atoms = bulk("Cu", cubic=True)
        atoms.calc = SinglePointCalculator(atoms, energy=0.0, forces=atoms.positions * 0.0)
        frames.append(atoms)
    ase.io.write(path, frames)
    return path


@pytest.mark.parametrize(("n_structures", "min_steps", "expected"), [
    (30, 150, 22),     # 28 after the 2 held out -> 7 batches of 4 -> ceil(150 / 7)
    (98, 150, 15),     # 24 batches: 15 epochs are 360 steps already
    (30, None, 15),    # null: max_epochs always
    (3, 150, 150),     # one structure left to train on: one batch per epoch
])
def test_finetune_epochs_reach_min_steps(n_structures, min_steps, expected):
    base = TrainConfig.model_validate(BASE)
    finetune = FinetuneSection(max_epochs=15, min_steps=min_steps)
    assert finetune_epochs(finetune, base, n_structures) == expected


def test_finetune_epochs_count_fractional_holdouts():
    base = TrainConfig.model_validate({**BASE, "data": {"train_file": "x.xyz", "valid_fraction": 0.1,
                                                        "test_fraction": 0.2}})
    # 50 -> 40 after the test fifth -> 36 after the validation tenth -> 9 batches -> ceil(100 / 9)
    assert finetune_epochs(FinetuneSection(max_epochs=5, min_steps=100), base, 50) == 12


def test_round_train_config_of_a_finetune(tmp_path):
    train_file = labelled_file(tmp_path / "labelled.xyz", 30)
    base = TrainConfig.model_validate({**BASE, "model": {"num_channels": 4}})
    config = round_train_config(base, train_file, tmp_path / "train", FinetuneSection(max_epochs=15, lr=0.002))
    assert config.max_epochs == 22 and config.optimizer.lr == 0.002
    assert config.scheduler.name == "cosine" and config.scheduler.min_lr == 1e-5
    assert config.data.train_file == str(train_file) and config.output_dir == str(tmp_path / "train")
    kept = round_train_config(base, train_file, tmp_path / "train",
                              FinetuneSection(max_epochs=15, min_steps=None, schedule="train"))
    assert kept.max_epochs == 15 and kept.scheduler.name == "plateau"
    first = round_train_config(base, train_file, tmp_path / "train")  # round 1: the train config as given
    assert first.max_epochs == 60 and first.scheduler.name == "plateau" and first.model.num_channels == 4


def test_unknown_finetune_schedule_is_refused():
    data = {"initial_file": "i.xyz", "exploration": {"start_file": "s.xyz"}, "train": "t.yaml",
            "selection": {"threshold": 0.1}, "finetune": {"schedule": "linear"}}
    with pytest.raises(ConfigError, match=r"finetune\.schedule.*'cosine' or 'train'"):
        parse_learn_config(data)
    with pytest.raises(ConfigError, match=r"finetune\.min_steps.*greater than or equal to 1"):
        parse_learn_config({**data, "finetune": {"min_steps": 0}})


def test_previous_round_models_of_a_finetune_are_the_kept_epochs(tmp_path):
    selection = SelectionSection(estimator="committee", committee_size=2, threshold=0.1)
    for round_dir, base in (("round_1", None), ("round_2", "round_1/member_0/model.pt")):
        for member in (0, 1):
            run = tmp_path / round_dir / f"member_{member}"
            run.mkdir(parents=True)
            (run / "config.yaml").write_text(f"finetune_from: {base or 'null'}\n")
            (run / "model.pt").touch()
            (run / "last_model.pt").touch()
    last, best = FinetuneSection(), FinetuneSection(keep="best")
    # round 1 trained from scratch: its best model, whatever keep says
    assert [p.name for p in previous_round_models(tmp_path / "round_1", selection, last)] == ["model.pt"] * 2
    assert [p.relative_to(tmp_path).as_posix() for p in previous_round_models(tmp_path / "round_2", selection, last)] \
        == ["round_2/member_0/last_model.pt", "round_2/member_1/last_model.pt"]
    assert [p.name for p in previous_round_models(tmp_path / "round_2", selection, best)] == ["model.pt"] * 2
    (tmp_path / "round_2" / "member_1" / "last_model.pt").unlink()
    with pytest.raises(FileNotFoundError, match=r"member_1/last_model.pt'\] are missing"):
        previous_round_models(tmp_path / "round_2", selection, last)

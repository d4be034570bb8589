"""What a resumed run says, and that resuming a run whose time budget is spent trains no
further (a second ``equipot demo --resume`` used to train past its --minutes). The budget
itself (a stop inside an epoch) is tested in test_time_budget.py."""

from __future__ import annotations

import sys

import pytest
from train_helpers import tiny_config

from equipot.progress import progress_bars
from equipot.train import fit
from equipot.train.runner import build_trainer
from equipot.train.run_files import RunPaths


def test_a_spent_run_resumes_without_training_past_its_budget(molecules_file, tmp_path, one_thread, capsys):
    # a budget of 6 ms: the run stops after its first optimizer step, inside epoch 1
    config = tiny_config(molecules_file, tmp_path / "run", max_epochs=5, max_time_minutes=1e-4)
    first = fit(config)
    assert first.epochs_trained == 0 and first.best_epoch == pytest.approx(1 / 3)  # 1 of 3 batches
    assert first.best_model_path.is_file()  # the partial epoch's validation made model.pt
    capsys.readouterr()
    again = fit(config, resume=True)
    printed = capsys.readouterr().out
    assert again.epochs_trained == 0
    assert f"resuming {tmp_path / 'run'} from epoch 0 (step 1," in printed
    assert "time budget (0.0001 min) is spent" in printed
    assert "epoch 1/5" not in printed


def test_resuming_with_a_larger_budget_trains_on(molecules_file, tmp_path, one_thread, capsys):
    fit(tiny_config(molecules_file, tmp_path / "run", max_epochs=2, max_time_minutes=1e-4))
    capsys.readouterr()
    again = fit(tiny_config(molecules_file, tmp_path / "run", max_epochs=2, max_time_minutes=60), resume=True)
    printed = capsys.readouterr().out
    assert again.epochs_trained == 2
    assert "resuming" in printed and "is spent" not in printed and "epoch 2/2" in printed


@pytest.mark.parametrize("enabled", [True, False])
def test_no_progress_turns_the_training_bar_off(enabled, molecules_file, tmp_path, monkeypatch):
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    config = tiny_config(molecules_file, tmp_path / "run")
    with progress_bars(enabled):
        trainer = build_trainer(config, RunPaths(tmp_path / "run"), [])
    assert (trainer.progress_bar_callback is not None) is enabled

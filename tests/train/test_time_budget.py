"""``max_time_minutes`` is a budget: the run stops inside an epoch once it is spent (one
batch late at most), writes a checkpoint that resumes exactly, and validates the weights it
stopped with, so ``model.pt`` loses none of the trained minutes."""

from __future__ import annotations

import csv
import time

import pytest
import torch
from train_helpers import tiny_config, write_molecules

from equipot.train import PotentialModule, fit
from equipot.train.checkpoints import read_checkpoint

pytestmark = pytest.mark.usefixtures("one_thread")

BATCH_SECONDS = 0.15  # each training step sleeps this long: a 1 s budget runs out inside epoch 1 (12 steps)


def rows(path) -> list[dict[str, str]]:
    with open(path) as stream:
        return [{k: v for k, v in row.items() if k != "wall_time_s"} for row in csv.DictReader(stream)]


def test_the_budget_stops_inside_an_epoch_and_a_resume_continues_exactly(tmp_path, monkeypatch, capsys):
    train_file = write_molecules(tmp_path / "ch4.xyz", n=28)  # 24 training structures: 12 steps per epoch
    settings = dict(max_epochs=3, batch_size=2, dtype="float64", scheduler={"name": "plateau", "patience": 0})
    step, starts = PotentialModule.training_step, []

    def slow_step(self, batch, batch_idx):
        starts.append(time.monotonic())
        time.sleep(BATCH_SECONDS)
        return step(self, batch, batch_idx)

    monkeypatch.setattr(PotentialModule, "training_step", slow_step)
    budget_s = 1.0  # 12 x 0.15 s = 1.8 s of sleep per epoch: the budget ends before its last step
    stopped = fit(tiny_config(train_file, tmp_path / "stopped", max_time_minutes=budget_s / 60, **settings))
    printed = capsys.readouterr().out

    # stopped within one batch after the budget, inside epoch 1, with a resumable checkpoint
    checkpoint = read_checkpoint(stopped.last_checkpoint_path)
    history = next(state for key, state in checkpoint["callbacks"].items() if "TrainingHistory" in key)
    longest_batch = max(b - a for a, b in zip(starts, starts[1:]))
    assert budget_s <= history["elapsed"] <= budget_s + longest_batch + 0.1  # + writing the checkpoint
    assert checkpoint["epoch"] == 0 and 0 < checkpoint["global_step"] < 12
    assert stopped.epochs_trained == 0
    assert f"spent after {checkpoint['global_step']} of 12 batches of epoch 1" in printed
    # the weights it stopped with were validated: a fractional row, and model.pt if better
    table = rows(stopped.metrics_path)
    assert len(table) == 1 and float(table[0]["epoch"]) == pytest.approx(checkpoint["global_step"] / 12)
    assert "(stopped inside epoch 1)" in printed
    assert stopped.best_epoch == float(table[0]["epoch"])  # the only validation: model.pt
    assert torch.load(stopped.best_model_path, weights_only=True)["metadata"]["best_epoch"] == stopped.best_epoch

    # resumed without a budget: the same epochs and weights as a run never stopped
    monkeypatch.setattr(PotentialModule, "training_step", step)
    resumed = fit(tiny_config(train_file, tmp_path / "stopped", **settings), resume=True)
    reference = fit(tiny_config(train_file, tmp_path / "reference", **settings))
    assert resumed.epochs_trained == reference.epochs_trained == 3
    assert rows(resumed.metrics_path) == rows(reference.metrics_path)  # the fractional row is replaced
    for name in ("last_model_path", "best_checkpoint_path"):
        mine, theirs = (torch.load(getattr(r, name), weights_only=True)["state_dict"] for r in (resumed, reference))
        assert max(float((mine[k] - theirs[k]).abs().max()) for k in mine if mine[k].is_floating_point()) <= 1e-12
    assert resumed.valid_metrics == pytest.approx(reference.valid_metrics, rel=1e-12)

"""Runs that survive: a run killed with SIGKILL mid-epoch resumes to the same result as an
uninterrupted one; two DDP processes (gloo, CPU) train the same model as one process."""

from __future__ import annotations

import csv
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from train_helpers import tiny_config, write_molecules

from equipot.config import TrainConfig
from equipot.train import PotentialModule, fit

pytestmark = pytest.mark.usefixtures("one_thread")

SCRIPT = """
import os, pathlib, sys, time
import torch
torch.set_num_threads(1)
from equipot.train import PotentialModule, fit

pause = os.environ.get("PAUSE_AT")  # "epoch,batch" (0-based): touch a marker file and hang there
if pause:
    epoch, batch = map(int, pause.split(","))
    step = PotentialModule.training_step

    def training_step(self, graphs, batch_idx):
        if (self.current_epoch, batch_idx) == (epoch, batch):
            pathlib.Path("paused").touch()
            time.sleep(600)
        return step(self, graphs, batch_idx)

    PotentialModule.training_step = training_step
fit(sys.argv[1], resume=True)
"""


def launch(config: TrainConfig, folder: Path, extra_env: dict[str, str] | None = None) -> subprocess.Popen:
    """Run ``fit(config)`` in a new Python process (as `equipot train` would)."""
    script, config_file = folder / "train.py", folder / f"{Path(config.output_dir).name}.yaml"
    script.write_text(SCRIPT)
    config_file.write_text(yaml.safe_dump(config.model_dump(mode="json")))
    env = {**os.environ, "OMP_NUM_THREADS": "1", **(extra_env or {})}
    log = open(folder / f"{Path(config.output_dir).name}.log", "w")
    return subprocess.Popen(
        [sys.executable, str(script), str(config_file)], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=folder
    )


def metrics_rows(path: Path) -> list[dict[str, str]]:
    with open(path) as stream:
        return [{k: v for k, v in row.items() if k != "wall_time_s"} for row in csv.DictReader(stream)]


def weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, weights_only=True)["state_dict"]


def max_difference(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k].double() - b[k].double()).abs().max()) for k in a if a[k].is_floating_point())


def wait_for(condition, process: subprocess.Popen, timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            pytest.fail(f"training process ended early ({process.returncode}):\n{log.read_text()[-3000:]}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"timed out:\n{log.read_text()[-3000:]}")
        time.sleep(0.02)


def test_killed_or_crashed_runs_resume_to_the_uninterrupted_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    train_file = write_molecules(tmp_path / "ch4.xyz", n=28)  # 24 training structures: 12 steps per epoch
    settings = dict(
        max_epochs=4, batch_size=2, dtype="float64", scheduler={"name": "plateau", "patience": 0, "factor": 0.5}
    )

    # SIGKILL in the second epoch, after 5 of its 12 steps; checkpoints every 4 steps
    killed = tiny_config(train_file, tmp_path / "killed", checkpoint_every_n_steps=4, **settings)
    process = launch(killed, tmp_path, {"PAUSE_AT": "1,5"})
    wait_for((tmp_path / "paused").exists, process, timeout=180, log=tmp_path / "killed.log")
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL
    assert len(metrics_rows(tmp_path / "killed" / "metrics.csv")) == 1
    checkpoint = torch.load(tmp_path / "killed" / "checkpoints" / "last.ckpt", weights_only=True)  # complete
    assert (checkpoint["epoch"], checkpoint["global_step"]) == (1, 16)  # mid-epoch: 4 steps into epoch 2
    resumed = fit(killed, resume=True)
    assert not list((tmp_path / "killed").rglob("*.tmp"))

    # an exception in the third epoch; checkpoints at epoch ends only
    crashed = tiny_config(train_file, tmp_path / "crashed", **settings)
    step = PotentialModule.training_step

    def failing_step(self, graphs, batch_idx):
        if (self.current_epoch, batch_idx) == (2, 3):
            raise RuntimeError("node failure")
        return step(self, graphs, batch_idx)

    monkeypatch.setattr(PotentialModule, "training_step", failing_step)
    with pytest.raises(RuntimeError, match="node failure"):
        fit(crashed)
    monkeypatch.setattr(PotentialModule, "training_step", step)
    restarted = fit(crashed, resume=True)

    reference = fit(tiny_config(train_file, tmp_path / "uninterrupted", **settings))
    for result in (resumed, restarted):
        assert result.epochs_trained == reference.epochs_trained == 4
        assert metrics_rows(result.metrics_path) == metrics_rows(reference.metrics_path)
        assert max_difference(weights(result.best_model_path), weights(reference.best_model_path)) <= 1e-12
        assert max_difference(weights(result.last_model_path), weights(reference.last_model_path)) <= 1e-12
        assert result.valid_metrics == pytest.approx(reference.valid_metrics, rel=1e-12)


def free_port() -> int:
    with socket.socket() as handle:
        handle.bind(("127.0.0.1", 0))
        return handle.getsockname()[1]


def test_two_ddp_processes_match_one_process(tmp_path: Path) -> None:
    # 12 training structures of equal size (batches split evenly: per-process means average
    # exactly); 5 validation structures (split unevenly over the processes)
    train_file = write_molecules(tmp_path / "ch4.xyz", n=17)
    settings = dict(max_epochs=2, batch_size=4, dtype="float64", data={"n_valid": 5})
    ddp = tiny_config(train_file, tmp_path / "ddp", devices=2, strategy="ddp", **settings)
    process = launch(ddp, tmp_path, {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(free_port())})
    single = fit(tiny_config(train_file, tmp_path / "single", **settings))
    try:
        assert process.wait(timeout=240) == 0, (tmp_path / "ddp.log").read_text()[-3000:]
    finally:
        process.kill()
    log = (tmp_path / "ddp.log").read_text()
    assert "GLOBAL_RANK: 1, MEMBER: 2/2" in log

    ddp_rows, single_rows = metrics_rows(tmp_path / "ddp" / "metrics.csv"), metrics_rows(single.metrics_path)
    for ddp_row, single_row in zip(ddp_rows, single_rows, strict=True):
        assert {k: float(v) for k, v in ddp_row.items()} == pytest.approx(
            {k: float(v) for k, v in single_row.items()}, rel=1e-9
        )
    assert max_difference(weights(tmp_path / "ddp" / "model.pt"), weights(single.best_model_path)) <= 1e-9

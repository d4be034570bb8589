"""What a run folder may not do to the process that resumes it: checkpoints are read as plain
data (a planted one that would run code is refused, and so is a damaged one, with a line
that says what to do), and two processes never train into one folder at once."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from train_helpers import tiny_config
from typer.testing import CliRunner

from equipot.cli.main import app
from equipot.config import TrainConfig
from equipot.train import CheckpointError, RunInUseError, RunLock, RunPaths, fit

pytestmark = pytest.mark.usefixtures("one_thread")

PLAIN_TYPES = (dict, list, tuple, str, int, float, bool, type(None), torch.Tensor)


class _Planted:
    """Unpickling this runs ``touch marker``: what an attacker would put in a checkpoint."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def _non_plain(value: object, where: str = "checkpoint") -> list[str]:
    if isinstance(value, dict):
        return [bad for key, item in value.items()
                for bad in _non_plain(key, where) + _non_plain(item, f"{where}[{key!r}]")]
    if isinstance(value, (list, tuple)):
        return [bad for index, item in enumerate(value) for bad in _non_plain(item, f"{where}[{index}]")]
    return [] if type(value) in PLAIN_TYPES else [f"{where}: {type(value).__name__}"]


def _config_file(config: TrainConfig, path: Path) -> Path:
    path.write_text(yaml.safe_dump(config.model_dump(mode="json")))
    return path


def _one_line_error(result) -> str:
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    return lines[0]


def test_checkpoints_hold_plain_data_and_resume_with_weights_only(molecules_file: Path, tmp_path: Path) -> None:
    """Every entry of a checkpoint (Lightning's loops and callbacks, optimizer, schedule, EMA,
    history, run info) is a tensor or a plain value, with the optimizer, schedule and loss
    switch settings that store the most state, mid-epoch checkpoints and fine-tuning included."""
    config = tiny_config(
        molecules_file, tmp_path / "run", max_epochs=2, batch_size=2, checkpoint_every_n_steps=2,
        optimizer={"name": "adamw"}, scheduler={"name": "cosine"},
        loss={"switch": {"epoch": 1, "energy_weight": 100.0, "lr": 0.001}},
    )
    result = fit(config)
    finetuned = fit(tiny_config(molecules_file, tmp_path / "finetune", max_epochs=1,
                                finetune_from=str(result.best_model_path)))
    for path in (result.last_checkpoint_path, result.best_checkpoint_path, finetuned.last_checkpoint_path):
        checkpoint = torch.load(path, weights_only=True)
        assert _non_plain(checkpoint) == []
        assert checkpoint["optimizer_states"] and checkpoint["callbacks"] and checkpoint["lr_schedulers"]
    stored = RunPaths(tmp_path / "run").config
    stored.write_text(stored.read_text().replace("max_epochs: 2", "max_epochs: 3"))
    assert fit(tmp_path / "run").epochs_trained == 3  # resumed through weights_only=True loading


def test_a_planted_checkpoint_is_refused_and_never_runs(molecules_file: Path, tmp_path: Path) -> None:
    """A ``last.ckpt`` whose unpickling would run a shell command: `fit` (and so `equipot
    train --resume` and `equipot demo`) refuses it, says why and what to do, and nothing runs."""
    marker = tmp_path / "code-ran"
    config = tiny_config(molecules_file, tmp_path / "run")
    checkpoint = RunPaths(tmp_path / "run").last_checkpoint
    checkpoint.parent.mkdir(parents=True)
    torch.save({"state_dict": {}, "epoch": 3, "loops": {}, "equipot": _Planted(marker)}, checkpoint)
    torch.load(shutil.copy(checkpoint, tmp_path / "copy.ckpt"), weights_only=False)  # the file is really harmful:
    assert marker.exists()  # loaded the unsafe way, it runs the command
    marker.unlink()

    with pytest.raises(CheckpointError) as refused:
        fit(config, resume=True)
    message = str(refused.value)
    assert f"{checkpoint} is not a plain-data checkpoint" in message and "posix.system" in message
    assert "start fresh with a new output_dir" in message
    config_file = _config_file(config, tmp_path / "c.yaml")
    line = _one_line_error(CliRunner().invoke(app, ["train", "--resume", str(config_file)]))
    assert "not a plain-data checkpoint" in line and "could execute code" in line
    assert not marker.exists()


def test_a_damaged_checkpoint_gets_one_line_and_its_advice_works(molecules_file: Path, tmp_path: Path) -> None:
    """A cut-short ``last.ckpt`` (or garbage, or another torch file) is named in one line
    that points to ``best.ckpt`` and ``model.pt``; copying best.ckpt onto it, as the line
    says, resumes the run."""
    config = tiny_config(molecules_file, tmp_path / "run", max_epochs=2)
    paths = RunPaths(tmp_path / "run")
    fit(config)
    whole = paths.last_checkpoint.read_bytes()
    config_file = _config_file(config, tmp_path / "c.yaml")
    for content, problem in ((whole[: len(whole) // 2], "is damaged or cut short"), (b"", "is damaged or cut short"),
                             (b"garbage", "is damaged"), (None, "is not a training checkpoint of equipot")):
        if content is None:
            torch.save({"weights": torch.zeros(3)}, paths.last_checkpoint)
        else:
            paths.last_checkpoint.write_bytes(content)
        with pytest.raises(CheckpointError, match=problem) as refused:
            fit(config, resume=True)
        assert f"copying {paths.best_checkpoint} onto {paths.last_checkpoint}" in str(refused.value)
        assert f"the best model so far is {paths.best_model}" in str(refused.value)
        line = _one_line_error(CliRunner().invoke(app, ["train", "--resume", str(config_file)]))
        assert problem in line and "best.ckpt" in line
    shutil.copy(paths.best_checkpoint, paths.last_checkpoint)
    assert fit(config, resume=True).epochs_trained == 2


#: another process that holds a run folder's lock as `RunLock` does (flock on run.lock, which
#: names the holder), with the standard library only so that it starts in milliseconds
HOLDER = """
import fcntl, os, socket, sys, time
with open(sys.argv[1], "w") as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)
    lock.write(f"PID {os.getpid()} on {socket.gethostname()}\\n")
    lock.flush()
    print("locked", flush=True)
    time.sleep(600)
"""


def test_a_second_process_cannot_train_into_a_run_folder_in_use(molecules_file: Path, tmp_path: Path) -> None:
    """While another process trains into the folder (holds its lock), `fit` and `equipot
    train` refuse with its PID; once that process is killed, its lock is gone with it."""
    config = tiny_config(molecules_file, tmp_path / "run", max_epochs=1)
    paths = RunPaths(tmp_path / "run")
    paths.output_dir.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(paths.lock)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(RunInUseError, match=rf"in use by another training process \(PID {holder.pid} on "):
            fit(config)
        line = _one_line_error(CliRunner().invoke(app, ["train", str(_config_file(config, tmp_path / "c.yaml"))]))
        assert f"PID {holder.pid}" in line and "choose another output_dir" in line
        assert not paths.last_checkpoint.exists()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert fit(config).epochs_trained == 1  # the lock file stays, its lock does not


def test_the_lock_is_released_after_a_run_and_after_an_error(tmp_path: Path) -> None:
    paths = RunPaths(tmp_path / "run")
    with pytest.raises(RuntimeError, match="inside"), RunLock(paths):
        assert f"PID {os.getpid()} on " in paths.lock.read_text()
        with pytest.raises(RunInUseError, match=f"PID {os.getpid()}"), RunLock(paths):
            pass
        raise RuntimeError("inside")
    with RunLock(paths):
        pass
    assert paths.lock.read_text() == ""

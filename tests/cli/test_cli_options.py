"""Options every user meets: ``--version``, ``--progress/--no-progress`` on the long commands,
and where a second ``equipot demo`` writes."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

import equipot
from equipot.cli import _console
from equipot.cli.demo import demo_folder
from equipot.cli.main import app
from equipot.progress import progress_bars, progress_enabled
from equipot.train.run_files import RunPaths

runner = CliRunner()

#: each long command with arguments that fail at once on a missing file (the option is parsed first)
LONG_COMMANDS = {
    "train": ["train", "missing.yaml"],
    "evaluate": ["evaluate", "missing.pt", "missing.xyz"],
    "md": ["md", "missing.pt", "missing.xyz"],
    "relax": ["relax", "missing.pt", "missing.xyz"],
    "neb": ["neb", "missing.pt", "missing_a.xyz", "missing_b.xyz"],
    "vibrations": ["vibrations", "missing.pt", "missing.xyz"],
    "phonons": ["phonons", "missing.pt", "missing.xyz"],
    "elastic": ["elastic", "missing.pt", "missing.xyz"],
    "export": ["export", "missing.pt"],
}


def test_version_option_and_command_print_the_version() -> None:
    for arguments in (["--version"], ["version"]):
        result = runner.invoke(app, arguments)
        assert result.exit_code == 0, result.output
        assert result.output.strip() == equipot.__version__


@pytest.fixture
def recorded_progress(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """The ``progress`` setting each command runs under, recorded as it enters."""
    settings: list[bool] = []

    @contextmanager
    def recording(enabled: bool) -> Iterator[None]:
        settings.append(enabled)
        with progress_bars(enabled):
            yield

    monkeypatch.setattr(_console, "progress_bars", recording)
    return settings


@pytest.mark.parametrize("name", sorted(LONG_COMMANDS))
def test_long_commands_take_no_progress(name: str, recorded_progress: list[bool], tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for flag, expected in (("--no-progress", False), ("--progress", True)):
        result = runner.invoke(app, [*LONG_COMMANDS[name], flag])
        assert "No such option" not in result.output
        assert result.exit_code == 2 and "error:" in result.output, result.output  # the missing file, one line
        assert recorded_progress.pop() is expected
    assert progress_enabled()  # restored after the command


def test_demo_takes_no_progress_and_resume(recorded_progress: list[bool], tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    def stop(config, resume):  # noqa: ANN001  (the demo's call of fit, without training)
        raise ValueError(f"stopped before training in {config.output_dir}")

    monkeypatch.setattr("equipot.cli.demo.fit", stop)
    result = runner.invoke(app, ["demo", "--out-dir", str(tmp_path / "demo"), "--no-progress", "--resume"])
    assert result.exit_code == 2 and "stopped before training" in result.output, result.output
    assert recorded_progress == [False]


def test_spinner_only_with_progress_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_console, "console", Console(force_terminal=True))
    assert _console.working("busy").__class__.__name__ == "Status"
    with progress_bars(False):
        assert _console.working("busy").__class__.__name__ == "nullcontext"


def _finished_demo(folder: Path) -> Path:
    from equipot.train.presets import demo_config

    checkpoint = RunPaths(Path(demo_config(folder).output_dir)).last_checkpoint
    checkpoint.parent.mkdir(parents=True)
    checkpoint.write_bytes(b"")
    (folder / "parity_forces.png").write_bytes(b"")
    return folder


def test_a_second_demo_starts_in_a_new_folder(tmp_path: Path) -> None:
    first = tmp_path / "demo_output"
    assert demo_folder(first, resume=False) == (first, f"starting a new run in {first}/")
    first.mkdir()
    assert demo_folder(first, resume=False)[0] == first  # empty: still free
    _finished_demo(first)
    folder, line = demo_folder(first, resume=False)
    assert folder == tmp_path / "demo_output-2"
    assert line == f"starting a new run in {folder}/ ({first}/ holds an earlier run: --resume continues it)"
    folder.mkdir()
    assert demo_folder(first, resume=False)[0] == tmp_path / "demo_output-3"


def test_demo_resume_continues_the_same_folder(tmp_path: Path) -> None:
    folder = tmp_path / "demo_output"
    assert demo_folder(folder, resume=True) == (folder, f"nothing to resume in {folder}/: a new run there")
    _finished_demo(folder)
    assert demo_folder(folder, resume=True) == (folder, f"resuming {folder}/")


def test_a_folder_of_other_files_is_left_alone(tmp_path: Path) -> None:
    taken = tmp_path / "results"
    taken.mkdir()
    (taken / "notes.txt").write_text("mine")
    folder, line = demo_folder(taken, resume=False)
    assert folder == tmp_path / "results-2" and line.endswith(f"({taken}/ is not empty)")


def test_the_demo_prints_and_uses_the_folder_it_chose(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    used: list[Path] = []

    def stop(config, resume):  # noqa: ANN001
        used.append(Path(config.output_dir))
        raise ValueError("stopped before training")

    monkeypatch.setattr("equipot.cli.demo.fit", stop)
    first = _finished_demo(tmp_path / "demo_output")
    result = runner.invoke(app, ["demo", "--out-dir", str(first)])
    assert f"starting a new run in {tmp_path / 'demo_output-2'}/" in result.output.replace("\n", "")
    assert used == [tmp_path / "demo_output-2" / "run"]
    runner.invoke(app, ["demo", "--out-dir", str(first), "--resume"])
    assert used[-1] == first / "run"


def test_a_command_prints_warnings_as_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with warnings.catch_warnings():  # restores the warning printer afterwards
        warnings.simplefilter("always")
        assert runner.invoke(app, ["version"]).exit_code == 0  # the callback installs the printer
        warnings.warn("the training energies cannot separate E0", UserWarning, stacklevel=1)
    assert capsys.readouterr().err == "warning (UserWarning): the training energies cannot separate E0\n"

"""Start-up: ``import equipot`` and ``equipot --help`` load neither torch nor any command's
library code; the help lists every command with its docstring's summary."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

from equipot.cli.main import COMMANDS

HEAVY = ("torch", "e3nn", "ase", "lightning", "matplotlib", "phonopy", "spglib", "tblite")


def _modules_loaded_by(code: str) -> set[str]:
    script = f"{code}\nimport sys\nprint(' '.join(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120)
    return set(result.stdout.splitlines()[-1].split())


@pytest.mark.parametrize(
    "code",
    [
        "import equipot",
        "import sys; from equipot.cli.main import app\nsys.argv = ['equipot', '--help']\ntry:\n    app()\nexcept SystemExit:\n    pass",
    ],
    ids=["import equipot", "equipot --help"],
)
def test_start_up_loads_no_heavy_library(code: str) -> None:
    loaded = _modules_loaded_by(code)
    assert not sorted(name for name in HEAVY if name in loaded)


def test_the_simulation_library_loads_matplotlib_only_when_it_plots() -> None:
    assert "matplotlib" not in _modules_loaded_by("import equipot.simulate")


def test_the_public_names_still_load_on_first_use() -> None:
    loaded = _modules_loaded_by("import equipot\nequipot.EquipotCalculator, equipot.load_model, equipot.SumPotential")
    assert "torch" in loaded and "equipot.calculator" in loaded
    with pytest.raises(AttributeError, match="has no attribute 'no_such_name'"):
        importlib.import_module("equipot").no_such_name  # noqa: B018


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_the_help_summary_is_the_commands_first_docstring_line(name: str) -> None:
    module, summary = COMMANDS[name]
    function = getattr(importlib.import_module(f"equipot.cli.{module}"), name)
    assert (function.__doc__ or "").strip().splitlines()[0] == summary

"""The LAMMPS inputs shipped in examples/lammps run a few steps with the test model (it
knows H, C, O and Cu): on one rank and, for copper, on two."""

from __future__ import annotations

import math
import re
import shutil
from pathlib import Path

import pytest

from equipot.lammps.runs import LammpsError, run_input

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "lammps"


def _copy(name: str, folder: Path) -> Path:
    for file in EXAMPLES.iterdir():
        shutil.copy(file, folder / file.name)
    return folder / name


def _last_thermo_row(log: str) -> list[float]:
    rows = [line.split() for line in log.splitlines() if re.match(r"^\s+\d+\s+-?\d", line)]
    assert rows, log[-2000:]
    return [float(value) for value in rows[-1]]


@pytest.mark.parametrize(("name", "ranks", "variables"), [
    ("in.cu", 2, {"cells": 3, "steps": 10}),
    ("in.ethanol", 1, {"steps": 10}),
])
def test_example_input_runs(lammps_setup, tmp_path: Path, name: str, ranks: int, variables: dict) -> None:
    path = _copy(name, tmp_path)
    log = run_input(path, {"plugin": lammps_setup.plugin, "model": lammps_setup.export, **variables}, ranks=ranks)
    step, *values = _last_thermo_row(log)
    assert step == variables["steps"]
    assert all(math.isfinite(value) for value in values)  # a random test model: no physics asked


def test_pair_coeff_with_an_element_the_model_lacks_says_so(lammps_setup, tmp_path: Path) -> None:
    path = _copy("in.cu", tmp_path)
    path.write_text(path.read_text().replace("pair_coeff      * * Cu", "pair_coeff      * * Fe"))
    with pytest.raises(LammpsError, match="element 'Fe' .* is not in the model, which knows H C O Cu Au"):
        run_input(path, {"plugin": lammps_setup.plugin, "model": lammps_setup.export, "cells": 2, "steps": 0})


def test_a_model_file_that_is_not_an_export_says_what_to_do(lammps_setup, tmp_path: Path) -> None:
    path = _copy("in.cu", tmp_path)
    (tmp_path / "model.pt").write_bytes(b"not an export")
    with pytest.raises(LammpsError, match="is not a LAMMPS export of equipot .*equipot export MODEL.pt --lammps"):
        run_input(path, {"plugin": lammps_setup.plugin, "model": tmp_path / "model.pt", "cells": 2, "steps": 0})


def test_newton_off_is_refused_with_the_reason(lammps_setup, tmp_path: Path) -> None:
    path = _copy("in.cu", tmp_path)
    path.write_text(path.read_text().replace("units           metal", "units           metal\nnewton          off"))
    with pytest.raises(LammpsError, match="needs 'newton on'"):
        run_input(path, {"plugin": lammps_setup.plugin, "model": lammps_setup.export, "cells": 2, "steps": 0})


def test_units_other_than_metal_are_refused(lammps_setup, tmp_path: Path) -> None:
    path = _copy("in.cu", tmp_path)
    path.write_text(path.read_text().replace("units           metal", "units           real"))
    with pytest.raises(LammpsError, match="needs 'units metal' .* not 'units real'"):
        run_input(path, {"plugin": lammps_setup.plugin, "model": lammps_setup.export, "cells": 2, "steps": 0})


def test_unknown_pair_style_keyword_is_named(lammps_setup, tmp_path: Path) -> None:
    path = _copy("in.cu", tmp_path)
    path.write_text(path.read_text().replace("pair_style      equipot ${model}", "pair_style      equipot ${model} chunks 10"))
    with pytest.raises(LammpsError, match="unknown keyword 'chunks'; the keywords are 'threads N' and 'chunk N'"):
        run_input(path, {"plugin": lammps_setup.plugin, "model": lammps_setup.export, "cells": 2, "steps": 0})

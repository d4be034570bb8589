"""``scripts/distillation_study.py``'s Cu frames: ``--unrattled N`` keeps the first N of the
expensive frames on their strained lattice without changing the others, and refuses a
count outside them."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from ase.build import bulk


def test_unrattled_frames_are_pure_strains_and_leave_the_rest_alone():
    import distillation_study  # scripts/ (pytest's pythonpath)

    rattled = distillation_study.cu_frames(6, seed=2)
    mixed = distillation_study.cu_frames(6, seed=2, unrattled=3)
    for plain, frame in zip(rattled[:3], mixed[:3]):
        lattice = bulk("Cu", "fcc", a=3.6, cubic=True).repeat(2)
        lattice.set_cell(frame.cell, scale_atoms=True)  # the same strain, no displacements
        assert np.allclose(frame.positions, lattice.positions, atol=1e-12)
        assert np.array_equal(frame.cell.array, plain.cell.array)
        assert not np.allclose(plain.positions, lattice.positions, atol=1e-3)
    for plain, frame in zip(rattled[3:], mixed[3:]):  # the random stream is unchanged
        assert np.array_equal(plain.positions, frame.positions)
        assert np.array_equal(plain.cell.array, frame.cell.array)


def test_unrattled_outside_the_expensive_cu_frames_is_refused(monkeypatch, capsys, tmp_path):
    import distillation_study  # scripts/ (pytest's pythonpath)

    for extra in (["--system", "cu", "--unrattled", "26"], ["--system", "ethanol", "--unrattled", "3"]):
        monkeypatch.setattr(sys, "argv", ["distillation_study.py", "--output-dir", str(tmp_path), *extra])
        with pytest.raises(SystemExit):
            distillation_study.main()
        assert "--unrattled is a count of the 25 expensive Cu frames (0-25) and takes --system cu" in capsys.readouterr().err


def test_cell_repeat_one_gives_strained_four_atom_cells():
    import distillation_study  # scripts/ (pytest's pythonpath)

    small, large = distillation_study.cu_frames(3, seed=2, repeat=1), distillation_study.cu_frames(3, seed=2)
    assert [len(frame) for frame in small] == [4, 4, 4] and [len(frame) for frame in large] == [32, 32, 32]
    np.testing.assert_allclose(2 * small[0].cell.array, large[0].cell.array, atol=1e-12)  # the first strain drawn
    for frame in small:
        assert not np.allclose(frame.cell.array, 3.6 * np.eye(3), atol=1e-3)

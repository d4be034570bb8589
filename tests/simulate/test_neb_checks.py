"""A band whose atoms collapse (a potential without repulsion) reports no barrier and says
why; the EMT adatom hop of test_neb reports one."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes

from equipot.simulate import UnphysicalBandError, band_problems, run_neb


class GaussianAttraction(Calculator):
    """E = -depth * sum_{i<j} exp(-r_ij² / 2) (eV, Å): attraction with no repulsion, so
    atoms fall onto each other, like a badly trained potential at short range."""

    implemented_properties = ("energy", "forces")

    def __init__(self, depth: float = 100.0):
        super().__init__()
        self.depth = depth

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes) -> None:
        super().calculate(atoms, properties, system_changes)
        positions = self.atoms.positions
        difference = positions[:, None, :] - positions[None, :, :]  # [n, n, 3]
        pair = -self.depth * np.exp(-0.5 * (difference**2).sum(-1))
        np.fill_diagonal(pair, 0.0)
        self.results["energy"] = 0.5 * pair.sum()
        self.results["forces"] = (pair[:, :, None] * difference).sum(axis=1)  # -dE/dr_i


def _two_copper_atoms() -> tuple[Atoms, Atoms]:
    initial = Atoms("Cu2", positions=[[0, 0, 0], [3.0, 0, 0]])
    final = Atoms("Cu2", positions=[[0, 0, 0], [0, 3.0, 0]])
    return initial, final


def test_forces_of_the_test_potential_are_its_gradient() -> None:
    atoms = Atoms("Cu3", positions=[[0, 0, 0], [1.1, 0.2, 0], [0.3, 1.4, 0.5]])
    atoms.calc = GaussianAttraction()
    forces, energy, step = atoms.get_forces(), atoms.get_potential_energy(), 1e-6
    atoms.positions[1, 0] += step
    assert -(atoms.get_potential_energy() - energy) / step == pytest.approx(forces[1, 0], rel=1e-4)


def test_a_collapsing_band_reports_no_barrier_and_says_why() -> None:
    initial, final = _two_copper_atoms()
    result = run_neb(initial, final, GaussianAttraction, n_images=3, relax_endpoints=False, max_steps=100,
                     interpolate="linear")
    assert not result.reliable and len(result.problems) == 2
    assert "eV below both end points (more than 1 eV)" in result.problems[0]
    assert "less than 0.5 x the sum of their covalent radii (1.32 Å): the structure has collapsed" in result.problems[1]
    with pytest.raises(UnphysicalBandError, match="no barrier for this band: image . lies"):
        result.barrier_forward
    with pytest.raises(UnphysicalBandError):
        result.fit_barrier_forward
    summary = result.to_dict()
    assert summary["barrier_forward"] is None and summary["problems"] == result.problems


def test_band_problems_of_constructed_bands() -> None:
    initial, final = _two_copper_atoms()
    middle = Atoms("Cu2", positions=[[0, 0, 0], [2.2, 2.2, 0]])
    assert band_problems([initial, middle, final], np.array([0.0, 0.3, 0.0])) == []
    assert band_problems([initial, middle, final], np.array([0.0, -0.9, 0.1])) == []  # within 1 eV
    deep = band_problems([initial, middle, final], np.array([0.0, -70.0, 0.5]))
    assert len(deep) == 1 and deep[0].startswith("image 1 lies 70 eV below both end points")
    collapsed = Atoms("Cu2", positions=[[0, 0, 0], [1.23, 0, 0]])
    close = band_problems([initial, collapsed, final], np.zeros(3))
    assert close == [
        "atoms 0 (Cu) and 1 (Cu) of image 1 are 1.23 Å apart, less than 0.5 x the sum of their covalent radii "
        "(1.32 Å): the structure has collapsed"
    ]
    # periodic images count: an atom 1 Å from the neighbour across the cell boundary
    crystal = Atoms("Cu2", positions=[[0.2, 0, 0], [9.2, 0, 0]], cell=[10, 10, 10], pbc=True)
    assert "are 1.00 Å apart" in band_problems([crystal, crystal], np.zeros(2))[0]


def test_the_command_refuses_to_print_a_barrier_for_a_collapsed_band(tiny_model_file, tmp_path, monkeypatch) -> None:
    """``equipot neb`` with a potential that collapses the band (the test potential in place
    of the model's calculator): the reasons instead of a barrier, exit code 1, files written."""
    import ase.io
    import typer
    from typer.testing import CliRunner

    import equipot.cli.neb as neb_command

    monkeypatch.setattr(neb_command, "load_calculator", lambda *args, **kwargs: GaussianAttraction())
    initial, final = _two_copper_atoms()
    ase.io.write(tmp_path / "initial.xyz", initial)
    ase.io.write(tmp_path / "final.xyz", final)
    app = typer.Typer(pretty_exceptions_enable=False)
    app.command()(neb_command.neb)
    result = CliRunner().invoke(app, [str(tiny_model_file), str(tmp_path / "initial.xyz"), str(tmp_path / "final.xyz"),
                                      "--images", "3", "--no-relax-endpoints", "--interpolate", "linear",
                                      "--max-steps", "100", "--out-dir", str(tmp_path / "neb")])
    output = " ".join(result.output.split())
    assert result.exit_code == 1, result.output
    assert "no barrier reported: image" in output and "the structure has collapsed" in output
    assert "barrier:" not in output
    assert (tmp_path / "neb" / "neb.json").is_file() and (tmp_path / "neb" / "mep.png").is_file()

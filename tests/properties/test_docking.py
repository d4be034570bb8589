"""Rigid docking on SE(3): the so(3) Jacobian, the pose gradient, and the TIP3P water dimer
(ASE's TIP3P calculator) against a brute-force pose scan of the same energy and against
the published TIP3P dimer (-6.54 kcal/mol, R_OO 2.75 Å; Jorgensen et al., J. Chem.
Phys. 79, 926 (1983)); the command on a tiny model; bad input in one line."""

from __future__ import annotations

import json

import ase.io
import numpy as np
import pytest
import typer
from ase import Atoms, units
from ase.build import molecule
from ase.calculators.calculator import Calculator, all_changes
from ase.calculators.tip3p import TIP3P, angleHOH, rOH
from ase.data import covalent_radii
from scipy.spatial.transform import Rotation
from typer.testing import CliRunner

from equipot.cli.dock import dock as dock_command
from equipot.properties.docking import CLASH_FRACTION, _left_jacobian, _PoseEnergy, dock, pose_scan, posed_complex

KCAL_PER_MOL = units.kcal / units.mol


def _tip3p_water() -> Atoms:
    angle = np.radians(angleHOH)
    return Atoms("OH2", positions=[[0, 0, 0], [rOH, 0, 0], [rOH * np.cos(angle), rOH * np.sin(angle), 0]])


def test_left_jacobian_of_so3() -> None:
    omega, delta = np.array([1.2, -2.0, 1.5]), 1e-6 * np.array([0.3, 0.5, -0.4])  # |omega| = 2.8 rad
    left = Rotation.from_rotvec(omega + delta) * Rotation.from_rotvec(omega).inv()
    assert left.as_rotvec() == pytest.approx(_left_jacobian(omega) @ delta, abs=1e-12)


def test_pose_gradient_matches_finite_differences() -> None:
    water = _tip3p_water()
    energy = _PoseEnergy(TIP3P(rc=20.0), water, water)
    rotation, translation = Rotation.from_rotvec([0.4, -1.0, 0.3]).as_matrix(), np.array([2.2, 1.5, 0.4])
    _, force_grad, torque_grad = energy(rotation, translation)
    for axis in range(3):
        step = np.eye(3)[axis] * 1e-5
        up = energy(rotation, translation + step, gradient=False)[0]
        down = energy(rotation, translation - step, gradient=False)[0]
        assert force_grad[axis] == pytest.approx((up - down) / 2e-5, rel=1e-5, abs=1e-8)
        spin = [Rotation.from_rotvec(sign * step).as_matrix() @ rotation for sign in (1, -1)]
        turned = [energy(matrix, translation, gradient=False)[0] for matrix in spin]
        assert torque_grad[axis] == pytest.approx((turned[0] - turned[1]) / 2e-5, rel=1e-5, abs=1e-8)


def test_tip3p_water_dimer_beats_the_pose_scan_and_matches_the_literature() -> None:
    water = _tip3p_water()
    result = dock(TIP3P(rc=20.0), water, water, n_starts=3, seed=1)
    scan = pose_scan(TIP3P(rc=20.0), water, water, n_rotations=40, n_directions=16, distances=(2.6, 2.9))
    assert result.energy <= scan.energy + 1e-6  # the optimiser reaches at least the scan's best
    assert scan.energy / KCAL_PER_MOL > -6.54 - 0.01 and result.energy / KCAL_PER_MOL == pytest.approx(-6.54, abs=0.02)
    assert np.linalg.norm(result.atoms.positions[0] - result.atoms.positions[3]) == pytest.approx(2.75, abs=0.01)
    assert result.interaction_energy == pytest.approx(result.energy)  # TIP3P: intermolecular terms only
    guest = result.atoms[3:]
    assert guest.get_all_distances() == pytest.approx(water.get_all_distances(), abs=1e-10)  # rigid
    assert np.ptp(result.start_energies) < 1e-5  # every start found the same minimum


def test_posed_complex_and_bad_input() -> None:
    water = _tip3p_water()
    placed = posed_complex(water, water, np.eye(3), np.array([5.0, 0, 0]))
    assert placed.positions[3:].mean(0) == pytest.approx([5.0, 0, 0]) and len(placed) == 6
    periodic = water.copy()
    periodic.cell, periodic.pbc = [10, 10, 10], True
    with pytest.raises(ValueError, match="host must be a molecule or cluster \\(pbc all False\\)"):
        dock(TIP3P(), periodic, water)
    with pytest.raises(ValueError, match="n_starts must be at least 1, got 0"):
        dock(TIP3P(), water, water, n_starts=0)


def test_dock_command_on_a_model(model_file, tmp_path) -> None:
    app = typer.Typer(pretty_exceptions_enable=False)
    app.command()(dock_command)
    ase.io.write(tmp_path / "water.xyz", molecule("H2O"))
    ase.io.write(tmp_path / "methane.xyz", molecule("CH4"))
    out = tmp_path / "dock"
    result = CliRunner().invoke(app, [str(model_file), str(tmp_path / "methane.xyz"), str(tmp_path / "water.xyz"),
                                      "--starts", "2", "--scan", "4", "--out-dir", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "dock.json").read_text())
    assert len(summary["start_energies_eV"]) == 2 and summary["scan_poses"] == 4 * 8 * 3
    assert np.isfinite([summary["energy_eV"], summary["scan_energy_eV"]]).all()  # untrained: no ranking to check
    assert len(ase.io.read(out / "docked.xyz")) == 8 and "brute-force scan" in result.output
    bad = CliRunner().invoke(app, [str(model_file), str(tmp_path / "methane.xyz"), str(tmp_path / "water.xyz"),
                                   "--starts", "0", "--out-dir", str(out)])
    assert bad.exit_code == 2 and "n_starts must be at least 1" in bad.output


class AttractiveGaussians(Calculator):
    """E = -sum over pairs of exp(-r^2 / 4 Å^2) (eV): every pair attracts, nothing repels, like
    an untrained model at close range."""

    implemented_properties = ["energy", "forces"]

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        separations = self.atoms.positions[:, None] - self.atoms.positions[None]
        weights = np.exp(-(separations**2).sum(-1) / 4.0)
        np.fill_diagonal(weights, 0.0)
        self.results = {"energy": -0.5 * weights.sum(), "forces": -0.5 * (weights[..., None] * separations).sum(1)}


def test_an_energy_without_repulsion_is_refused_and_scan_skips_clashes() -> None:
    host, guest = molecule("CH4"), molecule("H2O")
    with pytest.raises(ValueError, match="every one of the 3 starts pulled the guest into the host.*short-range repulsion"):
        dock(AttractiveGaussians(), host, guest, n_starts=3)
    # a scan whose poses all sit at the host's centre: every one clashes
    with pytest.raises(ValueError, match="every scanned pose clashes"):
        pose_scan(AttractiveGaussians(), host, guest, n_rotations=2, n_directions=2, distances=(0.0,))
    # the scan keeps the poses that do not clash, and its best pose has none
    scan = pose_scan(AttractiveGaussians(), host, guest, n_rotations=6, n_directions=8, distances=(1.0, 2.5))
    assert 0 < scan.n_poses < 6 * 8 * 2
    positions, numbers = scan.atoms.positions, scan.atoms.numbers
    separations = np.linalg.norm(positions[:5, None] - positions[None, 5:], axis=-1)
    contact = CLASH_FRACTION * (covalent_radii[numbers[:5]][:, None] + covalent_radii[numbers[5:]][None, :])
    assert (separations >= contact).all()

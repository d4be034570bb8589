"""Results that look valid but describe an unstable structure warn: a stiffness matrix
that is not positive definite (Born criterion) and imaginary phonon modes beyond the
acoustic ones at Γ (simple-cubic Cu is dynamically unstable in EMT)."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT
from scipy.optimize import minimize_scalar

from equipot.properties import elastic_moduli, elastic_tensor, phonons
from equipot.properties.stability import InstabilityWarning, born_stability_message, imaginary_modes_message


def _cubic(c11: float, c12: float, c44: float) -> np.ndarray:
    matrix = np.zeros((6, 6))
    matrix[:3, :3] = c12
    matrix[np.diag_indices(3)] = c11
    matrix[3, 3] = matrix[4, 4] = matrix[5, 5] = c44
    return matrix


def test_a_stable_cubic_matrix_passes() -> None:
    assert born_stability_message(_cubic(170.0, 120.0, 80.0)) is None


def test_an_unstable_matrix_names_its_smallest_eigenvalue_and_negative_moduli() -> None:
    matrix = _cubic(100.0, 160.0, 40.0)  # C11 < C12: unstable against tetragonal shear; C11 + 2 C12 > 0
    message = born_stability_message(matrix, elastic_moduli(matrix))
    assert message is not None
    assert "mechanically unstable (Born criterion violated)" in message
    assert "smallest -60.00 GPa" in message  # C11 - C12, twice degenerate
    assert "negative moduli" not in message  # bulk 140 GPa, shear (Voigt) 12 GPa: all positive
    negative_bulk = _cubic(50.0, -40.0, 30.0)  # C11 + 2 C12 < 0
    message = born_stability_message(negative_bulk, elastic_moduli(negative_bulk))
    assert "smallest -30.00 GPa" in message
    assert "negative moduli: bulk_hill -10.00 GPa, bulk_reuss -10.00 GPa, bulk_voigt -10.00 GPa" in message


def test_elastic_tensor_of_a_stable_crystal_does_not_warn(emt_cu_lattice) -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", InstabilityWarning)
        result = elastic_tensor(EMT(), bulk("Cu", "fcc", a=emt_cu_lattice, cubic=True))
    assert result.mechanically_stable and result.min_eigenvalue > 20.0 and not result.messages


def test_elastic_tensor_of_an_unstable_cell_warns(monkeypatch) -> None:
    """The check runs on every tensor: fed an unstable raw matrix it warns and records it."""
    from equipot.properties import elastic

    with pytest.warns(InstabilityWarning, match="smallest -60.00 GPa"):
        result = elastic._finish(_cubic(100.0, 160.0, 40.0), np.zeros(6), "autograd", False, 0.0, 1.0, 0.1)
    assert not result.mechanically_stable and result.min_eigenvalue == pytest.approx(-60.0)
    assert any("Born criterion" in message for message in result.messages)


def test_imaginary_mode_detector_skips_acoustic_modes_at_gamma() -> None:
    qpoints = np.array([[0.0, 0.0, 0.0], [0.5, 0.0, 0.0], [1.0, 0.0, 0.0]])
    fine = np.array([[-0.02, 0.01, -0.03, 4.0, 4.0, 5.0], [2.0, 2.0, 3.0, 4.0, 4.5, 5.0], [0.0, 0.0, 0.0, 4.0, 4.0, 5.0]])
    assert imaginary_modes_message(qpoints, fine) is None
    unstable = fine.copy()
    unstable[0, 3] = -4.1  # an optical mode at Γ
    message = imaginary_modes_message(qpoints, unstable)
    assert message is not None and "most negative frequency -4.100 THz (branch 3) at q = Γ" in message
    assert "1 of 3 q-points" in message
    zone = fine.copy()
    zone[1, 0] = -1.5  # off Γ even an acoustic branch counts
    assert "-1.500 THz (branch 0) at q = (0.500, 0.000, 0.000)" in imaginary_modes_message(qpoints, zone)


def test_simple_cubic_copper_is_dynamically_unstable_in_emt() -> None:
    def energy(a: float) -> float:
        atoms = bulk("Cu", "sc", a=a)
        atoms.calc = EMT()
        return atoms.get_potential_energy()

    a = minimize_scalar(energy, bracket=(2.2, 2.4, 2.6)).x  # no pressure: the instability is not a strain
    with pytest.warns(InstabilityWarning, match=r"imaginary phonon modes: most negative frequency -3\.\d+ THz"):
        result = phonons(EMT(), bulk("Cu", "sc", a=a), supercell=(3, 3, 3))
    assert len(result.messages) == 1 and "q = (0.500, 0.500, 0.000)" in result.messages[0]


def test_fcc_copper_phonons_do_not_warn(emt_cu_lattice) -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", InstabilityWarning)
        result = phonons(EMT(), bulk("Cu", "fcc", a=emt_cu_lattice), supercell=(3, 3, 3))
    assert result.messages == [] and result.check_stability() is None


def test_the_commands_print_the_instability_warnings(model_file, tmp_path) -> None:
    """The tiny untrained model of the CLI tests (conftest) holds fcc Cu at 3.6 Å neither
    dynamically nor mechanically stable: both commands say so, with the numbers."""
    import ase.io
    import typer
    from typer.testing import CliRunner

    from equipot.cli.elastic import elastic as elastic_command
    from equipot.cli.phonons import phonons as phonons_command

    app = typer.Typer(pretty_exceptions_enable=False)
    app.command()(phonons_command)
    app.command()(elastic_command)
    ase.io.write(tmp_path / "cu.xyz", bulk("Cu", a=3.6))
    ase.io.write(tmp_path / "cu_cubic.xyz", bulk("Cu", a=3.6, cubic=True))
    result = CliRunner().invoke(app, ["phonons", str(model_file), str(tmp_path / "cu.xyz"), "--supercell", "2", "2", "2",
                                      "--exact-hessian", "--out-dir", str(tmp_path / "ph")])
    assert result.exit_code == 0, result.output
    assert "warning: imaginary phonon modes: most negative frequency" in " ".join(result.output.split())
    result = CliRunner().invoke(app, ["elastic", str(model_file), str(tmp_path / "cu_cubic.xyz"), "--no-relax-ions",
                                      "--out-dir", str(tmp_path / "el")])
    assert result.exit_code == 0, result.output
    assert "warning: mechanically unstable (Born criterion violated)" in " ".join(result.output.split())

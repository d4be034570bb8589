"""`relax` against EMT's own equilibrium: positions back to the perfect lattice, the cell to
EMT's lattice constant (from an E(V) fit, not from the relaxation), and under pressure to
the lattice constant where EMT's stress equals the pressure.

Measured (ASE 3.29): 32 rattled Cu atoms (0.1 Å), FIRE to 0.01 eV/Å in 52 steps, BFGS in
20; the final energy equals the perfect lattice's to 2e-5 eV. Stretched (+3 %) and sheared
32-atom cell, LBFGS with the cell: 52 steps, stress below 0.01 GPa, a = 3.58989 Å against
EMT's a0 = 3.58983 Å; at 5 GPa a = 3.54869 Å against 3.5488 Å from EMT's stress.
"""

from __future__ import annotations

import ase.io
import numpy as np
import pytest
from ase.build import bulk, molecule
from ase.calculators.emt import EMT
from ase.constraints import FixAtoms

from equipot.simulate import RelaxResult, relax


def _perfect_energy(a: float = 3.59) -> float:
    atoms = bulk("Cu", cubic=True, a=a).repeat(2)
    atoms.calc = EMT()
    return float(atoms.get_potential_energy())


def _lattice_constant(result: RelaxResult) -> float:
    assert result.final_volume is not None
    return (result.final_volume / len(result.atoms) * 4.0) ** (1.0 / 3.0)


@pytest.mark.parametrize("optimizer", ["FIRE", "BFGS"])
def test_rattled_crystal_relaxes_back_to_the_lattice(optimizer, tmp_path) -> None:
    atoms = bulk("Cu", cubic=True, a=3.59).repeat(2)
    atoms.rattle(0.1, seed=0)
    result = relax(atoms, EMT(), fmax=0.01, optimizer=optimizer, trajectory=tmp_path / "relax.xyz")
    assert result.converged and result.max_force <= 0.01
    assert result.initial_energy - result.final_energy > 3.0  # eV: the rattle cost about 4 eV
    assert result.final_energy == pytest.approx(_perfect_energy(), abs=1e-3)
    assert len(result.energies) == result.steps + 1
    frames = ase.io.read(tmp_path / "relax.xyz", index=":")
    assert len(frames) == result.steps + 1
    np.testing.assert_allclose([frame.get_potential_energy() for frame in frames], result.energies, atol=1e-8)
    assert result.stress_GPa is not None and result.stress_tol_GPa is None  # reported, not a criterion


def test_cell_relaxation_finds_emt_lattice_constant(emt_cu_equilibrium) -> None:
    atoms = bulk("Cu", cubic=True, a=3.59 * 1.03).repeat(2)
    atoms.rattle(0.02, seed=0)
    atoms.set_cell(atoms.cell.array @ np.array([[1.0, 0.02, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.99]]),
                   scale_atoms=True)
    result = relax(atoms, EMT(), fmax=0.01, relax_cell=True, stress_tol_GPa=0.01, optimizer="LBFGS")
    assert result.converged and result.max_force <= 0.01
    assert result.stress_GPa is not None and np.abs(result.stress_GPa).max() <= 0.01
    assert result.max_stress_error_GPa is not None and result.max_stress_error_GPa <= 0.01
    assert _lattice_constant(result) == pytest.approx(emt_cu_equilibrium["a0"], abs=1e-3)
    np.testing.assert_allclose(atoms.cell.cellpar()[3:], 90.0, atol=0.01)  # the shear is gone
    assert result.initial_volume is not None and result.final_volume < result.initial_volume


def test_cell_relaxation_under_pressure(emt_cu_equilibrium) -> None:
    atoms = bulk("Cu", cubic=True, a=3.59).repeat(2)
    result = relax(atoms, EMT(), fmax=0.01, relax_cell=True, stress_tol_GPa=0.01, pressure_GPa=5.0,
                   hydrostatic_strain=True, optimizer="BFGS")
    assert result.converged
    assert result.pressure_GPa == pytest.approx(5.0, abs=0.01)
    assert _lattice_constant(result) == pytest.approx(emt_cu_equilibrium["a_5GPa"], abs=2e-3)
    lengths = atoms.cell.lengths()
    np.testing.assert_allclose(lengths, lengths[0], rtol=1e-10)  # hydrostatic: cubic stays cubic


def test_constraints_hold_and_running_out_of_steps_is_reported() -> None:
    atoms = bulk("Cu", cubic=True, a=3.59).repeat(2)
    atoms.rattle(0.1, seed=1)
    fixed = atoms.get_positions()[:4].copy()
    atoms.set_constraint(FixAtoms(indices=range(4)))
    result = relax(atoms, EMT(), fmax=1e-4, max_steps=3)
    assert not result.converged and result.steps == 3 and result.max_force > 1e-4
    np.testing.assert_array_equal(atoms.get_positions()[:4], fixed)
    summary = result.to_dict()
    assert summary["converged"] is False and summary["steps"] == 3


@pytest.mark.parametrize(
    ("atoms", "kwargs", "message"),
    [
        (molecule("H2O"), {"relax_cell": True}, r"relax_cell needs a periodic structure with a 3D cell.*pbc=\[False"),
        (bulk("Cu") * 1, {"relax_cell": True}, None),  # cell zeroed below: was "needs pbc all True, got pbc=[True...]"
        (bulk("Cu"), {"optimizer": "SD"}, r"optimizer must be one of \['BFGS', 'FIRE', 'LBFGS'\]"),
        (bulk("Cu"), {"fmax": 0.0}, r"fmax must be positive \(eV/Å\)"),
        (bulk("Cu"), {"relax_cell": True, "stress_tol_GPa": -1.0}, "stress_tol_GPa must be positive"),
        (bulk("Cu"), {"trajectory": "relax.pdb"}, "must end in one of"),
        (bulk("Cu"), {"calculator": None}, "no calculator given"),
    ],
)
def test_bad_arguments_are_refused(atoms, kwargs, message) -> None:
    if message is None:  # a periodic cell of zero volume
        atoms.set_cell(np.zeros((3, 3)))
        message = r"^relax: the cell has zero volume \(det = 0 Å³\); relax_cell \(--cell\) needs a 3-D periodic cell"
    arguments = {"calculator": EMT(), **kwargs}
    with pytest.raises(ValueError, match=message):
        relax(atoms, **arguments)


def test_molecule_relaxes_without_a_stress() -> None:
    atoms = molecule("H2O")
    atoms.rattle(0.05, seed=0)
    result = relax(atoms, EMT(), fmax=0.02, optimizer="BFGS")
    assert result.converged and result.stress_GPa is None and result.final_volume is None

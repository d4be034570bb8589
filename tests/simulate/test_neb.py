"""`run_neb` on ASE's NEB tutorial system: an Au adatom hopping between neighbouring hollow
sites of Al(100) (2x2 slab, 3 layers, the lower two fixed), with EMT.

The reference is ASE's own climbing-image NEB run in the test the tutorial's way (BFGS end
points, 3 images, IDPP, BFGS band to 0.01 eV/Å). Measured (ASE 3.29): ASE 0.37441 eV,
`run_neb` (FIRE) 0.37445 eV forward and backward; the hop is symmetric, so forward and
backward barriers agree to 1e-6 eV and the reaction energy is ~0. The ASE tutorials quote
about 0.35-0.37 eV for this hop.
"""

from __future__ import annotations

import ase.io
import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import add_adsorbate, fcc100
from ase.calculators.emt import EMT
from ase.constraints import FixAtoms
from ase.mep import NEB
from ase.optimize import BFGS

from equipot import EquipotCalculator, EquivariantPotential
from equipot.simulate import NEBResult, plot_minimum_energy_path, run_neb
from equipot.simulate.neb import calculator_copies


def _end_points() -> tuple[Atoms, Atoms]:
    slab = fcc100("Al", size=(2, 2, 3))
    add_adsorbate(slab, "Au", 1.7, "hollow")
    slab.center(axis=2, vacuum=4.0)
    slab.set_constraint(FixAtoms(mask=[atom.tag > 1 for atom in slab]))
    final = slab.copy()
    final[-1].x += slab.get_cell()[0, 0] / 2  # the next hollow site
    return slab, final


@pytest.fixture(scope="module")
def ase_reference_barrier() -> float:
    initial, final = _end_points()
    for atoms in (initial, final):
        atoms.calc = EMT()
        BFGS(atoms, logfile=None).run(fmax=0.01)
    images = [initial] + [initial.copy() for _ in range(3)] + [final]
    for image in images[1:-1]:
        image.calc = EMT()
    band = NEB(images, climb=True, method="improvedtangent")
    band.interpolate(method="idpp")
    BFGS(band, logfile=None).run(fmax=0.01)
    energies = [image.get_potential_energy() for image in images]
    return float(max(energies) - energies[0])


@pytest.fixture(scope="module")
def au_hop() -> NEBResult:
    initial, final = _end_points()
    return run_neb(initial, final, EMT, n_images=3, climb=True, fmax=0.01)


def test_barrier_matches_ase_reference(au_hop, ase_reference_barrier) -> None:
    assert au_hop.converged and au_hop.max_force <= 0.01
    assert 0.3 < ase_reference_barrier < 0.45
    assert au_hop.barrier_forward == pytest.approx(ase_reference_barrier, abs=5e-3)
    assert au_hop.initial_relaxation is not None and au_hop.initial_relaxation.converged


def test_symmetric_hop_has_equal_barriers_and_a_symmetric_path(au_hop) -> None:
    assert au_hop.barrier_backward == pytest.approx(au_hop.barrier_forward, abs=2e-3)
    assert au_hop.reaction_energy == pytest.approx(0.0, abs=2e-3)
    assert au_hop.highest_image == 2  # the middle of 5 (bridge site)
    assert len(au_hop.images) == 5 and au_hop.path.shape == (5,) and au_hop.path[0] == 0.0
    hop = au_hop.images[0].get_cell()[0, 0] / 2
    assert au_hop.path[-1] >= hop - 1e-6  # at least the straight hollow-to-hollow distance
    np.testing.assert_allclose(np.diff(au_hop.path), np.diff(au_hop.path)[::-1], atol=0.05)
    # the climbing image sits on the maximum of the fitted path, and the fit is symmetric
    # too (the Au path crosses the cell boundary: the fit needs positions unwrapped along the band)
    assert au_hop.fit_barrier_forward == pytest.approx(au_hop.barrier_forward, abs=5e-3)
    np.testing.assert_allclose(au_hop.fit_energies, au_hop.fit_energies[::-1], atol=5e-3)
    fixed = au_hop.images[0].constraints[0].index
    np.testing.assert_allclose(au_hop.images[2].positions[fixed], au_hop.images[0].positions[fixed])


def test_images_and_plot_are_written(au_hop, tmp_path) -> None:
    path = au_hop.write_images(tmp_path / "band.extxyz")
    frames = ase.io.read(path, index=":")
    assert len(frames) == 5
    np.testing.assert_allclose([frame.get_potential_energy() for frame in frames], au_hop.energies, atol=1e-8)
    png = plot_minimum_energy_path(au_hop, tmp_path / "mep.png")
    assert png.read_bytes()[:4] == b"\x89PNG" and png.stat().st_size > 10_000
    summary = au_hop.to_dict()
    assert summary["n_images"] == 3 and summary["barrier_forward"] == pytest.approx(au_hop.barrier_forward)
    assert au_hop.reliable and summary["problems"] == []  # a physical band: its barrier is reported


def test_a_shared_calculator_gives_the_same_band(au_hop) -> None:
    initial, final = _end_points()
    shared = run_neb(initial, final, EMT(), n_images=3, fmax=0.01, optimizer="BFGS")
    assert shared.converged
    assert shared.barrier_forward == pytest.approx(au_hop.barrier_forward, abs=2e-3)
    assert initial.get_positions()[-1] == pytest.approx(_end_points()[0].get_positions()[-1])  # inputs untouched


def test_equipot_calculators_are_copied_sharing_the_model() -> None:
    model = EquivariantPotential(species=["Cu"], cutoff=3.0, num_channels=4, lmax=1, hidden_lmax=1, num_layers=1,
                                 correlation=1, dtype=torch.float64)
    calculators, shared = calculator_copies(EquipotCalculator(model), 4)
    assert not shared and len({id(calculator) for calculator in calculators}) == 4
    assert all(calculator.model is calculators[0].model for calculator in calculators)
    _, shared_emt = calculator_copies(EMT(), 3)
    assert shared_emt


@pytest.mark.parametrize(
    ("change", "kwargs", "message"),
    [
        ("drop_atom", {}, "have 13 and 12 atoms"),
        ("swap_species", {}, "same elements in the same order"),
        ("cell", {}, "same cell and pbc"),
        (None, {"n_images": 0}, "n_images must be at least 1"),
        (None, {"method": "dimer"}, "method must be one of"),
        (None, {"interpolate": "spline"}, r"interpolate must be one of \('idpp', 'linear'\)"),
        (None, {"calculator": "EMT"}, "calculator must be an ASE calculator or a factory"),
    ],
)
def test_bad_end_points_and_arguments_are_refused(change, kwargs, message) -> None:
    initial, final = _end_points()
    if change == "drop_atom":
        del final[0]
    elif change == "swap_species":
        final.symbols[0] = "Au"
        final.symbols[-1] = "Al"
    elif change == "cell":
        final.set_cell(final.cell.array * 1.01)
    arguments = {"calculator": EMT, **kwargs}
    error = TypeError if "calculator" in kwargs else ValueError
    with pytest.raises(error, match=message):
        run_neb(initial, final, **arguments)

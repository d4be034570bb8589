"""CoulombEnergy against physics: Madelung constants by Ewald, PME and a direct cluster sum."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk

from equipot.longrange import COULOMB_CONSTANT, CoulombEnergy, LongRangeError, pme_parameters
from equipot.longrange.coulomb import smooth_mesh_size

MADELUNG = {"rocksalt": 1.747565, "cesiumchloride": 1.762675, "zincblende": 1.638055}
CRYSTALS = {
    "rocksalt": lambda: bulk("NaCl", "rocksalt", a=5.64, cubic=True),
    "cesiumchloride": lambda: bulk("CsCl", "cesiumchloride", a=4.12),
    "zincblende": lambda: bulk("ZnS", "zincblende", a=5.41, cubic=True),
}
CATIONS = {"Na", "Cs", "Zn"}


def _tensors(atoms: Atoms, periodic: bool = True):
    n = len(atoms)
    charges = torch.tensor([1.0 if s in CATIONS else -1.0 for s in atoms.get_chemical_symbols()], dtype=torch.float64)
    cell = torch.tensor(np.asarray(atoms.cell), dtype=torch.float64)[None]
    pbc = torch.full((1, 3), periodic)
    return charges, torch.tensor(atoms.positions), cell, pbc, torch.zeros(n, dtype=torch.long)


def _madelung(atoms: Atoms, method: str) -> float:
    charges, positions, cell, pbc, batch = _tensors(atoms)
    energies, _ = CoulombEnergy(method=method, accuracy=1e-8)(charges, positions, cell, pbc, batch)
    nearest = min(atoms.get_distance(0, j, mic=True) for j in range(1, len(atoms)) if charges[j] != charges[0])
    return -float(energies.sum()) / COULOMB_CONSTANT * nearest / (len(atoms) / 2)


@pytest.mark.parametrize("structure", sorted(MADELUNG))
@pytest.mark.parametrize("method", ["ewald", "pme"])
def test_madelung_constants_from_point_charges(structure: str, method: str) -> None:
    assert _madelung(CRYSTALS[structure](), method) == pytest.approx(MADELUNG[structure], abs=1e-6)


def test_ewald_and_pme_agree_on_a_strained_triclinic_cell() -> None:
    atoms = bulk("NaCl", "rocksalt", a=5.64)
    atoms.set_cell(np.asarray(atoms.cell) @ (np.eye(3) + [[0.03, 0.02, 0], [0, -0.02, 0.01], [0, 0, 0.04]]), scale_atoms=True)
    atoms.positions[0] += [0.1, -0.2, 0.05]
    tensors = _tensors(atoms)
    ewald = CoulombEnergy(method="ewald", accuracy=1e-8)(*tensors)[0].sum()
    pme = CoulombEnergy(method="pme", accuracy=1e-8)(*tensors)[0].sum()
    assert float(ewald) == pytest.approx(float(pme), abs=1e-6)


def test_direct_sum_of_a_large_neutral_cluster_approaches_the_rocksalt_constant() -> None:
    # Evjen's neutral cube of 13^3 ions (charges 1/2, 1/4, 1/8 on faces, edges, corners):
    # the potential at the central ion converges to the Madelung constant, here to 5e-5
    n = 6
    grid = np.arange(-n, n + 1)
    positions = np.stack(np.meshgrid(grid, grid, grid, indexing="ij"), -1).reshape(-1, 3).astype(float)
    weights = np.prod(np.where(np.abs(positions) == n, 0.5, 1.0), axis=1)
    charges = (-1.0) ** np.abs(positions).sum(1) * weights
    phi = CoulombEnergy(method="direct").potential(
        torch.tensor(charges),
        torch.tensor(positions),
        torch.zeros(1, 3, 3, dtype=torch.float64),
        torch.zeros(1, 3, dtype=torch.bool),
        torch.zeros(len(positions), dtype=torch.long),
    )
    centre = len(positions) // 2
    cluster = -float(phi[centre]) / COULOMB_CONSTANT * charges[centre]
    assert cluster == pytest.approx(MADELUNG["rocksalt"], abs=5e-5)
    assert cluster == pytest.approx(_madelung(CRYSTALS["rocksalt"](), "ewald"), abs=5e-5)


def _square_of_charges(box: float) -> Atoms:
    # no net charge and no dipole: the images of a large box add only ~Q^2 / L^5
    positions = np.array([[0, 0, 0], [1.7, 0, 0], [1.7, 1.9, 0], [0, 1.9, 0]]) + box / 2
    return Atoms("NaClNaCl", positions=positions, cell=np.eye(3) * box, pbc=True)


def _periodic_minus_direct(box: float, **screening: object) -> float:
    atoms = _square_of_charges(box)
    periodic = CoulombEnergy(method="ewald", accuracy=1e-8, **screening)(*_tensors(atoms))[0].sum()  # type: ignore[arg-type]
    direct = CoulombEnergy(method="direct", **screening)(*_tensors(atoms, periodic=False))[0].sum()  # type: ignore[arg-type]
    return float(periodic - direct)


def test_periodic_sum_of_a_small_cluster_in_a_large_box_matches_the_direct_sum() -> None:
    # a neutral, dipole-free cluster: its images add only the quadrupole term ~ 1/L^5
    # (measured -1.16e-4 eV at L = 30 Å, -2.7e-5 eV at 40 Å)
    assert abs(_periodic_minus_direct(30.0)) < 2e-4
    # Gaussian charges far apart are point charges: the images add exactly the same, so the
    # short-range Gaussian correction of the periodic sum (~0.8 eV here) is checked tightly
    assert _periodic_minus_direct(30.0, screening="gaussian", sigma=0.7) == pytest.approx(_periodic_minus_direct(30.0), abs=1e-7)
    # Yukawa is short-ranged: its images in a 30 Å box add nothing
    assert abs(_periodic_minus_direct(30.0, screening="yukawa", kappa=0.5)) < 1e-7


def test_gaussian_charges_are_finite_at_zero_distance_and_bare_far_away() -> None:
    energy = CoulombEnergy(method="direct", screening="gaussian", sigma=0.5)
    far = energy._pair_kernel(torch.tensor([20.0], dtype=torch.float64))
    near = energy._pair_kernel(torch.tensor([1e-6], dtype=torch.float64))
    assert float(far) == pytest.approx(1 / 20.0, rel=1e-12)
    assert float(near) == pytest.approx(1 / (0.5 * np.sqrt(np.pi)), rel=1e-6)


def test_structures_of_a_batch_are_independent() -> None:
    a, b = CRYSTALS["rocksalt"](), _square_of_charges(12.0)
    b.pbc = False
    ta, tb = _tensors(a), _tensors(b, periodic=False)
    batch = (
        torch.cat([ta[0], tb[0]]),
        torch.cat([ta[1], tb[1]]),
        torch.cat([ta[2], tb[2]]),
        torch.cat([ta[3], tb[3]]),
        torch.cat([ta[4], tb[4] + 1]),
    )
    together = CoulombEnergy(accuracy=1e-8)(*batch)[0]
    alone = torch.cat([CoulombEnergy(accuracy=1e-8)(*ta)[0], CoulombEnergy(accuracy=1e-8)(*tb)[0]])
    torch.testing.assert_close(together, alone, rtol=0, atol=1e-12)


def test_bad_settings_and_structures_are_refused_in_one_line() -> None:
    with pytest.raises(LongRangeError, match="gaussian screening needs a positive width sigma"):
        CoulombEnergy(screening="gaussian")
    with pytest.raises(LongRangeError, match="method must be one of"):
        CoulombEnergy(method="p3mm")
    slab = _tensors(CRYSTALS["rocksalt"]())
    with pytest.raises(LongRangeError, match="slabs and wires are not supported"):
        CoulombEnergy()(*slab[:3], torch.tensor([[True, True, False]]), slab[4])
    with pytest.raises(LongRangeError, match="is periodic but the long-range method is 'direct'"):
        CoulombEnergy(method="direct")(*slab)


def test_pme_meshes_are_the_size_the_error_bound_assumes_with_flat_points_per_atom() -> None:
    """torch-pme rounds a mesh up to a power of two (up to 8x the points its bound asks for,
    by an amount that jumps with the box); ours is the smallest 7-smooth size >= 2 L / h + 1."""
    densities = []
    for n in (5, 6, 7, 11):  # 1 000 to 10 648 atoms
        atoms = bulk("NaCl", "rocksalt", a=5.64, cubic=True) * (n, n, n)
        cell, positions = torch.tensor(atoms.cell.array), torch.tensor(atoms.positions)
        parameters = pme_parameters(cell, positions, 8.0, 1e-4)
        for spacing in (parameters.mesh_spacing, 1.5):
            mesh = smooth_mesh_size(cell, spacing)
            needed = torch.ceil(2 * torch.linalg.norm(cell, dim=1) / spacing + 1).long()
            assert bool((mesh >= needed).all()) and bool((mesh < 1.25 * needed).all())
            for size in mesh.tolist():
                rest = size
                for prime in (2, 3, 5, 7):
                    while rest % prime == 0:
                        rest //= prime
                assert rest == 1, f"mesh size {size} has a prime factor above 7"
        densities.append(float(smooth_mesh_size(cell, 1.5).prod()) / len(atoms))
    # one spacing, one density of mesh points whatever the box (torch-pme's powers of two: 1x to 4x)
    assert max(densities) / min(densities) < 1.3, densities


def test_pme_on_an_odd_mesh_gives_the_madelung_constant_and_ewalds_forces() -> None:
    atoms = bulk("NaCl", "rocksalt", a=5.0, cubic=True)  # 35³ mesh at 1e-8 (compressed: the constant is scale-free)
    charges, positions, cell, pbc, batch = _tensors(atoms)
    parameters = pme_parameters(cell[0], positions, 8.0, 1e-8)
    assert smooth_mesh_size(cell[0], parameters.mesh_spacing).tolist() == [35, 35, 35]  # odd (5 x 7)
    assert _madelung(atoms, "pme") == pytest.approx(MADELUNG["rocksalt"], abs=1e-6)
    atoms.rattle(0.2, seed=1)
    forces = {}
    for method in ("ewald", "pme"):
        x = torch.tensor(atoms.positions, requires_grad=True)
        energies, _ = CoulombEnergy(method=method, accuracy=1e-8)(charges, x, cell, pbc, batch)
        forces[method] = -torch.autograd.grad(energies.sum(), x)[0]
    assert float(forces["ewald"].abs().max()) > 0.1
    assert torch.allclose(forces["pme"], forces["ewald"], atol=1e-5)


def _rattled_rocksalt(n: int) -> Atoms:
    atoms = CRYSTALS["rocksalt"]() * (n, n, n)
    atoms.rattle(0.1, seed=n)
    return atoms


def _coulomb_forces(atoms: Atoms, method: str, accuracy: float) -> torch.Tensor:
    charges, positions, cell, pbc, batch = _tensors(atoms)
    positions.requires_grad_(True)
    energies, _ = CoulombEnergy(method=method, accuracy=accuracy)(charges, positions, cell, pbc, batch)
    return -torch.autograd.grad(energies.sum(), positions)[0]


@pytest.fixture(scope="module")
def reference_forces() -> dict[int, torch.Tensor]:
    """Forces of rattled NaCl cells of 64, 216 (Ewald at 1e-9) and 1 000 atoms (PME at 1e-7)."""
    references = {n: _coulomb_forces(_rattled_rocksalt(n), "ewald", 1e-9) for n in (2, 3)}
    references[5] = _coulomb_forces(_rattled_rocksalt(5), "pme", 1e-7)
    return references


@pytest.mark.parametrize("accuracy", [1e-3, 1e-4, 1e-5])
def test_chosen_parameters_meet_the_stated_accuracy_across_sizes(accuracy: float, reference_forces) -> None:
    """The RMS force error (eV/Å over 14.4 eV·Å: e/Å² for unit charges) of Ewald and PME with
    the parameters chosen for ``accuracy`` stays below it on rattled NaCl of 64 to 1 000 atoms.
    PME's reciprocal-space bound from torch-pme alone gave 1.05e-4 at 1e-4 and 2.2e-5 at 1e-5
    (216 atoms), and more the more atoms: `PME_BOUND_FACTOR`, `PME_BOUND_ATOMS` correct it."""
    for n, reference in reference_forces.items():
        for method in ("ewald", "pme") if n < 5 else ("pme",):
            error = _coulomb_forces(_rattled_rocksalt(n), method, accuracy) - reference
            rms = float(error.square().sum(1).mean().sqrt()) / COULOMB_CONSTANT
            assert rms <= accuracy, f"{method}, {8 * n**3} atoms: RMS force error {rms:.2e} > {accuracy:g}"


def test_tuned_parameters_are_kept_per_cell_and_atom_count() -> None:
    atoms = _rattled_rocksalt(2)
    cell, positions = torch.tensor(atoms.cell.array), torch.tensor(atoms.positions)
    first = pme_parameters(cell, positions, 8.0, 1e-4)
    assert pme_parameters(cell.clone(), positions + 0.3, 8.0, 1e-4) is first  # positions do not enter the bounds
    strained = pme_parameters(cell * 1.02, positions, 8.0, 1e-4)
    assert strained is not first and strained.smearing != first.smearing
    assert pme_parameters(cell, positions[:-2], 8.0, 1e-4) is not first

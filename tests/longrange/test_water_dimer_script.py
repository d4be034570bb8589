"""``scripts/generate_water_dimer_xtb.py``: the water-dimer tail set (GFN2-xTB labels) has the
geometry and labels docs/longrange.md describes."""

from __future__ import annotations

from pathlib import Path

import ase.io
import numpy as np
import pytest

pytest.importorskip("tblite")



@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import generate_water_dimer_xtb as script  # scripts/ (pytest's pythonpath)

    out = tmp_path_factory.mktemp("water")
    assert script.main(["--output-dir", str(out), "--train-frames", "4", "--seed", "3"]) == 0
    return out


def _oo(atoms) -> float:
    return float(np.linalg.norm(atoms.positions[3] - atoms.positions[0]))


def test_the_scan_pulls_the_rigid_dimer_apart_to_20_angstrom(generated) -> None:
    scan = ase.io.read(generated / "water_dimer_scan.xyz.gz", index=":")
    distances = [atoms.info["d_OO"] for atoms in scan]
    assert distances[0] == pytest.approx(2.5) and distances[-1] == pytest.approx(20.0)
    first = scan[0]
    for atoms in scan:
        assert _oo(atoms) == pytest.approx(atoms.info["d_OO"], abs=1e-6)  # extxyz keeps ~8 decimals
        for molecule in (slice(0, 3), slice(3, 6)):  # each monomer rigid: same internal distances
            assert np.allclose(atoms.get_all_distances()[molecule, molecule], first.get_all_distances()[molecule, molecule])
    energies = np.array([atoms.get_potential_energy() for atoms in scan])
    monomers = ase.io.read(generated / "water_monomers.xyz.gz", index=":")
    interaction = energies - sum(m.get_potential_energy() for m in monomers)
    assert interaction.min() < -0.1  # a hydrogen bond, about -0.2 eV
    assert -0.002 < interaction[-1] < 0  # dipole-dipole tail at 20 Å: about -0.6 meV
    assert abs(interaction[-1]) < abs(interaction[np.isclose(distances, 10.0)][0]) / 5  # decays like 1/r^3


def test_training_frames_are_labelled_distorted_and_within_reach(generated) -> None:
    frames = ase.io.read(generated / "water_dimer_train.xyz.gz", index=":")
    assert len(frames) == 4
    for atoms in frames:
        assert 2.3 < _oo(atoms) < 6.3  # 2.5-6 Å before the noise
        contacts = np.linalg.norm(atoms.positions[:3, None] - atoms.positions[None, 3:], axis=-1)
        assert contacts.min() > 1.3
        charges = atoms.calc.results["charges"]
        assert abs(charges.sum()) < 1e-6 and charges[0] < -0.3 and charges[3] < -0.3  # O negative
        assert atoms.get_forces().shape == (6, 3) and atoms.calc.results["dipole"].shape == (3,)
    assert (generated / "water_dimer_train.json").is_file()

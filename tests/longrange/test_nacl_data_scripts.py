"""The NaCl study's data scripts: ``scripts/generate_nacl_bmh.py`` with compressed rocksalt
cells, ``scripts/make_nacl_study_sets.py`` (the study's sets from parallel parts), and
``scripts/nacl_pair_distances.py`` (which pairs and environments a set samples)."""

from __future__ import annotations

import json
from pathlib import Path

import ase.io
import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk

from equipot.longrange import COULOMB_CONSTANT


def test_compressed_rocksalt_runs_are_labelled_and_recorded(nacl_generator, tmp_path: Path) -> None:
    nacl_generator.main([
        "--output-dir", str(tmp_path), "--temperatures", "300", "--compressions", "0", "-0.1", "--runs", "1",
        "--frames-per-run", "1", "--cscl-frames-per-run", "1", "--equilibrate", "1", "--interval", "1",
        "--max-strain", "0", "--seed", "0",
    ])
    rocksalt = ase.io.read(tmp_path / "nacl_rocksalt.xyz.gz", index=":")
    assert [frame.info["compression"] for frame in rocksalt] == [0.0, -0.1]
    assert rocksalt[1].get_volume() / rocksalt[0].get_volume() == pytest.approx(0.9**3, rel=1e-12)
    per_atom = [frame.get_potential_energy() / len(frame) for frame in rocksalt]
    assert per_atom[1] - per_atom[0] == pytest.approx(0.253, abs=0.02)  # 10 % shorter edges, 18 GPa: 0.253 eV/atom at 0 K
    assert len(ase.io.read(tmp_path / "nacl_cscl.xyz.gz", index=":")) == 1  # CsCl: one start cell only
    provenance = json.loads((tmp_path / "nacl_rocksalt.json").read_text())
    assert provenance["compressions"] == [0.0, -0.1]
    assert json.loads((tmp_path / "nacl_cscl.json").read_text())["compressions"] == [0.0]


def test_a_compression_that_is_not_a_strain_is_refused_in_one_line(nacl_generator, capsys) -> None:
    with pytest.raises(SystemExit):
        nacl_generator.main(["--compressions", "-8"])
    assert "--compressions are hydrostatic strains such as -0.08 (8 % shorter cell edges), got [-8.0]" in capsys.readouterr().err


def test_like_neighbours_tell_rocksalt_from_cscl(nacl_pair_distances) -> None:
    rocksalt = bulk("NaCl", "rocksalt", a=5.62, cubic=True) * (2, 2, 2)
    cscl = Atoms("NaCl", scaled_positions=[[0, 0, 0], [0.5, 0.5, 0.5]], cell=np.eye(3) * 3.43, pbc=True) * (3, 3, 3)
    assert nacl_pair_distances.like_neighbours([rocksalt], 3.7).tolist() == [0] * 64  # like ions at 3.97 Å
    assert nacl_pair_distances.like_neighbours([cscl], 3.7).tolist() == [6] * 54  # like ions at 3.43 Å
    compressed = rocksalt.copy()
    compressed.set_cell(rocksalt.cell * 0.9, scale_atoms=True)  # like ions at 3.58 Å
    assert nacl_pair_distances.like_neighbours([compressed], 3.7).tolist() == [12] * 64
    distances = nacl_pair_distances.pair_distances([cscl], cutoff=3.5)
    assert set(np.round(distances[(11, 11)], 6)) == {3.43}
    assert len(distances[(11, 11)]) == len(distances[(17, 17)]) == 27 * 3  # 6 like neighbours, each pair once


def test_pair_energy_is_the_reference_short_range(nacl_pair_distances, nacl_bmh) -> None:
    for pair, r in (((17, 17), 3.4), ((11, 17), 2.8), ((11, 11), 3.3)):
        atoms = Atoms(numbers=pair, positions=[[0, 0, 0], [r, 0, 0]])
        atoms.calc = nacl_bmh.BMHCoulombCalculator()
        charges = [nacl_bmh.TOSI_FUMI_NACL["charges"][z] for z in pair]
        short_range = atoms.get_potential_energy() - COULOMB_CONSTANT * charges[0] * charges[1] / r
        assert nacl_pair_distances.bmh_pair_energy(pair, np.array([r]))[0] == pytest.approx(short_range, abs=1e-9)


def test_short_range_beyond_a_cutoff_is_what_the_reference_puts_there(nacl_pair_distances, nacl_bmh) -> None:
    # a periodic rocksalt cell: beyond 0 Å is all of the reference's short range (its energy
    # minus the Ewald energy of the formal charges); beyond 10 Å (its r_off) nothing
    rocksalt = bulk("NaCl", "rocksalt", a=5.62, cubic=True)
    calculator = nacl_bmh.BMHCoulombCalculator()
    rocksalt.calc = calculator
    charges = torch.tensor([nacl_bmh.TOSI_FUMI_NACL["charges"][z] for z in rocksalt.numbers], dtype=torch.float64)
    coulomb = calculator.coulomb(
        charges, torch.tensor(rocksalt.positions), torch.tensor(rocksalt.cell.array)[None],
        torch.tensor(rocksalt.pbc)[None], torch.zeros(len(rocksalt), dtype=torch.long),
    )[0].sum().item()
    short_range = (rocksalt.get_potential_energy() - coulomb) / len(rocksalt)
    assert nacl_pair_distances.short_range_beyond([rocksalt], 0.0) == pytest.approx(short_range, abs=1e-8)
    assert nacl_pair_distances.short_range_beyond([rocksalt], 10.0) == 0.0
    # beyond 4 Å only dispersion is left to speak of: negative, and smaller beyond 5 Å
    tail_4, tail_5 = (nacl_pair_distances.short_range_beyond([rocksalt], cutoff) for cutoff in (4.0, 5.0))
    assert tail_4 < tail_5 < 0.0


def test_study_sets_are_their_parts_concatenated(nacl_study_sets, tmp_path: Path) -> None:
    nacl_study_sets.main(["--output-dir", str(tmp_path), "--frames-per-run", "1", "--side-frames-per-run", "1",
               "--equilibrate", "1", "--interval", "1"])

    def read(path: str) -> list:
        return ase.io.read(tmp_path / path, index=":")

    strained, strained_hot = read("strained/nacl_rocksalt.xyz.gz"), read("strained_hot/nacl_rocksalt.xyz.gz")
    # 4 compressions x 4 temperatures, then the same compressions at 1500 and 1800 K
    assert len(strained) == 16 and len(strained_hot) == 24
    assert [f.info["temperature_K"] for f in strained_hot[16:20]] == [1500.0, 1800.0, 1500.0, 1800.0]
    assert sorted({f.info["compression"] for f in strained}) == [-0.12, -0.08, -0.04, 0.0]
    for first, again in zip(strained, strained_hot[:16]):
        assert np.array_equal(first.positions, again.positions)
        assert first.get_potential_energy() == again.get_potential_energy()
    part = ase.io.read(tmp_path / "parts" / "hot_p1" / "nacl_rocksalt.xyz.gz", index=":")
    assert np.array_equal(strained_hot[18].get_forces(), part[0].get_forces())
    cscl, gap = read("cscl/nacl_cscl.xyz.gz"), read("gap/nacl_rocksalt.xyz.gz")
    assert [len(cscl), len(gap)] == [8, 8] and {len(f) for f in cscl} == {54}
    assert {f.info["compression"] for f in gap} == {0.0}
    provenance = json.loads((tmp_path / "strained_hot" / "nacl_rocksalt.json").read_text())
    assert [p["folder"] for p in provenance["parts"]] == [f"parts/strained_p{k}" for k in range(4)] + [
        f"parts/hot_p{k}" for k in range(4)]

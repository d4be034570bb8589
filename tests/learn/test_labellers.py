"""The registered labellers on real reference methods: gfn2 (tblite's GFN2-xTB) on small
molecules, its failures as `LabelError`, and misspelled settings refused."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.build import molecule

from equipot.learn import LabelError, label, make_labeller

tblite_ase = pytest.importorskip("tblite.ase")


@pytest.mark.parametrize("name", ["H2O", "NH3", "CH4"])
def test_gfn2_labels_molecules_as_tblite_gfn2(name):
    atoms = molecule(name)
    energy, forces = label(atoms, make_labeller("gfn2", {}))
    reference = atoms.copy()
    reference.calc = tblite_ase.TBLite(method="GFN2-xTB", verbosity=0)
    assert energy == pytest.approx(reference.get_potential_energy(), abs=1e-8)
    np.testing.assert_allclose(forces, reference.get_forces(), atol=1e-8)
    assert forces.shape == (len(atoms), 3) and atoms.calc is None  # the caller's atoms untouched
    gfn1 = atoms.copy()
    gfn1.calc = tblite_ase.TBLite(method="GFN1-xTB", verbosity=0)
    assert abs(energy - gfn1.get_potential_energy()) > 1.0  # the method really is GFN2, not GFN1


def test_gfn2_settings_reach_the_calculator():
    water = molecule("H2O")
    neutral, _ = label(water, make_labeller("gfn2", {}))
    cation, _ = label(water, make_labeller("gfn2", {"charge": 1, "multiplicity": 2}))
    assert cation - neutral > 5.0  # removing an electron costs an ionization energy (eV)


def test_gfn2_failure_is_a_label_error():
    overlapping = Atoms("H2", positions=[[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    with pytest.raises(LabelError, match="Too close interatomic distances"):
        label(overlapping, make_labeller("gfn2", {}))


def test_misspelled_settings_are_refused():
    with pytest.raises(ValueError, match="labeller 'gfn2' has no setting 'acuracy'; did you mean 'accuracy'"):
        make_labeller("gfn2", {"acuracy": 1.0})
    with pytest.raises(ValueError, match="labeller 'emt' has no setting 'cutoff'"):
        make_labeller("emt", {"cutoff": 5.0})

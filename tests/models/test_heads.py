"""Output heads: every kind transforms as it declares (public `assert_equivariant`, float64,
rotations and reflections, to ~1e-10), index symmetries are exact, configs round-trip
through model files, and bad declarations give errors that say what to change."""

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk, molecule

from equipot import EquipotCalculator, EquivariantPotential, load_model, save_model
from equipot.config import HeadConfig, ModelConfig
from equipot.data import graph_from_atoms
from equipot.models.heads import PeriodicDipoleError
from equipot.models.irreps_flow import UnreachableIrrepsError
from equipot.testing import ModelTestSuite, assert_equivariant, evaluate, random_crystal, random_molecule, rotate_atoms

SPECIES = ["H", "C", "O"]
HIDDEN = "4x0e+4x0o+4x1o+4x1e+4x2e"
HEADS = [
    {"name": "dipole", "kind": "dipole"},
    {"name": "polarizability", "kind": "polarizability"},
    {"name": "piezo", "kind": "cartesian", "formula": "ijk=ikj"},
    {"name": "elastic", "kind": "cartesian", "formula": "ijkl=jikl=klij"},
    {"name": "gyration", "kind": "cartesian", "formula": "ij=ji", "pseudo": True, "scale": 1e4},
    {"name": "chirality", "kind": "irreps", "irreps": "0o", "scale": 1e4},
    {"name": "scalar", "kind": "irreps", "irreps": "0e"},
    {"name": "mixed", "kind": "irreps", "irreps": "2x0e+1e+2o", "per_atom": True, "scale": 10.0},
]
PER_STRUCTURE = [h["name"] for h in HEADS if not h.get("per_atom")]


@pytest.fixture(scope="module")
def model() -> EquivariantPotential:
    torch.manual_seed(0)
    net = EquivariantPotential(
        species=SPECIES, cutoff=3.5, hidden_irreps=HIDDEN, lmax=2, num_layers=2, correlation=2,
        radial_hidden=8, num_radial_basis=4, readout_hidden=4, heads=HEADS, dtype=torch.float64,
    )
    net.set_normalization(scale=2.0, shift=0.1)
    return net.eval()


@pytest.fixture(scope="module")
def chiral_molecule() -> Atoms:
    return random_molecule(SPECIES, 7, np.random.default_rng(3))


def test_every_head_is_equivariant_on_a_molecule(model, chiral_molecule):
    outputs = ["energy", "forces", *[h["name"] for h in HEADS]]
    assert_equivariant(model, chiral_molecule, outputs)
    values = evaluate(model, chiral_molecule, outputs)
    # the checks are meaningful: every output is far from zero
    assert all(np.abs(values[name]).max() > 1e-3 for name in outputs), {k: np.abs(v).max() for k, v in values.items()}
    assert values["mixed"].shape == (7, 2 + 3 + 5) and values["elastic"].shape == (3, 3, 3, 3)


def test_heads_are_equivariant_on_a_crystal(model):
    crystal = random_crystal(SPECIES, 4, np.random.default_rng(1))
    outputs = ["energy", "stress", *[h["name"] for h in HEADS if h["kind"] != "dipole"]]
    assert_equivariant(model, crystal, outputs, trials=1)


def test_a_wrong_rule_is_caught(model, chiral_molecule):
    """The checker itself can fail: an axial tensor declared polar does not pass."""
    original = model.heads["gyration"].config
    model.heads["gyration"].config = original.model_copy(update={"pseudo": False})
    try:
        with pytest.raises(AssertionError, match="gyration is not equivariant under a reflection"):
            assert_equivariant(model, chiral_molecule, ["gyration"], trials=1)
    finally:
        model.heads["gyration"].config = original


def test_pseudoscalar_flips_under_reflection_and_scalar_does_not(model, chiral_molecule):
    mirror = rotate_atoms(chiral_molecule, np.diag([1.0, -1.0, 1.0]))
    here, there = evaluate(model, chiral_molecule, PER_STRUCTURE), evaluate(model, mirror, PER_STRUCTURE)
    assert abs(here["chirality"][0]) > 1e-3
    np.testing.assert_allclose(there["chirality"], -here["chirality"], rtol=1e-10)
    np.testing.assert_allclose(there["scalar"], here["scalar"], rtol=1e-10)
    assert abs(here["scalar"][0]) > 1e-3


def test_index_symmetries_are_exact(model, chiral_molecule):
    values = evaluate(model, chiral_molecule, ["polarizability", "piezo", "elastic", "gyration"])
    alpha, piezo, elastic = values["polarizability"], values["piezo"], values["elastic"]
    for tensor, permuted in [
        (alpha, alpha.T),
        (values["gyration"], values["gyration"].T),
        (piezo, piezo.transpose(0, 2, 1)),
        (elastic, elastic.transpose(1, 0, 2, 3)),
        (elastic, elastic.transpose(0, 1, 3, 2)),
        (elastic, elastic.transpose(2, 3, 0, 1)),
    ]:
        assert np.abs(tensor - permuted).max() <= 1e-14 * np.abs(tensor).max()
    # and nothing else is imposed: a generic piezoelectric tensor has 18 free components
    assert np.linalg.matrix_rank(piezo.reshape(3, 9)) == 3


def test_dipole_charges_sum_to_the_total_charge(model):
    atoms = molecule("CH3OH")
    atoms.info["charge"] = 1.0
    graph = graph_from_atoms(atoms, model.cutoff, dtype=torch.float64)
    features = model.energies_and_features(graph, graph.positions, graph.cell)[1]
    charges = model.heads["dipole"].charges(features, graph).detach()
    assert float(charges.sum()) == pytest.approx(1.0, abs=1e-12)
    assert float(charges.abs().max()) > 1e-3
    # a charged molecule's dipole is taken about the centre of mass: moving the atoms
    # moves the centre with them, so the value is unchanged
    shifted = atoms.copy()
    shifted.positions += 5.0
    np.testing.assert_allclose(evaluate(model, shifted, ["dipole"])["dipole"], evaluate(model, atoms, ["dipole"])["dipole"], atol=1e-12)


def test_dipole_of_a_periodic_cell_is_an_error_unless_asked(model):
    with pytest.raises(PeriodicDipoleError, match="periodic.*modulo a quantum.*periodic: sum"):
        evaluate(model, bulk("C", "diamond", a=3.57), ["dipole"])
    summed = EquivariantPotential(model.config, dtype=torch.float64, heads=[{"name": "p", "kind": "dipole", "periodic": "sum"}])
    assert evaluate(summed, bulk("C", "diamond", a=3.57), ["p"])["p"].shape == (3,)


def test_unreachable_irreps_name_what_to_add():
    with pytest.raises(UnreachableIrrepsError, match=r"'chi'.*outputs 0o.*Add 1e to model.hidden_irreps, e.g. hidden_irreps: '4x0e\+4x1o\+4x1e'"):
        EquivariantPotential(species=["H"], num_channels=4, heads=[{"name": "chi", "kind": "irreps", "irreps": "0o"}])
    # declaring 0o is not enough: nothing produces it from 0e and 1o features
    with pytest.raises(UnreachableIrrepsError, match=r"carrying 0e\+1o cannot produce.*Add 1e"):
        EquivariantPotential(species=["H"], hidden_irreps="4x0e+4x0o+4x1o", heads=[{"name": "chi", "kind": "irreps", "irreps": "0o"}])
    with pytest.raises(UnreachableIrrepsError, match=r"'piezo'.*outputs 2o\+3o.*Add 2e"):
        EquivariantPotential(species=["H"], num_channels=4, heads=[{"name": "piezo", "kind": "cartesian", "formula": "ijk=ikj"}])
    # an SO(3) model ignores parity: the same head is fine there
    EquivariantPotential(species=["H"], num_channels=4, parity=False, heads=[{"name": "chi", "kind": "irreps", "irreps": "0o"}])


@pytest.mark.parametrize(
    ("head", "message"),
    [
        ({"name": "x", "kind": "irreps"}, "kind irreps needs irreps"),
        ({"name": "x", "kind": "irreps", "irreps": "1q"}, "not an e3nn Irreps string"),
        ({"name": "x", "kind": "cartesian", "formula": "ij=jk"}, "must permute the indices"),
        ({"name": "forces", "kind": "dipole"}, "is an energy output"),
        ({"name": "x", "kind": "dipole", "per_atom": True}, "a dipole is per structure"),
        ({"name": "x", "kind": "irreps", "irreps": "0e", "pseudo": True}, "use odd labels"),
    ],
)
def test_bad_head_configs(head, message):
    with pytest.raises(ValueError, match=message):
        HeadConfig.model_validate(head)


def test_duplicate_heads_and_unknown_outputs(model, chiral_molecule):
    with pytest.raises(ValueError, match="head names must be unique"):
        ModelConfig(species=["H"], heads=[{"name": "a", "kind": "dipole"}, {"name": "a", "kind": "dipole"}])
    with pytest.raises(ValueError, match=r"unknown outputs \['dipol'\].*heads \['chirality'"):
        evaluate(model, chiral_molecule, ["dipol"])


def test_model_file_round_trip_rebuilds_the_heads(model, chiral_molecule, tmp_path):
    loaded = load_model(save_model(model, tmp_path / "heads.pt"))
    assert loaded.config == model.config and set(loaded.output_specs()) == {h["name"] for h in HEADS}
    names = ["energy", *[h["name"] for h in HEADS]]
    expected, got = evaluate(model, chiral_molecule, names), evaluate(loaded, chiral_molecule, names)
    for name in names:
        np.testing.assert_allclose(got[name], expected[name], rtol=1e-12, atol=1e-14)
    single = model.converted(torch.float32)  # constants (change of basis) rebuilt exactly
    np.testing.assert_allclose(evaluate(single, chiral_molecule, ["elastic"])["elastic"], expected["elastic"], rtol=1e-4, atol=1e-5)


def test_calculator_returns_dipole_and_declared_outputs(model):
    atoms = molecule("CH3CH2OH")
    atoms.calc = EquipotCalculator(model)
    assert {"dipole", "polarizability", "elastic", "mixed"} <= set(atoms.calc.implemented_properties)
    expected = evaluate(model, atoms, ["dipole", "polarizability", "mixed"])
    np.testing.assert_allclose(atoms.get_dipole_moment(), expected["dipole"], rtol=1e-12)
    np.testing.assert_allclose(atoms.calc.get_property("polarizability", atoms), expected["polarizability"], rtol=1e-12)
    assert atoms.calc.get_property("mixed", atoms).shape == (9, 10)
    crystal = bulk("C", "diamond", a=3.57)
    crystal.calc = EquipotCalculator(model)
    crystal.get_potential_energy()  # a periodic dipole is skipped unless asked for
    assert "dipole" not in crystal.calc.results and "polarizability" in crystal.calc.results
    with pytest.raises(PeriodicDipoleError):
        crystal.get_dipole_moment()
    plain = EquipotCalculator(EquivariantPotential(species=["H"], num_channels=4, dtype=torch.float64))
    assert "dipole" not in plain.implemented_properties


class TestPotentialWithHeads(ModelTestSuite):
    """The whole model suite (derivatives, batching, smoothness, ...) with heads attached,
    including its generic check of every declared head."""

    def make_model(self, dtype):
        heads = [{"name": "dipole", "kind": "dipole"}, {"name": "alpha", "kind": "polarizability"}, {"name": "q", "kind": "irreps", "irreps": "0e", "per_atom": True}]
        return EquivariantPotential(species=["H", "C"], cutoff=3.5, num_channels=4, lmax=2, num_layers=2, correlation=2, heads=heads, dtype=dtype)


def test_batched_heads_match_single_structures(model):
    from equipot.testing import evaluate_many

    structures = [random_molecule(SPECIES, n, np.random.default_rng(n)) for n in (3, 6, 5)]
    names = [h["name"] for h in HEADS]
    batched = evaluate_many(model, structures, names)
    for atoms, values in zip(structures, batched):
        alone = evaluate(model, atoms, names)
        for name in names:
            np.testing.assert_allclose(values[name], alone[name], rtol=1e-10, atol=1e-13)

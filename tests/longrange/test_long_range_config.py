"""The long_range config section, build_potential, and long-range model files."""

from __future__ import annotations

import pytest
import torch
from ase import Atoms
from pydantic import ValidationError

from equipot.config import ModelConfig
from equipot.data import graph_from_atoms
from equipot.longrange import LongRangePotential, build_potential, load_long_range_model, save_long_range_model
from equipot.models import EquivariantPotential
from equipot import load_potential
from equipot.models.io import ModelFileError, load_model, save_model

SMALL = dict(species=["Na", "Cl"], cutoff=3.5, num_channels=4, lmax=1, hidden_lmax=1, num_layers=1, correlation=2, radial_hidden=8)


def test_a_config_without_long_range_builds_the_local_model_and_with_it_the_hybrid() -> None:
    assert isinstance(build_potential(ModelConfig(**SMALL)), EquivariantPotential)
    config = ModelConfig(**SMALL, long_range={"charges": "qeq", "screening": "gaussian", "sigma": 1.0, "accuracy": 1e-6})
    model = build_potential(config, dtype=torch.float64)
    assert isinstance(model, LongRangePotential)
    assert model.scheme == "qeq" and model.coulomb.sigma == 1.0 and model.coulomb.accuracy == 1e-6


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"charge": "qeq"}, "unknown key 'charge' in LongRangeConfig; did you mean 'charges'"),
        ({"screening": "gaussian"}, "screening gaussian needs sigma"),
        ({"screening": "yukawa"}, "screening yukawa needs kappa"),
        ({"charges": "qeq"}, "charges qeq needs screening: gaussian"),
        ({"method": "p3m"}, "method"),
        ({"sigma": 1.0}, "sigma is set but screening is 'none'"),
        ({"charges": "fixed"}, r"charges fixed needs fixed_charges, the charge of each element in e \(e.g. fixed_charges: \{Na: 1.0"),
        ({"fixed_charges": {"Na": 1.0, "Cl": -1.0}}, "fixed_charges is set but charges is 'neutral'; set charges: fixed or drop"),
        ({"charges": "fixed", "fixed_charge": {"Na": 1.0}}, "unknown key 'fixed_charge' in LongRangeConfig; did you mean 'fixed_charges'"),
        ({"charges": "fixed", "fixed_charges": {"NA": 1.0, "Cl": -1.0}}, "fixed_charges: 'NA' is not a chemical symbol; did you mean 'Na'"),
        ({"charges": "fixed", "fixed_charges": {"Na": float("nan"), "Cl": -1.0}}, "the charge of Na is nan; give a finite charge in e"),
        ({"initial_charges": {"Nq": 1.0}}, "initial_charges: 'Nq' is not a chemical symbol"),
        ({"initial_charges": {"Na": float("inf")}}, "initial_charges: the charge of Na is inf; give a finite charge in e"),
        (
            {"charges": "fixed", "fixed_charges": {"Na": 1.0, "Cl": -1.0}, "initial_charges": {"Na": 1.0}},
            "initial_charges is for learned charges \\(neutral, qeq\\); with charges: fixed give fixed_charges only",
        ),
        (
            {"charges": "fixed", "fixed_charges": {"Na": 1.0}},
            r"long_range.fixed_charges has no charge for \['Cl'\]; give every element of species \['Na', 'Cl'\] a charge",
        ),
    ],
)
def test_bad_long_range_settings_say_what_to_change(section: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ModelConfig(**SMALL, long_range=section)


@pytest.mark.parametrize(
    "section", [{"accuracy": 1e-6}, {"accuracy": 1e-6, "charges": "fixed", "fixed_charges": {"Na": 0.8, "Cl": -0.8}}]
)
def test_long_range_model_files_round_trip_through_load_potential_as_plain_data(tmp_path, section: dict) -> None:
    torch.manual_seed(0)
    config = ModelConfig(**SMALL, long_range=section)
    model = build_potential(config, dtype=torch.float64).eval()
    with torch.no_grad():
        for parameter in model.charge_head.parameters():
            parameter.add_(0.1 * torch.randn_like(parameter))
    path = save_long_range_model(model, tmp_path / "hybrid.pt")
    loaded = load_long_range_model(path)
    atoms = Atoms("NaClNa", positions=[[0, 0, 0], [2.4, 0, 0], [0, 2.6, 0.4]])
    atoms.info["charge"] = 1.0
    graph = graph_from_atoms(atoms, model.cutoff)
    before = model(graph, outputs={"energy", "charges"})
    after = loaded(graph, outputs={"energy", "charges"})
    torch.testing.assert_close(after.energy, before.energy, rtol=0, atol=1e-12)
    torch.testing.assert_close(after.extra["charges"], before.extra["charges"], rtol=0, atol=1e-12)
    payload = torch.load(path, weights_only=True)  # plain data only
    assert payload["model"] == "LongRangePotential" and set(payload["charge_head"]) == set(model.charge_head.state_dict())
    by_load_potential = load_potential(path)  # the one loader dispatches on the payload's kind
    assert isinstance(by_load_potential, LongRangePotential)
    torch.testing.assert_close(by_load_potential(graph, outputs={"energy"}).energy, before.energy, rtol=0, atol=1e-12)
    as_float32 = load_potential(path, dtype=torch.float32)
    assert as_float32.dtype == torch.float32 and as_float32.scheme == model.scheme
    torch.testing.assert_close(as_float32(graph, outputs={"charges"}).extra["charges"], before.extra["charges"].float())
    with pytest.raises(ModelFileError, match=r"holds a LongRangePotential.*equipot.load_potential\(path\)"):
        load_model(path)  # single EquivariantPotential files only


def test_a_model_file_of_an_unknown_kind_is_refused_in_one_line(tmp_path) -> None:
    path = save_model(EquivariantPotential(ModelConfig(**SMALL)), tmp_path / "model.pt")
    payload = torch.load(path, weights_only=True)
    payload["model"] = "FuturePotential"
    torch.save(payload, tmp_path / "future.pt")
    with pytest.raises(ModelFileError, match="kind 'FuturePotential', which this equipot cannot rebuild.*upgrade equipot"):
        load_potential(tmp_path / "future.pt")
    with pytest.raises(ModelFileError, match="not a LongRangePotential"):
        load_long_range_model(path)


def test_a_hybrid_file_written_before_the_per_element_charges_loads_with_them_at_zero(tmp_path) -> None:
    torch.manual_seed(0)
    model = build_potential(ModelConfig(**SMALL, long_range={"accuracy": 1e-6}), dtype=torch.float64).eval()
    payload = torch.load(save_long_range_model(model, tmp_path / "new.pt"), weights_only=True)
    del payload["charge_head"]["element_baseline"]  # what files of earlier versions hold
    torch.save(payload, tmp_path / "old.pt")
    loaded = load_potential(tmp_path / "old.pt")
    assert isinstance(loaded, LongRangePotential)
    assert loaded.charge_head.element_baseline is not None and not bool(loaded.charge_head.element_baseline.any())
    graph = graph_from_atoms(Atoms("NaCl", positions=[[0, 0, 0], [2.4, 0, 0]]), model.cutoff)
    torch.testing.assert_close(loaded(graph, outputs={"charges"}).extra["charges"], model(graph, outputs={"charges"}).extra["charges"])

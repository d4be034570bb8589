"""Newton-Raphson with exact (model) or finite-difference (calculator) Hessians: fewer
iterations than BFGS on clusters, and it leaves a saddle point that BFGS accepts."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.emt import EMT
from ase.calculators.lj import LennardJones
from ase.cluster import Icosahedron
from ase.optimize import BFGS
from scipy.optimize import minimize_scalar

from equipot.properties import newton_relax
from equipot.properties.newton import newton_step


def _bfgs(atoms: Atoms, calculator, fmax: float) -> tuple[int, float]:
    atoms = atoms.copy()
    atoms.calc = calculator
    optimizer = BFGS(atoms, logfile=None)
    assert optimizer.run(fmax=fmax, steps=1000)
    return optimizer.nsteps, atoms.get_potential_energy()


@pytest.fixture(scope="module")
def lj_saddle() -> tuple[Atoms, LennardJones]:
    """The linear LJ trimer at its best spacing: forces vanish, bending lowers the energy."""
    calculator = LennardJones(epsilon=1.0, sigma=1.0, rc=5.0)

    def chain(d: float) -> Atoms:
        atoms = Atoms("Ar3", positions=[[-d, 0, 0], [0, 0, 0], [d, 0, 0]])
        atoms.calc = calculator
        return atoms

    spacing = minimize_scalar(lambda d: chain(d).get_potential_energy(), bracket=(1.0, 1.12, 1.3), tol=1e-12).x
    return chain(spacing), calculator


def test_newton_leaves_a_saddle_point_that_bfgs_accepts(lj_saddle) -> None:
    saddle, calculator = lj_saddle
    assert np.abs(saddle.get_forces()).max() < 1e-6
    bfgs_steps, bfgs_energy = _bfgs(saddle, calculator, fmax=1e-4)
    assert bfgs_steps == 0 and bfgs_energy == pytest.approx(saddle.get_potential_energy())
    result = newton_relax(calculator, saddle, fmax=1e-5)
    assert result.converged and result.min_eigenvalue > 0.0
    # the equilateral triangle at the pair minimum: three bonds of 2^(1/6) sigma
    distances = result.atoms.get_all_distances()[np.triu_indices(3, 1)]
    np.testing.assert_allclose(distances, 2 ** (1 / 6), rtol=1e-4)
    assert result.energies[-1] < bfgs_energy - 0.9


@pytest.mark.parametrize(
    ("name", "calculator", "cluster"),
    [
        ("LJ13", LennardJones(epsilon=0.0104, sigma=3.4, rc=10.0), Icosahedron("Ar", 2, latticeconstant=2 ** (1 / 6) * 3.4 * np.sqrt(2))),
        ("EMT Cu13", EMT(), Icosahedron("Cu", 2)),
    ],
)
def test_newton_needs_fewer_iterations_than_bfgs(name, calculator, cluster) -> None:
    cluster.rattle(0.1, seed=3)
    result = newton_relax(calculator, cluster, fmax=1e-4)
    bfgs_steps, bfgs_energy = _bfgs(cluster, calculator, fmax=1e-4)
    assert result.converged and result.fmax_history[-1] < 1e-4
    assert result.energies[-1] == pytest.approx(bfgs_energy, abs=1e-6)  # the same minimum
    assert result.n_steps < bfgs_steps / 3, (name, result.n_steps, bfgs_steps)
    assert np.all(np.diff(result.energies) < 1e-9)  # accepted steps never raise the energy
    # finite-difference Hessians cost 6N force calls each
    assert result.n_force_calls == 1 + result.n_steps + 6 * len(cluster) * result.n_hessians


def test_newton_with_exact_model_hessian(molecule_model) -> None:
    from ase.build import molecule

    result = newton_relax(molecule_model, molecule("CH4"), fmax=1e-5, max_steps=80)
    assert result.converged and result.n_force_calls == 1 + result.n_steps  # Hessians by autograd
    assert result.min_eigenvalue > 0.0


def test_step_goes_downhill_along_negative_curvature_and_respects_the_trust_radius() -> None:
    values = np.array([-2.0, 1.0, 4.0])
    vectors = np.eye(3)
    gradient = np.array([0.5, -1.0, 8.0])
    step = newton_step(gradient, values, vectors, trust_radius=10.0, floor=1e-2, negative_tolerance=1e-3)
    # plain Newton would go uphill along mode 0 (towards the saddle): -g/lambda = +0.25;
    # here it goes downhill to the trust boundary, and Newton steps along the others
    assert step[0] < -1.0 and step[1] / step[2] == pytest.approx(1.0 / -2.0)
    positive = newton_step(gradient, np.abs(values), vectors, trust_radius=10.0, floor=1e-2, negative_tolerance=1e-3)
    np.testing.assert_allclose(positive, [-0.25, 1.0, -2.0])
    small = newton_step(gradient, values, vectors, trust_radius=0.5, floor=1e-2, negative_tolerance=1e-3)
    assert np.linalg.norm(small) == pytest.approx(0.5)
    # at a saddle (no force along the negative mode) the step still leaves it
    escape = newton_step(np.zeros(3), values, vectors, trust_radius=0.3, floor=1e-2, negative_tolerance=1e-3)
    assert abs(escape[0]) == pytest.approx(0.3)


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        newton_relax(EMT(), Icosahedron("Cu", 2), fmax=0.0)

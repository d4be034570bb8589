"""A learned hyperelastic constitutive law: a strain-energy density W(C) fitted to
stress-strain data, for continuum codes.

W depends on the deformation gradient F only through the right Cauchy-Green tensor
``C = F^T F``, so it is frame-indifferent by construction (a superposed rotation
``F -> Q F`` leaves C unchanged). It is built from invariants of the Green-Lagrange strain
``E = (C - I) / 2`` under the crystal's symmetry group, expressed in the crystal frame
(the cubic axes along x, y, z):

- isotropic: ``tr E``, ``tr E^2``, ``tr E^3``;
- cubic (``symmetry="cubic"``): also ``E_xx^2 + E_yy^2 + E_zz^2`` and
  ``E_xx^3 + E_yy^3 + E_zz^3`` (what separates C11 - C12 from 2 C44).

``W = a . (tr E, (tr E)^2, tr E^2[, sum E_aa^2]) + MLP(invariants) - MLP(0)`` (GPa, i.e.
GJ/m³, per reference volume): a learned linear-elastic part plus a learned nonlinear
correction, fitted together. The second
Piola-Kirchhoff stress is ``S = dW/dE`` and the Cauchy stress ``sigma = F S F^T / det F``,
both by autograd; the small-strain elastic constants are ``d2W/dE dE`` at ``E = 0``.
Stresses follow ASE's sign (positive in tension) and are in GPa.

Data come from any energy source (`stress_strain_data`): random symmetric strains of a
periodic cell, W from the energy change per reference volume, sigma from the stress.

Example::

    >>> from ase.build import bulk
    >>> from ase.calculators.emt import EMT
    >>> data = stress_strain_data(EMT(), bulk("Cu", a=3.59, cubic=True), n_samples=100)  # doctest: +SKIP
    >>> law = fit_hyperelastic(data, symmetry="cubic")                                  # doctest: +SKIP
    >>> law.elastic_constants()[:3, :3]                                                  # doctest: +SKIP
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from ase import Atoms, units

from ..o3.voigt import VOIGT_PAIRS
from ._source import EnergySource, as_calculator, attach, check_atoms

__all__ = [
    "SYMMETRIES",
    "HyperelasticLaw",
    "StressStrainData",
    "fit_hyperelastic",
    "load_hyperelastic",
    "strain_invariants",
    "stress_strain_data",
]

SYMMETRIES = ("isotropic", "cubic")
GPA_PER_EV_A3 = 1.0 / units.GPa


@dataclass
class StressStrainData:
    """Deformation gradients ``F`` [n, 3, 3], strain energy densities ``W`` [n] (GPa:
    energy change per reference volume) and Cauchy stresses ``sigma`` [n, 3, 3] (GPa,
    positive in tension), of a cell whose reference (F = I) energy is ``reference_energy``
    (eV) and volume ``reference_volume`` (Å³)."""

    F: np.ndarray
    W: np.ndarray
    sigma: np.ndarray
    reference_energy: float
    reference_volume: float


def stress_strain_data(
    source: EnergySource, atoms: Atoms, n_samples: int = 100, max_strain: float = 0.02, seed: int = 0
) -> StressStrainData:
    """Sample ``n_samples`` random symmetric strains (components uniform in
    ``[-max_strain, max_strain]``) of the periodic cell ``atoms`` (ions clamped: right for
    a crystal whose atoms are all inversion centres, like fcc; relax them yourself
    otherwise) and record W and sigma with ``source`` (a model or any calculator)."""
    check_atoms(atoms)
    if not atoms.pbc.all():
        raise ValueError("stress-strain data need a periodic cell (atoms.pbc all True)")
    if n_samples < 1 or not max_strain > 0:
        raise ValueError(f"n_samples must be >= 1 and max_strain positive, got {n_samples} and {max_strain}")
    calculator = as_calculator(source)
    reference = attach(atoms, calculator)
    energy0, volume0 = float(reference.get_potential_energy()), float(atoms.get_volume())
    rng = np.random.default_rng(seed)
    gradients, energies, stresses = [], [], []
    for _ in range(n_samples):
        strain = rng.uniform(-max_strain, max_strain, size=(3, 3))
        deformation = np.eye(3) + 0.5 * (strain + strain.T)
        strained = attach(atoms, calculator)
        strained.set_cell(atoms.cell.array @ deformation.T, scale_atoms=True)
        gradients.append(deformation)
        energies.append((strained.get_potential_energy() - energy0) / volume0 * GPA_PER_EV_A3)
        stresses.append(strained.get_stress(voigt=False) * GPA_PER_EV_A3)
    return StressStrainData(np.array(gradients), np.array(energies), np.array(stresses), energy0, volume0)


def strain_invariants(green: torch.Tensor, symmetry: str) -> torch.Tensor:
    """Invariants [..., n_inv] of Green-Lagrange strains ``green`` [..., 3, 3] under the
    symmetry group (in the crystal frame): tr E, tr E², tr E³ and, for cubic, sum E_aa²
    and sum E_aa³."""
    square = green @ green
    features = [torch.diagonal(green, dim1=-2, dim2=-1).sum(-1), torch.diagonal(square, dim1=-2, dim2=-1).sum(-1),
                torch.diagonal(square @ green, dim1=-2, dim2=-1).sum(-1)]
    if symmetry == "cubic":
        diagonal = torch.diagonal(green, dim1=-2, dim2=-1)
        features += [(diagonal**2).sum(-1), (diagonal**3).sum(-1)]
    return torch.stack(features, dim=-1)


class HyperelasticLaw(torch.nn.Module):
    """W(C) as an MLP of strain invariants (see the module docstring); float64.

    ``energy(F)`` [...] GPa, ``pk2(F)`` and ``cauchy(F)`` [..., 3, 3] GPa for deformation
    gradients ``F`` [..., 3, 3] (numpy or torch); ``elastic_constants()`` [6, 6] GPa."""

    def __init__(self, symmetry: str = "cubic", hidden: int = 16, scales: np.ndarray | None = None) -> None:
        super().__init__()
        if symmetry not in SYMMETRIES:
            raise ValueError(f"symmetry must be one of {SYMMETRIES}, got {symmetry!r}")
        self.symmetry, self.hidden = symmetry, hidden
        n_inv = 3 if symmetry == "isotropic" else 5
        self.net = torch.nn.Sequential(torch.nn.Linear(n_inv, hidden), torch.nn.Tanh(), torch.nn.Linear(hidden, hidden),
                                       torch.nn.Tanh(), torch.nn.Linear(hidden, 1)).double()
        self.linear = torch.nn.Linear(3 if symmetry == "isotropic" else 4, 1, bias=False).double()
        torch.nn.init.zeros_(self.linear.weight)
        scale = torch.ones(n_inv, dtype=torch.float64) if scales is None else torch.as_tensor(scales, dtype=torch.float64)
        self.register_buffer("scales", scale)

    def energy_of_strain(self, green: torch.Tensor) -> torch.Tensor:
        features = strain_invariants(green, self.symmetry) / self.scales
        zero = self.net(torch.zeros(features.shape[-1], dtype=features.dtype))  # W(E = 0) = 0
        raw = features
        # the linear-elastic part: tr E, (tr E)^2, tr E^2 (and sum E_aa^2 for cubic)
        quadratic = torch.stack([features[..., 0], features[..., 0] ** 2, features[..., 1],
                                 *([features[..., 3]] if raw.shape[-1] > 3 else [])], dim=-1)
        return self.linear(quadratic).squeeze(-1) + (self.net(features) - zero).squeeze(-1)

    def energy(self, F) -> torch.Tensor:
        F = torch.as_tensor(F, dtype=torch.float64)
        green = 0.5 * (F.transpose(-1, -2) @ F - torch.eye(3, dtype=torch.float64))
        return self.energy_of_strain(green)

    def pk2(self, F, create_graph: bool = False) -> torch.Tensor:
        """Second Piola-Kirchhoff stress ``S = dW/dE`` [..., 3, 3] (GPa)."""
        F = torch.as_tensor(F, dtype=torch.float64)
        green = (0.5 * (F.transpose(-1, -2) @ F - torch.eye(3, dtype=torch.float64))).detach().requires_grad_(True)
        with torch.enable_grad():
            symmetric = 0.5 * (green + green.transpose(-1, -2))
            (stress,) = torch.autograd.grad(self.energy_of_strain(symmetric).sum(), green, create_graph=create_graph)
        return stress

    def cauchy(self, F, create_graph: bool = False) -> torch.Tensor:
        """Cauchy stress ``F S F^T / det F`` [..., 3, 3] (GPa, positive in tension)."""
        F = torch.as_tensor(F, dtype=torch.float64)
        stress = self.pk2(F, create_graph=create_graph)
        return F @ stress @ F.transpose(-1, -2) / torch.linalg.det(F)[..., None, None]

    def elastic_constants(self) -> np.ndarray:
        """``C_IJ = d2W / dE_I dE_J`` at E = 0 in Voigt order [6, 6] (GPa; engineering shear)."""
        green = torch.zeros(3, 3, dtype=torch.float64)
        tensor = torch.autograd.functional.hessian(
            lambda e: self.energy_of_strain(0.5 * (e + e.transpose(-1, -2))), green)
        matrix = np.empty((6, 6))
        for a, (i, j) in enumerate(VOIGT_PAIRS):
            for b, (k, m) in enumerate(VOIGT_PAIRS):
                matrix[a, b] = float(tensor[i, j, k, m] + tensor[j, i, k, m] + tensor[i, j, m, k]
                                     + tensor[j, i, m, k]) / 4.0
        return matrix

    def save(self, path: str | os.PathLike) -> Path:
        """Write the law (symmetry, size, invariant scales, weights) for `load_hyperelastic`."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"symmetry": self.symmetry, "hidden": self.hidden, "state": self.state_dict()}, path)
        return path


def load_hyperelastic(path: str | os.PathLike) -> HyperelasticLaw:
    """A law saved by `HyperelasticLaw.save` (weights only: no code runs on load)."""
    data = torch.load(path, weights_only=True)
    law = HyperelasticLaw(data["symmetry"], data["hidden"], scales=data["state"]["scales"].numpy())
    law.load_state_dict(data["state"])
    return law.eval()


def fit_hyperelastic(
    data: StressStrainData, symmetry: str = "cubic", hidden: int = 16, stress_weight: float = 1.0,
    iterations: int = 300, seed: int = 0,
) -> HyperelasticLaw:
    """Fit W to ``data``: loss = mean (W - W_data)² + ``stress_weight`` x mean |sigma -
    sigma_data|² (GPa²), full-batch L-BFGS for ``iterations`` iterations."""
    torch.manual_seed(seed)
    F = torch.as_tensor(data.F, dtype=torch.float64)
    green = 0.5 * (F.transpose(-1, -2) @ F - torch.eye(3, dtype=torch.float64))
    scales = strain_invariants(green, symmetry).abs().amax(dim=0).clamp_min(1e-12).numpy()
    law = HyperelasticLaw(symmetry, hidden, scales=scales)
    target_w = torch.as_tensor(data.W, dtype=torch.float64)
    target_sigma = torch.as_tensor(data.sigma, dtype=torch.float64)
    optimizer = torch.optim.LBFGS(law.parameters(), max_iter=iterations, line_search_fn="strong_wolfe",
                                  tolerance_grad=1e-12, tolerance_change=1e-15)

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = ((law.energy(F) - target_w) ** 2).mean() + stress_weight * (
            (law.cauchy(F, create_graph=True) - target_sigma) ** 2).sum((-1, -2)).mean()
        loss.backward()
        return loss

    with torch.enable_grad():
        optimizer.step(closure)
    return law.eval()

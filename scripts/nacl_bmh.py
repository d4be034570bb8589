"""NaCl with the Born–Mayer–Huggins short range of Tosi & Fumi plus full Ewald Coulomb of
formal charges ±1 e, as an ASE calculator (the reference of `generate_nacl_bmh.py`).

    E = sum_{i<j} [ A_ij b exp((sigma_ij - r)/rho) - C_ij / r^6 - D_ij / r^8 ] s(r)
        + 1/2 sum_i q_i phi_i                           (q = +1 e for Na, -1 e for Cl)

Parameters of F. G. Fumi and M. P. Tosi, J. Phys. Chem. Solids 25, 31 (1964) and
M. P. Tosi and F. G. Fumi, ibid. 25, 45 (1964) for NaCl, converted with
1e-19 J = 0.6241509 eV (``TOSI_FUMI_NACL``):

    b = 0.338e-19 J = 0.2110 eV, rho = 0.317 Å, Pauling factors A_++ = 1.25, A_+- = 1.00,
    A_-- = 0.75, sigma = r_i + r_j with r_Na = 1.170 Å, r_Cl = 1.585 Å;
    C (1e-79 J m^6): ++ 1.68, +- 11.2, -- 116.0  ->  1.0486, 6.9905, 72.402 eV Å^6;
    D (1e-99 J m^8): ++ 0.8,  +- 13.9, -- 233.0  ->  0.4993, 8.6757, 145.43 eV Å^8.

The short range is switched off smoothly between ``r_on`` = 8 Å and ``r_off`` = 10 Å by
``s(r)`` (1 below r_on, 0 beyond r_off, a quintic with zero slope and curvature at both
ends; the dispersion tail beyond 8 Å is below 3e-4 eV per pair), so energy, forces and
stress are continuous. The Coulomb energy is the Ewald sum of `equipot.longrange.CoulombEnergy`
(torch-pme) at 1e-8 e/Å accuracy for periodic cells, the direct sum for clusters. Forces
and stress are autograd derivatives (strain trick) in float64.

Lives in ``scripts/`` (not in the package): it is the reference of a study, not a tool.
"""

from __future__ import annotations

import numpy as np
import torch
import vesin
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes
from ase.stress import full_3x3_to_voigt_6_stress

from equipot.longrange import CoulombEnergy

__all__ = ["BMHCoulombCalculator", "TOSI_FUMI_NACL", "switch"]

_EV_PER_1E19_J = 0.6241509

#: Tosi–Fumi NaCl, per pair (Na-Na, Na-Cl, Cl-Cl): A_ij b (eV), sigma_ij (Å), C_ij (eV Å^6), D_ij (eV Å^8); rho (Å)
TOSI_FUMI_NACL = {
    "rho": 0.317,
    "pairs": {
        (11, 11): (1.25 * 0.338 * _EV_PER_1E19_J, 2 * 1.170, 1.68 * _EV_PER_1E19_J, 0.8 * _EV_PER_1E19_J),
        (11, 17): (1.00 * 0.338 * _EV_PER_1E19_J, 1.170 + 1.585, 11.2 * _EV_PER_1E19_J, 13.9 * _EV_PER_1E19_J),
        (17, 17): (0.75 * 0.338 * _EV_PER_1E19_J, 2 * 1.585, 116.0 * _EV_PER_1E19_J, 233.0 * _EV_PER_1E19_J),
    },
    "charges": {11: 1.0, 17: -1.0},
}


def switch(r: torch.Tensor, r_on: float = 8.0, r_off: float = 10.0) -> torch.Tensor:
    """The smooth cut ``s(r)`` of the short range (module docstring), for distances ``r`` (Å)."""
    x = ((r - r_on) / (r_off - r_on)).clamp(0.0, 1.0)
    return 1.0 - x**3 * (10.0 - 15.0 * x + 6.0 * x**2)


class BMHCoulombCalculator(Calculator):
    """ASE calculator of NaCl (module docstring): ``energy`` (eV), ``forces`` (eV/Å),
    ``stress`` (eV/Å³, ASE's sign and Voigt order; periodic cells), and ``charges``
    (the formal charges, e). Only Na and Cl atoms."""

    implemented_properties = ["energy", "free_energy", "forces", "stress", "charges"]

    def __init__(self, r_on: float = 8.0, r_off: float = 10.0, accuracy: float = 1e-8, **kwargs: object):
        super().__init__(**kwargs)
        self.r_on, self.r_off = float(r_on), float(r_off)
        self.coulomb = CoulombEnergy(method="ewald", accuracy=accuracy, real_space_cutoff=10.0)
        self.direct = CoulombEnergy(method="direct")

    def energy_tensor(self, atoms: Atoms, strain: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """The energy (eV) of ``atoms`` at ``positions`` [n, 3] Å after the strain
        ``(I + strain)`` [3, 3], differentiable in both."""
        numbers = atoms.get_atomic_numbers()
        unknown = sorted(set(numbers.tolist()) - {11, 17})
        if unknown:
            raise ValueError(f"BMHCoulombCalculator knows Na and Cl only; the structure has atomic numbers {unknown}")
        periodic = bool(atoms.pbc.all())
        if atoms.pbc.any() and not periodic:
            raise ValueError("BMHCoulombCalculator takes fully periodic cells or clusters, not slabs or wires")
        deformation = torch.eye(3, dtype=torch.float64) + strain
        cell = torch.as_tensor(np.asarray(atoms.cell), dtype=torch.float64) @ deformation
        positions = positions @ deformation
        box = np.asarray(atoms.cell) if periodic else np.zeros((3, 3))
        i, j, shifts = vesin.NeighborList(cutoff=self.r_off, full_list=False).compute(
            atoms.positions, box, periodic, quantities="ijS"
        )
        i, j = torch.as_tensor(i.astype(np.int64)), torch.as_tensor(j.astype(np.int64))
        shifts = torch.as_tensor(shifts, dtype=torch.float64)
        r = torch.linalg.norm(positions[j] - positions[i] + shifts @ cell, dim=1)
        rho = TOSI_FUMI_NACL["rho"]
        table = torch.zeros(18, 18, 4, dtype=torch.float64)
        for (a, b), values in TOSI_FUMI_NACL["pairs"].items():
            table[a, b] = table[b, a] = torch.tensor(values, dtype=torch.float64)
        z = torch.as_tensor(numbers, dtype=torch.long)
        p = table[z[i], z[j]]
        pair = p[:, 0] * torch.exp((p[:, 1] - r) / rho) - p[:, 2] / r**6 - p[:, 3] / r**8
        short = (pair * switch(r, self.r_on, self.r_off)).sum()
        charges = torch.as_tensor([TOSI_FUMI_NACL["charges"][int(n)] for n in numbers], dtype=torch.float64)
        batch = torch.zeros(len(atoms), dtype=torch.long)
        pbc = torch.as_tensor(atoms.pbc)[None]
        coulomb = (self.coulomb if periodic else self.direct)(charges, positions, cell[None], pbc, batch)[0].sum()
        return short + coulomb

    def calculate(self, atoms: Atoms | None = None, properties: list[str] | None = None, system_changes: list[str] = all_changes) -> None:
        super().calculate(atoms, properties or ["energy"], system_changes)
        assert self.atoms is not None
        atoms = self.atoms
        strain = torch.zeros(3, 3, dtype=torch.float64, requires_grad=True)
        positions = torch.as_tensor(atoms.positions, dtype=torch.float64).requires_grad_(True)
        energy = self.energy_tensor(atoms, strain, positions)
        d_positions, d_strain = torch.autograd.grad(energy, (positions, strain))
        self.results["energy"] = self.results["free_energy"] = float(energy.detach())
        self.results["forces"] = -d_positions.numpy()
        self.results["charges"] = np.array([TOSI_FUMI_NACL["charges"][int(n)] for n in atoms.numbers])
        if atoms.pbc.all():
            virial = 0.5 * (d_strain + d_strain.T).numpy()
            self.results["stress"] = full_3x3_to_voigt_6_stress(virial / atoms.get_volume())

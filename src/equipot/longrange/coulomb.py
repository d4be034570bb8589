"""`CoulombEnergy`: the electrostatic energy of per-atom charges for a batch of structures.

Periodic cells go through torch-pme (Ewald for small cells, PME for large ones); molecules
and clusters through the direct sum over all pairs. The interaction between two charges is
the bare ``1/r``, a Gaussian-smeared ``erf(r / 2σ) / r`` (two Gaussian charges of width σ)
or a screened Yukawa ``exp(-κ r) / r``; an atom's interaction with itself (and, for the
Gaussian, a charge's self-energy) is not included.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch
import torchpme
from torch import Tensor, nn
from torchpme.tuning.ewald import EwaldErrorBounds
from torchpme.tuning.pme import PMEErrorBounds
from torchpme.tuning.tuner import TunerBase

from ._calculators import _half_pair_potential, _half_pairs, _HalfListEwald, _SmoothMeshPME, smooth_mesh_size

__all__ = [
    "COULOMB_CONSTANT",
    "CoulombEnergy",
    "EwaldParameters",
    "LongRangeError",
    "ewald_parameters",
    "pme_parameters",
]

#: e² / (4π ε0) in eV·Å
COULOMB_CONSTANT = 14.399645

METHODS = ("auto", "ewald", "pme", "direct")
SCREENINGS = ("none", "gaussian", "yukawa")

#: `method="auto"` uses Ewald up to this many atoms in a periodic cell, PME above: measured
#: on rattled NaCl at 1e-4 e/Å (energy + forces, one thread), Ewald is 1.3x cheaper at 64
#: atoms, within 10 % at 216, and 2.7x dearer at 512 (its cost per atom grows with the cell)
AUTO_PME_ATOMS = 256

#: cost of one (atom, interpolation node) pair relative to one PME mesh point (`pme_parameters`);
#: measured: order 5 on 27 points per atom was slower than order 4 on 95 (so more than 1.1)
INTERPOLATION_COST = 2.0

#: measured RMS force error of PME's reciprocal-space part over torch-pme's bound for it
#: (`PMEErrorBounds.err_kspace`), per interpolation order, on the mesh the bound assumes
#: (rattled NaCl, 216 atoms, smearing 2 Å, spacings 1.0-2.0 Å, against Ewald with the same
#: smearing: 2.7-3.1 for even orders, 4.3-6.3 for odd ones; 64 atoms: 0.9-5.2). torch-pme's
#: own meshes, rounded up to powers of two, are finer than the bound assumes, which hid this.
PME_BOUND_FACTOR = {4: 3.2, 5: 6.5, 6: 3.0, 7: 6.0}

#: atoms of the cell `PME_BOUND_FACTOR` was measured on. torch-pme's bound falls as
#: N^(-1/6) at a fixed density (its prefactor is √N / V^(2/3)); the measured error does not
#: (order 4, spacing 1.5 Å: 1.2e-4, 1.1e-4, 1.1e-4 at 216, 1 000, 8 000 atoms, bound 4.0e-5,
#: 3.3e-5, 2.5e-5), so the bound is scaled by (N / 216)^(1/6) too: the same mesh density
#: for every size of a material, as the error itself asks.
PME_BOUND_ATOMS = 216


class LongRangeError(ValueError):
    """A structure or setting the long-range term cannot handle."""


@dataclass(frozen=True)
class EwaldParameters:
    """Range separation of a periodic sum: the Gaussian ``smearing`` (Å) splitting 1/r into
    real and reciprocal space, the real-space ``cutoff`` (Å) and the reciprocal-space
    resolution: ``lr_wavelength`` (Å, Ewald) or ``mesh_spacing`` (Å) and
    ``interpolation_nodes`` (PME)."""

    smearing: float
    cutoff: float
    lr_wavelength: float | None = None
    mesh_spacing: float | None = None
    interpolation_nodes: int = 4


#: tuned parameters kept per (method, cell, atom count, cutoff, accuracy): the error bounds
#: depend on nothing else, and the search cost 4 µs per atom at 1 000 atoms each call
TUNED_CACHE_SIZE = 256


def _cell_key(cell: Tensor) -> tuple[float, ...]:
    return tuple(cell.detach().to("cpu", torch.float64).reshape(-1).tolist())


@functools.lru_cache(maxsize=TUNED_CACHE_SIZE)
def _tuned(method: str, cell_key: tuple[float, ...], n_atoms: int, cutoff: float, accuracy: float) -> EwaldParameters:
    """`ewald_parameters` or `pme_parameters` (``method``) of a cell given as its 9 entries
    (float64), for ``n_atoms`` unit charges: the bounds read nothing else from the structure."""
    cell = torch.tensor(cell_key, dtype=torch.float64).reshape(3, 3)
    charges = torch.ones(n_atoms, 1, dtype=torch.float64)
    positions = torch.zeros(n_atoms, 3, dtype=torch.float64)  # only their number enters the bounds
    search = _search_ewald if method == "ewald" else _search_pme
    return search(charges, cell, positions, cutoff, accuracy)


def ewald_parameters(cell: Tensor, positions: Tensor, cutoff: float, accuracy: float) -> EwaldParameters:
    """Ewald parameters meeting ``accuracy`` by torch-pme's error bounds (`torchpme.tuning`,
    the formulas `tune_ewald` uses), for charges of magnitude 1 e: the smearing from the
    real-space bound at ``cutoff`` (`TunerBase.estimate_smearing`), then the longest
    ``lr_wavelength = min |a_k| / n`` (fewest k-vectors) whose reciprocal-space bound, taken
    at the k-vectors torch-pme actually keeps, meets ``accuracy``. Chosen without timing, so the same structure always gets the same
    parameters (a smooth energy surface for MD). ``accuracy`` in e/Å (multiply by 14.4 for
    eV). Kept per (cell, number of atoms, cutoff, accuracy): a repeated call costs nothing."""
    return _tuned("ewald", _cell_key(cell), int(positions.shape[0]), float(cutoff), float(accuracy))


def _search_ewald(charges: Tensor, cell: Tensor, positions: Tensor, cutoff: float, accuracy: float) -> EwaldParameters:
    with torch.no_grad():
        smearing = TunerBase(charges, cell, positions, cutoff, torchpme.EwaldCalculator).estimate_smearing(float(accuracy))
        bounds = EwaldErrorBounds(charges, cell, positions)
        lengths = torch.linalg.norm(cell, dim=1)
        for n in range(1, 512):
            wavelength = float(lengths.min()) / n
            # torch-pme keeps k = sum_i m_i b_i with |m_i| <= (ns_i - 1) / 2 (fftfreq), ns_i =
            # ceil(|a_i| / wavelength): the sphere it covers has radius min_i 2π m_i / |a_i|,
            # about half of 2π / wavelength, so the bound is taken at that radius
            largest_m = torch.div(torch.ceil(lengths / wavelength) - 1, 2, rounding_mode="floor")
            covered = float((2 * math.pi * largest_m / lengths).min())
            if covered <= 0:
                continue
            error = bounds.err_kspace(torch.tensor(smearing), torch.tensor(2 * math.pi / covered))
            if float(error) <= accuracy / 2:
                return EwaldParameters(smearing, cutoff, lr_wavelength=wavelength)
    raise LongRangeError(f"no Ewald resolution meets accuracy {accuracy:g}; ask for a looser accuracy")


def pme_parameters(cell: Tensor, positions: Tensor, cutoff: float, accuracy: float) -> EwaldParameters:
    """PME parameters meeting ``accuracy`` by torch-pme's `PMEErrorBounds` (the formulas
    `tune_pme` uses), for charges of magnitude 1 e: the smearing as for `ewald_parameters`,
    then, over interpolation orders p = 4 to 7, the coarsest mesh whose reciprocal-space
    bound, times the measured underestimate (`PME_BOUND_FACTOR`, `PME_BOUND_ATOMS`), is at
    most ``accuracy / 2``, and of these the cheapest by ``INTERPOLATION_COST * n_atoms * p³ +
    mesh points`` (each atom spreads to and reads from p³ mesh points; the FFT touches every
    point), with the points counted on the mesh `CoulombEnergy` runs PME on
    (`smooth_mesh_size`, the size the bound assumes, not torch-pme's next power of two).
    Choosing the order by mesh points alone picked p = 5 for 1 000-100 000 NaCl atoms at
    1e-4 e/Å, which was slower than p = 4 on a mesh 3.5x larger (benchmarks/README.md).
    Kept per (cell, number of atoms, cutoff, accuracy), as `ewald_parameters`."""
    return _tuned("pme", _cell_key(cell), int(positions.shape[0]), float(cutoff), float(accuracy))


def _search_pme(charges: Tensor, cell: Tensor, positions: Tensor, cutoff: float, accuracy: float) -> EwaldParameters:
    with torch.no_grad():
        smearing = TunerBase(charges, cell, positions, cutoff, torchpme.PMECalculator).estimate_smearing(float(accuracy))
        bounds = PMEErrorBounds(charges, cell, positions)
        size_scale = (positions.shape[0] / PME_BOUND_ATOMS) ** (1 / 6)
        best: tuple[float, EwaldParameters] | None = None
        for nodes in (4, 5, 6, 7):
            for step in range(128):
                spacing = smearing * 2.0 ** (-step / 8)
                bound = bounds.err_kspace(torch.tensor(smearing), torch.tensor(spacing), torch.tensor(nodes))
                # half the accuracy, as for Ewald: the factor varies with spacing / smearing
                # (order 6 at 1e-5 e/Å, 4 096 atoms: 1.2e-5 measured where 0.87e-5 was allowed)
                if float(PME_BOUND_FACTOR[nodes] * size_scale * bound) <= accuracy / 2:
                    cost = INTERPOLATION_COST * positions.shape[0] * nodes**3 + int(smooth_mesh_size(cell, spacing).prod())
                    if best is None or cost < best[0]:
                        best = (cost, EwaldParameters(smearing, cutoff, mesh_spacing=spacing, interpolation_nodes=nodes))
                    break
    if best is None:
        raise LongRangeError(f"no PME mesh meets accuracy {accuracy:g}; ask for a looser accuracy or use method ewald")
    return best[1]


class CoulombEnergy(nn.Module):
    """Electrostatic potential and energy of per-atom charges, batched over structures.

    - ``method``: ``ewald``, ``pme``, ``direct`` or ``auto`` (direct for non-periodic
      structures, Ewald for periodic cells up to 256 atoms, PME above). Periodic cells must
      be periodic in all three directions, molecules in none (`LongRangeError` otherwise);
      ``direct`` is for non-periodic structures only.
    - ``screening``: ``none`` (bare ``1/r``), ``gaussian`` (charges are Gaussians of width
      ``sigma`` Å: ``erf(r / 2σ) / r``, finite at r = 0) or ``yukawa``
      (``exp(-kappa r) / r``, ``kappa`` in 1/Å; short-ranged, summed in real space up to the
      distance where it falls below ``accuracy``, also in periodic cells).
    - ``accuracy``: the target error of the periodic sums by torch-pme's error bounds for
      charges of magnitude 1 e, in e/Å (times 14.4 for eV; `ewald_parameters`).
    - ``real_space_cutoff``: Å, the real-space part of Ewald and PME.

    Periodic structures are computed one at a time (torch-pme's calculators take one cell;
    its batching pads to a common k-vector set, which the per-structure parameters here do
    not share); non-periodic ones are one dense sum per structure. Differentiable with
    respect to charges, positions and cell (forces and stress by autograd).
    """

    def __init__(
        self,
        method: str = "auto",
        screening: str = "none",
        sigma: float | None = None,
        kappa: float | None = None,
        accuracy: float = 1e-4,
        real_space_cutoff: float = 8.0,
    ):
        super().__init__()
        if method not in METHODS:
            raise LongRangeError(f"method must be one of {list(METHODS)}, got {method!r}")
        if screening not in SCREENINGS:
            raise LongRangeError(f"screening must be one of {list(SCREENINGS)}, got {screening!r}")
        if screening == "gaussian" and not (sigma is not None and sigma > 0):
            raise LongRangeError(f"gaussian screening needs a positive width sigma (Å), got {sigma}")
        if screening == "yukawa" and not (kappa is not None and kappa > 0):
            raise LongRangeError(f"yukawa screening needs a positive inverse length kappa (1/Å), got {kappa}")
        if not 0 < accuracy < 1:
            raise LongRangeError(f"accuracy must be between 0 and 1 (e/Å), got {accuracy}")
        if not real_space_cutoff > 0:
            raise LongRangeError(f"real_space_cutoff must be positive (Å), got {real_space_cutoff}")
        self.method, self.screening = method, screening
        self.sigma, self.kappa = sigma, kappa
        self.accuracy, self.real_space_cutoff = float(accuracy), float(real_space_cutoff)

    def extra_repr(self) -> str:
        return f"method={self.method}, screening={self.screening}, accuracy={self.accuracy:g}"

    # ----------------------------------------------------------------- kernels
    def _pair_kernel(self, distances: Tensor) -> Tensor:
        """The interaction of two unit charges at ``distances`` (Å), in e/Å."""
        if self.screening == "gaussian":
            return torch.erf(distances / (2.0 * self.sigma)) / distances  # type: ignore[operator]
        if self.screening == "yukawa":
            return torch.exp(-self.kappa * distances) / distances  # type: ignore[operator]
        return 1.0 / distances

    def _screened_reach(self) -> float:
        """Å beyond which the Gaussian correction (erfc(r/2σ)/r) or the Yukawa kernel is
        below ``accuracy``."""
        if self.screening == "yukawa":
            return max(1.0, -math.log(self.accuracy) / self.kappa)  # type: ignore[operator]
        assert self.sigma is not None
        reach = 1.0
        while math.erfc(reach / (2.0 * self.sigma)) / reach > self.accuracy:
            reach *= 1.1
        return reach

    # ------------------------------------------------------------ structures
    def _direct(self, charges: Tensor, positions: Tensor) -> Tensor:
        n = positions.shape[0]
        difference = positions[:, None, :] - positions[None, :, :]
        eye = torch.eye(n, dtype=positions.dtype, device=positions.device)
        distances = torch.sqrt((difference**2).sum(-1) + eye)  # the diagonal is masked below
        kernel = self._pair_kernel(distances) * (1.0 - eye)
        return kernel @ charges

    def _periodic(self, charges: Tensor, positions: Tensor, cell: Tensor) -> Tensor:
        if self.screening == "yukawa":
            pairs, distances = _half_pairs(positions, cell, self._screened_reach())
            return _half_pair_potential(charges, pairs, self._pair_kernel(distances))
        method = self.method
        if method == "auto":
            method = "ewald" if positions.shape[0] <= AUTO_PME_ATOMS else "pme"
        choose = ewald_parameters if method == "ewald" else pme_parameters
        parameters = choose(cell, positions, self.real_space_cutoff, self.accuracy)
        potential = torchpme.CoulombPotential(smearing=parameters.smearing).to(dtype=positions.dtype, device=positions.device)
        if method == "ewald":
            calculator: torchpme.Calculator = _HalfListEwald(
                potential, lr_wavelength=parameters.lr_wavelength, full_neighbor_list=False  # type: ignore[arg-type]
            )
        else:
            calculator = _SmoothMeshPME(
                potential,
                mesh_spacing=parameters.mesh_spacing,  # type: ignore[arg-type]
                interpolation_nodes=parameters.interpolation_nodes,
                full_neighbor_list=False,
            )
        calculator = calculator.to(dtype=positions.dtype, device=positions.device)
        reach = self.real_space_cutoff if self.screening == "none" else max(self.real_space_cutoff, self._screened_reach())
        pairs, distances = _half_pairs(positions, cell, reach)
        real_space = (pairs, distances)
        if reach > self.real_space_cutoff:  # the pairs beyond it carry only the Gaussian correction
            within = distances < self.real_space_cutoff
            real_space = (pairs[within], distances[within])
        # torch-pme returns half the potential (its energy is sum_i q_i V_i)
        phi = 2.0 * calculator(charges, cell, positions, *real_space)
        if self.screening == "gaussian":
            # Gaussian charges: erf(r/2σ)/r = 1/r - erfc(r/2σ)/r, the second part short-ranged
            correction = torch.erfc(distances / (2.0 * self.sigma)) / distances  # type: ignore[operator]
            phi = phi - _half_pair_potential(charges, pairs, correction)
        return phi

    def _kind(self, pbc: Tensor, index: int) -> str:
        if bool(pbc.all()):
            if self.method == "direct":
                raise LongRangeError(
                    f"structure {index} is periodic but the long-range method is 'direct' (molecules only); "
                    "use ewald, pme or auto"
                )
            return "periodic"
        if bool(pbc.any()):
            raise LongRangeError(
                f"structure {index} has pbc={pbc.tolist()}: long-range electrostatics needs a cell periodic in all "
                "three directions or in none (slabs and wires are not supported); pad the cell and set pbc=True, or "
                "set pbc=False"
            )
        return "direct"

    def potential(self, charges: Tensor, positions: Tensor, cell: Tensor, pbc: Tensor, batch: Tensor) -> Tensor:
        """The electrostatic potential (V, i.e. eV/e) at each atom due to all other charges
        (and their periodic images): ``phi_i = k_e sum_j q_j v(r_ij)``.

        ``charges`` [n_atoms] or [n_atoms, n_channels] (e; channels are independent sets of
        charges), ``positions`` [n_atoms, 3] Å, ``cell`` [n_graphs, 3, 3] Å, ``pbc``
        [n_graphs, 3], ``batch`` [n_atoms]. Returns the shape of ``charges``.
        """
        flat = charges.dim() == 1
        channels = charges[:, None] if flat else charges
        phi = torch.zeros_like(channels)
        counts = torch.bincount(batch, minlength=cell.shape[0]).tolist()
        start = 0
        for index, count in enumerate(counts):
            if count == 0:
                continue
            atoms = slice(start, start + count)
            start += count
            if self._kind(pbc[index], index) == "periodic":
                values = self._periodic(channels[atoms], positions[atoms], cell[index])
            else:
                values = self._direct(channels[atoms], positions[atoms])
            phi = phi.index_copy(0, torch.arange(atoms.start, atoms.stop, device=phi.device), values)
        phi = COULOMB_CONSTANT * phi
        return phi[:, 0] if flat else phi

    def forward(self, charges: Tensor, positions: Tensor, cell: Tensor, pbc: Tensor, batch: Tensor) -> tuple[Tensor, Tensor]:
        """Per-atom electrostatic energies ``q_i phi_i / 2`` [n_atoms] (eV; they sum to each
        structure's energy) and the potential ``phi`` [n_atoms] (V); see `potential`.
        Atoms must be ordered by structure (as in every `AtomicGraph`)."""
        phi = self.potential(charges, positions, cell, pbc, batch)
        return 0.5 * charges * phi, phi

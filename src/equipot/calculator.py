"""`EquipotCalculator`: any equipot `Potential` behind ASE's calculator contract."""

from __future__ import annotations

import os

import numpy as np
import torch
from ase import Atoms
from ase.calculators.calculator import Calculator, PropertyNotImplementedError, all_changes
from ase.stress import full_3x3_to_voigt_6_stress

from .data import NeighborList, graph_from_atoms
from .models import Potential
from .models.devices import checked_device
from .potential_files import load_potential

__all__ = ["EquipotCalculator"]


class EquipotCalculator(Calculator):
    """ASE calculator for a `Potential`: an `EquivariantPotential`, a sum of potentials
    (`SumPotential`), a `CompiledPotential`, or any object with that contract.

    Provides ``energy`` and ``free_energy`` (eV), ``energies`` (eV per atom), ``forces``
    (eV/Å) and, for structures with a 3D cell, ``stress`` (eV/Å³, Voigt order xx yy zz yz
    xz xy, ASE's sign). Works unchanged with ASE's optimizers, MD and filters.

    ``device`` ("cpu", "cuda", ...) and ``dtype`` (``torch.float32`` / ``torch.float64``)
    choose where and in which precision the model runs (another dtype than the
    potential's needs its ``converted(dtype)``). ``compile=True`` wraps an
    `EquivariantPotential` in `equipot.inference.CompiledPotential`: energy, forces and
    stress as one compiled graph, compiled on the first call (about a minute; cached on
    disk), faster from then on (docs/performance.md); worth it for MD and long
    relaxations, not for a few single points.

    A potential with heads (``output_specs()``) also provides them under their names, e.g.
    ``dipole`` (e·Å, ASE's name: ``atoms.get_dipole_moment()`` works) and
    ``polarizability`` (3x3, Å³) with ``calc.get_property("polarizability", atoms)``;
    ``implemented_properties`` lists them. Heads are computed with the energy, in the same
    pass; a dipole head on a periodic structure is computed only when asked for (and then
    raises, unless the head was declared with ``periodic: sum``).
    """

    implemented_properties = ["energy", "free_energy", "energies", "forces", "stress"]

    def __init__(
        self,
        model: Potential,
        device: str | torch.device = "cpu",
        dtype: torch.dtype | None = None,
        compile: bool = False,
        **kwargs: object,
    ):
        super().__init__(**kwargs)
        if not isinstance(model, Potential):
            raise TypeError(
                f"EquipotCalculator needs an equipot Potential (an EquivariantPotential, a SumPotential, ...), "
                f"got {type(model).__name__}; load a model file with EquipotCalculator.from_file"
            )
        self.device = checked_device(device)
        self.dtype = dtype or model.dtype
        if self.dtype != model.dtype:
            converted = getattr(model, "converted", None)
            if converted is None:
                raise TypeError(
                    f"{type(model).__name__} computes in {model.dtype} and has no converted(dtype) for a "
                    f"{self.dtype} copy; build it in {self.dtype} or leave dtype=None"
                )
            model = converted(self.dtype)
        if model.device != self.device:
            model = model.to(device=self.device)  # type: ignore[attr-defined]
        if compile:
            from .inference import CompiledPotential  # the compiler loads only when asked for

            if not isinstance(model, CompiledPotential):
                model = CompiledPotential(model)  # type: ignore[arg-type]
        if isinstance(model, torch.nn.Module):
            model.eval()
        self.model = model
        self.neighbor_list = NeighborList(model.cutoff)
        self.heads = self.model.output_specs()
        self.implemented_properties = [*type(self).implemented_properties, *self.heads]

    @classmethod
    def from_file(
        cls,
        path: str | os.PathLike,
        device: str | torch.device = "cpu",
        dtype: torch.dtype | None = None,
        compile: bool = False,
    ) -> EquipotCalculator:
        """Load a ``.pt`` model file or committee file (``committee.pt``, whose results add
        ``energy_std``, ``forces_std``, ...) safely (no code executed) and wrap it. A ``.pt2``
        export is refused (it runs machine code): wrap ``equipot.inference.load_exported(path)``."""
        return cls(load_potential(path, device=device, dtype=dtype), device=device, dtype=dtype, compile=compile)

    def calculate(
        self,
        atoms: Atoms | None = None,
        properties: list[str] | None = None,
        system_changes: list[str] = all_changes,
    ) -> None:
        properties = properties or ["energy"]
        super().calculate(atoms, properties, system_changes)
        assert self.atoms is not None
        want_stress = "stress" in properties
        if want_stress and not self.atoms.pbc.all():
            raise PropertyNotImplementedError(
                "stress needs a periodic structure with a 3D cell (atoms.pbc all True)"
            )
        graph = graph_from_atoms(self.atoms, self.model.cutoff, dtype=self.dtype, neighbor_list=self.neighbor_list)
        outputs = {"energy", "forces"} | ({"stress"} if want_stress else set()) | self._heads_for(properties)
        result = self.model(graph.to(device=self.device), outputs=outputs, create_graph=False)
        energy = float(result.energy.detach()[0])
        self.results["energy"] = energy
        self.results["free_energy"] = energy
        self.results["energies"] = result.atomic_energies.detach().cpu().numpy().astype(np.float64)
        assert result.forces is not None
        self.results["forces"] = result.forces.detach().cpu().numpy().astype(np.float64)
        if result.stress is not None:
            stress = result.stress.detach()[0].cpu().numpy().astype(np.float64)
            self.results["stress"] = full_3x3_to_voigt_6_stress(stress)
        for name, value in result.extra.items():
            array = value.detach().cpu().numpy().astype(np.float64)
            self.results[name] = array if self.heads[name].per_atom else array[0]

    def _heads_for(self, properties: list[str]) -> set[str]:
        """Further outputs to compute: those asked for, and every other one that is defined
        for this structure and not declared ``on_request`` (`OutputSpec`)."""
        assert self.atoms is not None
        periodic = bool(self.atoms.pbc.any())
        return {
            name
            for name, spec in self.heads.items()
            if name in properties or ((spec.periodic or not periodic) and not spec.on_request)
        }

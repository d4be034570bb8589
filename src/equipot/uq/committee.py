"""`Committee`: several potentials trained alike, whose mean is the prediction and whose
spread says how much to trust it.

A committee is a potential like any other (the calculator, properties, simulations and
evaluation take it); it also returns the standard deviation of its members' predictions,
declared in ``output_specs()`` and returned in ``ModelOutput.extra``:

| name | shape | unit | what |
| --- | --- | --- | --- |
| ``energy_std`` | [n_graphs] | eV | std of the members' energies |
| ``atomic_energies_std`` | [n_atoms] | eV | std of the members' per-atom energies |
| ``forces_std`` | [n_atoms] | eV/Å | ``sqrt(sum_c var_c)`` over the 3 force components of an atom |
| ``stress_std`` | [n_graphs] | eV/Å³ | ``sqrt(sum_ab var_ab)`` over the 9 components of the 3x3 stress |

Each is the population standard deviation over the N members (numpy's ``std``, ``ddof=0``),
a rotation-invariant scalar (irreps ``0e``).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence

import torch
from torch import Tensor, nn

from ..data import AtomicGraph
from ..models.composition import edges_within
from ..models.derivatives import derive_outputs
from ..models.heads import OutputSpec
from ..models.output import OUTPUT_NAMES, ModelOutput
from ..models.protocol import Potential, check_composable

__all__ = ["Committee", "STD_OUTPUTS"]

#: the spread outputs of a committee, by name
STD_OUTPUTS: dict[str, OutputSpec] = {
    "energy_std": OutputSpec("energy_std", per_atom=False, irreps="0e", unit="eV"),
    "atomic_energies_std": OutputSpec("atomic_energies_std", per_atom=True, irreps="0e", unit="eV"),
    "forces_std": OutputSpec("forces_std", per_atom=True, irreps="0e", unit="eV/Å"),
    "stress_std": OutputSpec("stress_std", per_atom=False, irreps="0e", unit="eV/Å³"),
}


class Committee(nn.Module):
    """The mean of N potentials that share species, dtype and device, with its spread.

    ``energy``, ``atomic_energies``, ``forces``, ``stress`` and ``virial`` are the members'
    means, so the forces are exactly ``-d(mean energy)/dr`` and ``create_graph=True``
    reaches through every member (Hessians of the mean). The spread outputs of
    `STD_OUTPUTS` are computed when asked for. Forces and stress of each member come from
    its own backward pass only when ``forces_std`` or ``stress_std`` is asked for;
    otherwise one backward pass over the summed energies gives the mean's derivatives.

    Heads that every member declares alike (e.g. a ``dipole``) are averaged too.
    ``cutoff`` is the largest of the members'; each sees only the edges within its own.

        >>> committee = Committee([model_a, model_b, model_c, model_d])            # doctest: +SKIP
        >>> out = committee(graph, outputs={"energy", "forces", "forces_std"})    # doctest: +SKIP
        >>> out.extra["forces_std"]                   # [n_atoms], eV/Å           # doctest: +SKIP

    ``create_graph`` defaults to ``self.training``, like `EquivariantPotential`.
    """

    def __init__(self, members: Sequence[Potential]):
        super().__init__()
        members = list(members)
        if len(members) < 2:
            raise ValueError(
                f"a Committee needs at least 2 potentials to measure their spread, got {len(members)}; "
                "train more members (equipot train config.yaml --committee 4)"
            )
        check_composable(members, "Committee", "member")
        self.members = tuple(members)
        # module members are registered, so .to(), .eval() and parameters() reach them
        self.modules_of_members = nn.ModuleList([m for m in members if isinstance(m, nn.Module)])
        self._heads = _shared_heads(members)

    def __len__(self) -> int:
        return len(self.members)

    @property
    def cutoff(self) -> float:
        return max(float(member.cutoff) for member in self.members)

    @property
    def species(self) -> list[str]:
        return list(self.members[0].species)

    @property
    def dtype(self) -> torch.dtype:
        return self.members[0].dtype

    @property
    def device(self) -> torch.device:
        return self.members[0].device

    def output_specs(self) -> dict[str, OutputSpec]:
        return {**self._heads, **STD_OUTPUTS}

    def converted(self, dtype: torch.dtype) -> Committee:
        """The committee of the members' ``converted(dtype)`` copies."""
        return Committee([member.converted(dtype) for member in self.members])  # type: ignore[attr-defined]

    def forward(
        self,
        graph: AtomicGraph,
        outputs: Iterable[str] = ("energy", "forces"),
        create_graph: bool | None = None,
    ) -> ModelOutput:
        """The members' mean energy, per-atom energies and the derivatives named in
        ``outputs`` (see `Potential`), plus the spreads and averaged heads named there."""
        outputs = frozenset(outputs)
        further = outputs - OUTPUT_NAMES
        unknown = sorted(further - set(self.output_specs()))
        if unknown:
            raise ValueError(
                f"unknown outputs {unknown}; this committee computes {sorted(OUTPUT_NAMES)} and "
                f"{sorted(self.output_specs())}"
            )
        create_graph = self.training if create_graph is None else create_graph
        if graph.dtype != self.dtype:
            graph = graph.to(dtype=self.dtype)
        heads = further & set(self._heads)
        if outputs & {"forces_std", "stress_std"}:
            result, members = self._each_member_derived(graph, outputs, heads, create_graph)
        else:
            result, members = self._mean_derived(graph, outputs, heads, create_graph)
        result.extra.update(_spreads(members, outputs))
        for name in heads:
            result.extra[name] = torch.stack([out.extra[name] for out in members]).mean(0)
        return result

    def _member_outputs(
        self, graph: AtomicGraph, asked: frozenset[str], heads: frozenset[str], create_graph: bool
    ) -> list[ModelOutput]:
        return [
            member(edges_within(graph, member.cutoff), outputs=asked | heads, create_graph=create_graph)
            for member in self.members
        ]

    def _mean_derived(
        self, graph: AtomicGraph, outputs: frozenset[str], heads: frozenset[str], create_graph: bool
    ) -> tuple[ModelOutput, list[ModelOutput]]:
        """Derivatives of the mean energy by one backward pass."""
        members: list[ModelOutput] = []

        def mean_atomic_energies(graph: AtomicGraph, positions: Tensor, cell: Tensor) -> Tensor:
            deformed = copy.copy(graph)  # shallow: the (possibly strained) positions and cell
            deformed.positions, deformed.cell = positions, cell
            members[:] = self._member_outputs(deformed, frozenset({"energy", "atomic_energies"}), heads, create_graph)
            return torch.stack([out.atomic_energies for out in members]).mean(0)

        result = derive_outputs(mean_atomic_energies, graph, outputs & OUTPUT_NAMES, create_graph)
        return result, members

    def _each_member_derived(
        self, graph: AtomicGraph, outputs: frozenset[str], heads: frozenset[str], create_graph: bool
    ) -> tuple[ModelOutput, list[ModelOutput]]:
        """Each member's own derivatives (for their spread), and their means."""
        asked = outputs & OUTPUT_NAMES | {"energy", "atomic_energies"}
        if "forces_std" in outputs:
            asked |= {"forces"}
        if "stress_std" in outputs:
            asked |= {"stress"}
        members = self._member_outputs(graph, frozenset(asked), heads, create_graph)

        def mean(name: str) -> Tensor:
            return torch.stack([getattr(out, name) for out in members]).mean(0)

        result = ModelOutput(energy=mean("energy"), atomic_energies=mean("atomic_energies"))
        for name in ("forces", "stress", "virial"):
            if name in outputs:
                setattr(result, name, mean(name))
        return result, members


def _spreads(members: list[ModelOutput], outputs: frozenset[str]) -> dict[str, Tensor]:
    """The spread outputs named in ``outputs``, from the members' outputs."""
    spreads: dict[str, Tensor] = {}
    if "energy_std" in outputs:
        spreads["energy_std"] = _std([out.energy for out in members], keep=1)
    if "atomic_energies_std" in outputs:
        spreads["atomic_energies_std"] = _std([out.atomic_energies for out in members], keep=1)
    if "forces_std" in outputs:
        spreads["forces_std"] = _std([out.forces for out in members], keep=1)  # type: ignore[misc]
    if "stress_std" in outputs:
        spreads["stress_std"] = _std([out.stress for out in members], keep=1)  # type: ignore[misc]
    return spreads


def _std(values: list[Tensor], keep: int) -> Tensor:
    """``sqrt`` of the population variance over the members, summed over every axis after
    the first ``keep`` ones: [n_members, n, ...] -> [n]."""
    stacked = torch.stack(values)
    variance = stacked.var(dim=0, correction=0)
    summed = variance.reshape(*variance.shape[:keep], -1).sum(-1)
    return summed.sqrt()


def _shared_heads(members: list[Potential]) -> dict[str, OutputSpec]:
    """Heads every member declares with the same spec (they are averaged); the spread
    names are reserved."""
    specs = [member.output_specs() for member in members]
    shared = {name: spec for name, spec in specs[0].items() if all(other.get(name) == spec for other in specs[1:])}
    clash = sorted(set(shared) & set(STD_OUTPUTS))
    if clash:
        raise ValueError(f"Committee members declare outputs {clash}, which the committee computes itself")
    return shared

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
a rotation-invariant scalar (irreps ``0e``), times the committee's calibration factor for
that output (``Committee.scales``; 1 until `calibrate_committee` sets them from validation
data with the rule ``mean(error^2 / sigma^2) = 1``, `equipot.uq.last_layer.calibration_scale`).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Mapping, Sequence

import torch
from torch import Tensor, nn

from ase import Atoms

from ..data import AtomicGraph, LabelKeys, batch_graphs, graph_from_atoms
from ..models.composition import edges_within
from ..models.derivatives import derive_outputs
from ..models.heads import OutputSpec
from ..models.output import OUTPUT_NAMES, ModelOutput
from ..models.protocol import Potential, check_composable
from .last_layer import calibration_scale

__all__ = ["CALIBRATED_OUTPUTS", "Committee", "STD_OUTPUTS", "calibrate_committee"]

#: the spread outputs of a committee, by name
STD_OUTPUTS: dict[str, OutputSpec] = {
    "energy_std": OutputSpec("energy_std", per_atom=False, irreps="0e", unit="eV"),
    "atomic_energies_std": OutputSpec("atomic_energies_std", per_atom=True, irreps="0e", unit="eV"),
    "forces_std": OutputSpec("forces_std", per_atom=True, irreps="0e", unit="eV/Å"),
    "stress_std": OutputSpec("stress_std", per_atom=False, irreps="0e", unit="eV/Å³"),
}

#: the spreads `calibrate_committee` scales (``atomic_energies_std`` has no per-atom label to calibrate on)
CALIBRATED_OUTPUTS = ("energy_std", "forces_std", "stress_std")


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

    ``scales`` (plain floats by output name, from `calibrate_committee`) multiply the
    spreads: a calibrated ``forces_std`` is ``scales["forces_std"]`` times the members'
    spread. ``calibrated_on`` says on what data (e.g. ``"validation (100 structures)"``).
    """

    def __init__(
        self, members: Sequence[Potential], scales: Mapping[str, float] | None = None, calibrated_on: str | None = None
    ):
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
        scales = dict(scales or {})
        unknown = sorted(set(scales) - set(STD_OUTPUTS))
        if unknown:
            raise ValueError(f"Committee scales name unknown spreads {unknown}; they scale {sorted(STD_OUTPUTS)}")
        for name, value in scales.items():
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"Committee scale of {name} must be a positive number, got {value}")
        self.scales: dict[str, float] = {name: float(value) for name, value in scales.items()}
        self.calibrated_on = calibrated_on

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
        members = [member.converted(dtype) for member in self.members]  # type: ignore[attr-defined]
        return Committee(members, self.scales, self.calibrated_on)

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
        spreads = _spreads(members, outputs)
        result.extra.update({name: spread * self.scales.get(name, 1.0) for name, spread in spreads.items()})
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


def calibrate_committee(
    committee: Committee, dataset: Sequence[AtomicGraph] | Sequence[Atoms], batch_size: int = 16
) -> Committee:
    """The committee with its spreads scaled to the errors it makes on ``dataset``.

    For each of ``energy_std`` (per structure, eV), ``forces_std`` (per atom, error
    ``|F - F_ref|``, eV/Å) and ``stress_std`` (per periodic structure, Frobenius norm of the
    3x3 stress error, eV/Å³) whose reference labels ``dataset`` has, the factor is the rule
    of the single-model estimator (`calibration_scale`): ``mean(error^2 / sigma^2) = 1``
    over the structures (atoms), sigma the members' raw spread. Spreads without labels
    keep factor 1. ``dataset``: labelled graphs (a `GraphDataset` works) or `ase.Atoms`
    with a calculator's results. Returns a new `Committee` over the same members (the
    given one is unchanged); use validation data, not the training set (in-sample errors
    under-estimate).
    """
    graphs = [graph_from_atoms(item, committee.cutoff, keys=LabelKeys()) if isinstance(item, Atoms) else item
              for item in dataset]
    if not graphs:
        raise ValueError("calibrate_committee needs labelled structures (e.g. the validation set), got none")
    raw = Committee(committee.members).eval()
    errors: dict[str, list[Tensor]] = {name: [] for name in CALIBRATED_OUTPUTS}
    variances: dict[str, list[Tensor]] = {name: [] for name in CALIBRATED_OUTPUTS}
    for start in range(0, len(graphs), batch_size):
        graph = batch_graphs(list(graphs[start : start + batch_size])).to(device=raw.device, dtype=raw.dtype)
        reference = {**graph.graph_targets, **graph.atom_targets}
        if "energy" not in reference:
            raise ValueError("calibrate_committee needs reference energies in the data (energy labels)")
        asked = {"energy", "energy_std"} | ({"forces", "forces_std"} if "forces" in reference else set())
        periodic = bool(graph.pbc.all())
        if "stress" in reference and periodic:
            asked |= {"stress", "stress_std"}
        out = raw(graph, outputs=asked, create_graph=False)
        pairs = {"energy_std": (out.energy - reference["energy"]).square()}
        if "forces_std" in asked:
            pairs["forces_std"] = (out.forces - reference["forces"]).square().sum(-1)  # type: ignore[operator]
        if "stress_std" in asked:
            pairs["stress_std"] = (out.stress - reference["stress"]).square().sum((-2, -1))  # type: ignore[operator]
        for name, squared in pairs.items():
            errors[name].append(squared.detach().double())
            variances[name].append(out.extra[name].detach().double().square())
    scales = {
        name: calibration_scale(torch.cat(errors[name]), torch.cat(variances[name]))
        for name in CALIBRATED_OUTPUTS
        if errors[name]
    }
    return Committee(committee.members, scales, f"{len(graphs)} structures").train(committee.training)
